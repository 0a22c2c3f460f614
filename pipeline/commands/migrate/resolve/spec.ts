import { z } from 'zod';
import { MigrateInputs } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

export const ResolveInputs = MigrateInputs.extend({
  applied: z.string().min(1).optional().describe('record migration NAME as applied without running it (hotfix done by hand, or baselining)'),
  rolledBack: z.string().min(1).optional().describe('record the failed migration NAME as rolled back'),
});
export type ResolveInputs = z.output<typeof ResolveInputs>;

export const spec = defineCommand({
  path: ['migrate', 'resolve'],
  summary: 'mark a migration as applied or rolled back without running it (Prisma-compatible)',
  examples: ['dbops migrate resolve --rolled-back 20260301090000_add_invoices', 'dbops migrate resolve --applied 20260112093000_init'],
  inputs: ResolveInputs,
});
