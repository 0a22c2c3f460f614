import { z } from 'zod';
import { backupTarget, identity, json, policiesOnly, reports, selector } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

export const BackupVerifyInputs = z.object({
  ...policiesOnly,
  ...reports,
  ...json,
  ...backupTarget,
  ...identity,
  ...selector,
  args: z.array(z.string()).max(1, 'give one backup id').default([]),
  restore: z
    .boolean()
    .default(false)
    .describe('also restore into a throwaway database, compare the table manifest exactly and run pg_amcheck (a restore test)'),
  scratchUrl: z
    .string()
    .min(1)
    .optional()
    .describe('server to restore into for --restore (a database dbops_verify_<id> is created and dropped); default: a throwaway cluster started for the test'),
  jobs: z.coerce.number().int().positive().optional().describe('pg_restore -j (default: verify.restore_jobs in policy)'),
});
export type BackupVerifyInputs = z.output<typeof BackupVerifyInputs>;

export const spec = defineCommand({
  path: ['backup', 'verify'],
  summary: 'verify a backup: SHA-256, decryption and a full archive read; --restore also restores, compares the manifest and runs pg_amcheck',
  description:
    'Streams the stored ciphertext through SHA-256 and age decryption (every 64 KiB chunk is authenticated) into pg_restore -f /dev/null, which reads and decompresses every entry (pg_restore --list alone misses corruption). With --restore the decrypted archive goes to a temporary file (renamed only after decryption succeeded), is restored with pg_restore -j --exit-on-error into a throwaway database (roles created as needed), compared table by table with the manifest, checked with pg_amcheck, and dropped; each phase is timed. The result is stored beside the backup on the verified target, passed or failed. Exit 1 when a check fails, naming it; exit 2 when no given identity decrypts the backup and 3 when the environment fails (scratch server, tools, Ctrl-C): then nothing is recorded.',
  examples: [
    'dbops backup verify --latest',
    'dbops backup verify 20261124T020003Z-daily-3f9a --restore',
    'dbops backup verify --oldest --tier monthly --restore',
    'dbops backup verify --latest --target offsite --restore --scratch-url "$SCRATCH_URL"',
  ],
  inputs: BackupVerifyInputs,
  rest: { name: 'id', description: 'backup id (see dbops backup list)' },
  report: 'backup-verify',
});
