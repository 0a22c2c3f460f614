import { z } from 'zod';
import { defineCommand } from '../../../cli/contract.ts';
import { PitrReportInputs } from '../../flags.ts';

export const PitrBackupInputs = PitrReportInputs.extend({
  repo: z.coerce.number().int().positive().optional().describe('only this repository (1 = the first of pitr.repositories); default: each one in turn'),
  type: z.enum(['full', 'diff', 'incr']).default('incr').describe('full, diff (changes since the last full) or incr (since the last backup)'),
});
export type PitrBackupInputs = z.output<typeof PitrBackupInputs>;

export const spec = defineCommand({
  path: ['pitr', 'backup'],
  summary: 'take a physical base backup with pgBackRest (--type full|diff|incr)',
  examples: ['dbops pitr backup --type full', 'dbops pitr backup --type incr --json'],
  inputs: PitrBackupInputs,
  report: 'pitr-backup',
});
