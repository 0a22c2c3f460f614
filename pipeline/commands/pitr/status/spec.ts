import { defineCommand } from '../../../cli/contract.ts';
import { PitrReportInputs } from '../../flags.ts';

export const spec = defineCommand({
  path: ['pitr', 'status'],
  summary: 'archiving health and RPO exposure against the objective; exit 1 when archiving fails or the objective is missed',
  description:
    'Reads pg_stat_archiver, the archive queue (.ready files), the repository (pgbackrest info) and the newest `dbops pitr verify` record. RPO exposure: with WAL waiting to be archived, the age of the oldest waiting segment; with WAL written after the last archived segment, the time since that one was archived; otherwise none. The report (reports/pitr-status.json) is what `dbops backup notify` announces.',
  examples: ['dbops pitr status', 'dbops pitr status --json'],
  inputs: PitrReportInputs,
  report: 'pitr-status',
});
