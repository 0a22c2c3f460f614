import { z } from 'zod';
import { defineCommand } from '../../../cli/contract.ts';
import { PitrReportInputs } from '../../flags.ts';

export const PitrVerifyInputs = PitrReportInputs.extend({
  repo: z.coerce.number().int().positive().optional().describe('only this repository (1 = the first of pitr.repositories); default: each one'),
});
export type PitrVerifyInputs = z.output<typeof PitrVerifyInputs>;

export const spec = defineCommand({
  path: ['pitr', 'verify'],
  summary: 'run pgbackrest verify and judge its report (it exits 0 on corruption); exit 1 on any problem; recorded for status, list and the gate',
  examples: ['dbops pitr verify'],
  inputs: PitrVerifyInputs,
  report: 'pitr-verify',
});
