import { z } from 'zod';
import { json, policiesOnly, reports } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

export const BackupNotifyInputs = z.object({
  ...policiesOnly,
  ...reports,
  ...json,
  dryRun: z.boolean().default(false).describe('print the event and the webhook payload without sending it'),
});
export type BackupNotifyInputs = z.output<typeof BackupNotifyInputs>;

export const spec = defineCommand({
  path: ['backup', 'notify'],
  summary: "announce the outcome of this run's backup steps (reports/backup-*.json, reports/pitr-*.json) to the webhook and the job summary",
  description:
    'Reads the backup reports of the run (create, verify, replicate, prune, restore; pitr backup, verify, status) and sends one success or failure event (tier, size, duration, throughput, target, verification, copies, retention, the physical tier, the failed step and why) to the webhook named by notifications.webhook_env, for the outcomes in notifications.on (a passing pitr status alone is never sent: it runs every 15 minutes), Slack-compatible by default. A failure is announced once while it lasts, and its recovery once: the alert state is kept on the primary backup target; inside GitHub Actions it also appends the job summary. No backup report at all, or one that cannot be read, is a failure. The webhook gets one retry after a network error, a timeout, 429 or 5xx; only its host is ever printed. Exit 1 when the event is a failure (also when the webhook could not be reached: that is logged), so the job fails too; exit 3 when a success could not be delivered, 2 when the variable holds no http(s) URL.',
  examples: ['dbops backup notify', 'dbops backup notify --dry-run', 'dbops backup notify --reports-dir downloaded-reports --json'],
  inputs: BackupNotifyInputs,
  reportsDirUse: 'reads',
});
