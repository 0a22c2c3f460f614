import { z } from 'zod';
import { databaseFlags } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

export const MonitorCheckInputs = z.object({
  ...databaseFlags('whose thresholds, capacity, replicas, backups, archive, query snapshots and audit trail are checked'),
  dryRun: z.boolean().default(false).describe('plan the alerts and report them, but send nothing and leave the alert state as it was'),
});
export type MonitorCheckInputs = z.output<typeof MonitorCheckInputs>;

export const spec = defineCommand({
  path: ['monitor', 'check'],
  summary:
    'one pass over every check of policies/monitoring.yaml: availability, connections, wraparound, sessions, replication, checksums, sizes, host, queries, backups, PITR, security',
  description:
    'Connects once and reads pg_stat_activity, pg_database, pg_stat_replication, pg_replication_slots, pg_stat_database, pg_stat_archiver and the sizes; where dbops runs beside the server (loopback, and the data directory is a folder here) also the host’s CPU, memory and the data directory’s disk; with --environment also the backups, the newest restore test, the WAL archive and RPO, the slow and regressed statements since the newest query snapshot, and the security events of the audit collection. Each check is ok, warning, critical, not configured (it needs an environment or a declared capacity) or unknown. An unreachable database is the availability check failing, not an error. Then the alerts (policies/monitoring.yaml routes and alerts): an alert opens once on a warning or critical, is updated while it lasts and closes after alerts.resolve_after passing runs in a row; the routes (Slack-compatible webhook, GitHub issue, Alertmanager) hear of it, except while the environment’s maintenance window is open (mute_during_maintenance). The alert state lives beside the evidence of the environment (the local evidence for a bare URL). Exit 0 when nothing is critical, 1 when something is.',
  examples: ['dbops monitor check', 'dbops monitor check --environment production', 'dbops monitor check --database-url "$STAGING_DATABASE_URL" --json'],
  inputs: MonitorCheckInputs,
  report: 'monitor-check',
});
