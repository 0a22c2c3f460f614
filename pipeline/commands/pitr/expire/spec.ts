import { z } from 'zod';
import { defineCommand } from '../../../cli/contract.ts';
import { PitrReportInputs } from '../../flags.ts';

export const PitrExpireInputs = PitrReportInputs.extend({
  repo: z.coerce.number().int().positive().optional().describe('only this repository (1 = the first of pitr.repositories); default: each one'),
  dryRun: z.boolean().default(false).describe('print the keep/expire table with reasons and the WAL window; expire nothing'),
});
export type PitrExpireInputs = z.output<typeof PitrExpireInputs>;

export const spec = defineCommand({
  path: ['pitr', 'expire'],
  summary: 'expire physical backups that pitr.retention (daily/weekly/monthly full backups, keep_last floor, WAL window) no longer keeps',
  description:
    "Full backups of each repository are kept by the logical tier's GFS rules in retention.zone: the newest of each of the last N days, ISO weeks and months (pitr.retention), the newest keep_last verified ones whatever happens, unverified ones for retention.unverified_grace. The newest verified full backup that ended before pitr.retention.wal_window began is kept too, and WAL is kept from it: any moment of the window can be restored; older kept backups keep only the WAL that makes them consistent. A full backup goes with its diff and incr backups (pgbackrest expire --set). Nothing is expired while the newest verification of a backup failed.",
  examples: ['dbops pitr expire --dry-run', 'dbops pitr expire', 'dbops pitr expire --repo 2 --json'],
  inputs: PitrExpireInputs,
  report: 'pitr-expire',
});
