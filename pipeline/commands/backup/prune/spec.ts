import { z } from 'zod';
import { json, policiesOnly, reports } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

export const BackupPruneInputs = z.object({
  ...policiesOnly,
  ...reports,
  ...json,
  target: z.string().min(1).optional().describe('prune only this target (default: every target, each by its own catalog)'),
  dryRun: z.boolean().default(false).describe('print the keep/delete table with reasons and delete nothing'),
});
export type BackupPruneInputs = z.output<typeof BackupPruneInputs>;

export const spec = defineCommand({
  path: ['backup', 'prune'],
  summary: 'delete backups that GFS retention (daily/weekly/monthly, keep_last floor) no longer keeps',
  description:
    'For each target (each by its own verification records), per database: the newest backup of each of the last N days, ISO weeks and months that have one (restic semantics, tiers OR-ed, bucketed in retention.zone) among verified daily/weekly/monthly backups; a tier with fewer than N also keeps the oldest. The newest verified backup and the newest keep_last verified backups are kept whatever happens. Failed backups are deleted; unverified ones after retention.unverified_grace; pre-deploy backups after retention.pre_deploy. Partial uploads and backup folders without a manifest older than retention.partial_after are swept first. --dry-run prints the keep/delete table with reasons and deletes nothing. A deletion that fails does not stop the others (exit 3 at the end).',
  examples: ['dbops backup prune --dry-run', 'dbops backup prune', 'dbops backup prune --target offsite --json'],
  inputs: BackupPruneInputs,
  report: 'backup-prune',
});
