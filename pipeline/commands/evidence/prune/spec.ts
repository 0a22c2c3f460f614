import { z } from 'zod';
import { json, policiesOnly, reports } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

export const EvidencePruneInputs = z.object({
  ...policiesOnly,
  ...reports,
  ...json,
  dryRun: z.boolean().default(false).describe('print what would be removed and remove nothing'),
});
export type EvidencePruneInputs = z.output<typeof EvidencePruneInputs>;

export const spec = defineCommand({
  path: ['evidence', 'prune'],
  summary: 'remove evidence bundles older than evidence.retention, leaving a checkpoint that keeps the chain verifiable',
  examples: ['dbops evidence prune --dry-run', 'dbops evidence prune'],
  inputs: EvidencePruneInputs,
  report: 'evidence-prune',
});
