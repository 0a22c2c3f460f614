import { z } from 'zod';
import { json, policiesOnly } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

export const EvidenceListInputs = z.object({
  ...policiesOnly,
  ...json,
  environment: z.string().min(1).optional().describe('only this environment'),
});
export type EvidenceListInputs = z.output<typeof EvidenceListInputs>;

export const spec = defineCommand({
  path: ['evidence', 'list'],
  summary: 'list the evidence bundles of each environment: sequence, time, kind, outcome, commit, approvers',
  examples: ['dbops evidence list', 'dbops evidence list --environment production --json'],
  inputs: EvidenceListInputs,
});
