import { z } from 'zod';
import { json, policiesOnly, reports } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

export const EvidenceVerifyInputs = z.object({
  ...policiesOnly,
  ...reports,
  ...json,
  environment: z.string().min(1).optional().describe("verify only this environment's chain (default: every environment found)"),
  dir: z.string().min(1).optional().describe('verify bundles in this local folder (e.g. a downloaded workflow artifact) instead of the evidence storage'),
});
export type EvidenceVerifyInputs = z.output<typeof EvidenceVerifyInputs>;

export const spec = defineCommand({
  path: ['evidence', 'verify'],
  summary: 'recompute the hash chain of the evidence bundles and name the first broken link',
  description:
    "Reads every bundle of each environment (from the evidence storage, or --dir for a downloaded artifact), checks that each is byte-for-byte in canonical form, that its SHA-256 matches its content, that it links to the previous bundle's hash with no gap in the sequence (bundles removed by retention are covered by a checkpoint), and that its Markdown twin matches. Prints the head hash of each chain. Exit 1 when any check fails.",
  examples: ['dbops evidence verify', 'dbops evidence verify --environment production --json', 'dbops evidence verify --dir evidence-artifact/'],
  inputs: EvidenceVerifyInputs,
  report: 'evidence-verify',
});
