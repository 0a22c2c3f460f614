import { z } from 'zod';
import { backupTarget, connection, json, policiesOnly, reports } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

export const BackupCreateInputs = z.object({
  ...connection,
  ...policiesOnly,
  ...reports,
  ...json,
  ...backupTarget,
  tier: z
    .enum(['daily', 'weekly', 'monthly', 'pre-deploy'])
    .default('daily')
    .describe('daily, weekly, monthly (scheduled) or pre-deploy (taken by the gate before a production deploy)'),
  note: z.string().min(1).optional().describe('free text stored in the manifest, e.g. the deploy the backup precedes'),
});
export type BackupCreateInputs = z.output<typeof BackupCreateInputs>;

export const spec = defineCommand({
  path: ['backup', 'create'],
  summary: 'take a consistent, encrypted pg_dump with a table manifest, streamed to the primary storage target',
  description:
    'Opens a REPEATABLE READ READ ONLY transaction, exports its snapshot, computes the table manifest (row count and content hash per table) inside it and runs pg_dump -Fc on the same snapshot. The dump is streamed through SHA-256 and age encryption (recipients from policies/backups.yaml) to the primary target; nothing unencrypted touches disk. The manifest is written last: until then the backup does not exist for list, verify, prune or the gate.',
  examples: [
    'dbops backup create --tier daily',
    'dbops backup create --tier pre-deploy --note "deploy 20261124 #812" --database-url "$PRODUCTION_DATABASE_URL"',
    'dbops backup create --target offsite --json',
  ],
  inputs: BackupCreateInputs,
  report: 'backup-create',
});
