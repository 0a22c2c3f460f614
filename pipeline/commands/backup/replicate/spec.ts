import { z } from 'zod';
import { json, policiesOnly, reports } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

export const BackupReplicateInputs = z.object({
  ...policiesOnly,
  ...reports,
  ...json,
  from: z.string().min(1).optional().describe('source target (default: the primary)'),
  to: z.string().min(1).optional().describe('destination target (default: every other target)'),
});
export type BackupReplicateInputs = z.output<typeof BackupReplicateInputs>;

export const spec = defineCommand({
  path: ['backup', 'replicate'],
  summary: "copy to the offsite targets every backup they miss, checking each copy's SHA-256",
  description:
    "For every backup listed on the source (default: the primary) whose manifest the destination lacks: streams the object through SHA-256 into the destination and compares it with the manifest, copies the verification records, records a copy check, and writes the manifest last, so a copy is listed only when complete. A backup whose newest verification failed is not copied (warning); a damaged source object is refused, deleted from the destination and recorded as a failed check on the source (exit 1). A copy that was made before its backup was verified gets the source's records after its hash is checked again. Stale partial uploads on the destination are removed first (retention.partial_after). A destination that cannot be reached stops with exit 3; completed copies stay.",
  examples: [
    'dbops backup replicate',
    'dbops backup replicate --to offsite --json',
    'dbops backup replicate --from offsite --to backup-server   # restore the backup server from the offsite copy',
  ],
  inputs: BackupReplicateInputs,
  report: 'backup-replicate',
});
