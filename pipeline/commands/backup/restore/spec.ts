import { z } from 'zod';
import { backupTarget, identity, json, policiesOnly, reports, selector } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

export const BackupRestoreInputs = z.object({
  ...policiesOnly,
  ...reports,
  ...json,
  ...backupTarget,
  ...identity,
  latest: selector.latest,
  tier: selector.tier,
  args: z.array(z.string()).max(1, 'give one backup id').default([]),
  targetUrl: z.string().min(1).describe('database to restore into (created when it does not exist)'),
  force: z
    .boolean()
    .default(false)
    .describe('restore into a database that already has tables (objects of the backup are dropped and recreated: pg_restore --clean --if-exists)'),
  jobs: z.coerce.number().int().positive().optional().describe('pg_restore -j (default: verify.restore_jobs in policy)'),
});
export type BackupRestoreInputs = z.output<typeof BackupRestoreInputs>;

export const spec = defineCommand({
  path: ['backup', 'restore'],
  summary: 'restore a backup into a database (refuses a database that has tables unless --force)',
  description:
    'Prints what it will do, then downloads and decrypts the backup to a temporary file (renamed only after decryption succeeded), creates the target database when missing and the roles the archive names, runs pg_restore -j --exit-on-error, compares the table manifest and runs ANALYZE. A damaged backup is refused before anything is created (exit 1, recorded as a failed verification); roles are created NOLOGIN. See the restore runbook, docs/runbooks/restore-a-backup.md.',
  examples: [
    'dbops backup restore 20261124T020003Z-daily-3f9a --target-url postgresql://postgres@restore-host:5432/astro_restored',
    'dbops backup restore --latest --tier monthly --target offsite --target-url "$RESTORE_URL" --force',
  ],
  inputs: BackupRestoreInputs,
  rest: { name: 'id', description: 'backup id (see dbops backup list)' },
  report: 'backup-restore',
});
