import { z } from 'zod';
import { Duration } from './duration.ts';
import { Size } from './size.ts';
import { parseSize } from '../core/size.ts';

/**
 * The checks and their thresholds, built twice from one description: with pgmonitor's defaults (the file-wide
 * `checks`), and with none (an environment's overrides, where a key left out keeps the file-wide value).
 */
function checksSchema(defaults: boolean) {
  const field = <T extends z.ZodType>(schema: T, value: unknown) => (defaults ? schema.default(value as never) : schema.optional());
  const object = <T extends z.ZodRawShape>(shape: T) => (defaults ? z.strictObject(shape).prefault({} as never) : z.strictObject(shape).optional());
  const enabled = field(z.boolean(), true);
  const percent = (warning: number, critical: number, what: string) =>
    object({
      enabled,
      warning: field(z.number().min(0).max(100), warning).describe(`Warning at this percentage of ${what}.`),
      critical: field(z.number().min(0).max(100), critical).describe(`Critical at this percentage of ${what}.`),
    });
  const duration = (warning: string, critical: string, what: string) =>
    object({
      enabled,
      warning: field(Duration, warning).describe(`Warning when ${what} lasts this long.`),
      critical: field(Duration, critical).describe(`Critical when ${what} lasts this long.`),
    });
  const size = (warning: string, critical: string, what: string) =>
    object({
      enabled,
      warning: field(Size, warning).describe(`Warning when ${what} reaches this size.`),
      critical: field(Size, critical).describe(`Critical when ${what} reaches this size.`),
    });
  const count = (warning: number, critical: number, what: string) =>
    object({
      enabled,
      warning: field(z.number().int().min(1), warning).describe(`Warning from this many ${what}.`),
      critical: field(z.number().int().min(1), critical).describe(`Critical from this many ${what}.`),
    });
  const toggle = () => object({ enabled });
  const shape = {
    availability: toggle().describe('The database answers (connect and SELECT 1): critical when it does not.'),
    connections: percent(75, 90, 'max_connections minus the reserved connections').describe('Client connections against the connections clients may open.'),
    wraparound: percent(50, 75, 'the 2^31 transaction IDs (or multixacts) a database may age before wraparound').describe(
      'Transaction-ID and multixact age of the oldest database.',
    ),
    idle_in_transaction: duration('5min', '15min', 'a session idle in a transaction').describe(
      'Sessions holding a transaction open without working: they hold locks and keep VACUUM from cleaning.',
    ),
    long_running_queries: duration('5min', '15min', 'a statement').describe('The longest running statement (dbops itself aside).'),
    blocked_sessions: duration('1min', '5min', 'a session waiting for a lock another holds').describe('Sessions blocked by others (pg_blocking_pids).'),
    replication_lag: size('50MB', '100MB', 'the WAL a replica has not replayed').describe(
      'Replay lag of each streaming replica, in WAL bytes (where the environment declares replicas: a declared replica that does not stream is critical).',
    ),
    inactive_slots: size('1GB', '10GB', 'the WAL an inactive replication slot holds').describe(
      'Inactive replication slots keep WAL on the primary until the disk fills.',
    ),
    checksum_failures: toggle().describe('Data-checksum failures (pg_stat_database): critical, naming the relation when the server log says which.'),
    database_size: percent(80, 90, 'the declared capacity').describe('Database size against capacity.database of the environment.'),
    wal_size: percent(80, 90, 'the declared capacity').describe('pg_wal size against capacity.wal of the environment.'),
    disk: percent(80, 90, 'the data directory’s file system').describe(
      'Used space of the file system holding the data directory, where dbops runs beside the server.',
    ),
    cpu: percent(80, 95, 'the CPU time of the host').describe('CPU busy time of the host, where dbops runs beside the server (/proc/stat).'),
    memory: percent(90, 95, 'the memory of the host').describe('Memory in use (MemTotal − MemAvailable), where dbops runs beside the server (/proc/meminfo).'),
    slow_queries: count(1, 10, 'statements slow (mean ≥ slow.mean of policies/queries.yaml) or regressed since the newest query snapshot').describe(
      'Slow and regressed statements since the newest query snapshot (dbops queries snapshot).',
    ),
    backup_age: duration('26h', '50h', 'the time since the newest verified backup').describe(
      'Backup freshness: the newest verified backup of the primary target.',
    ),
    restore_test: duration('8d', '15d', 'the time since the newest passing restore test').describe(
      'The newest restore test (backup verify --restore): critical when it failed, warning or critical when it is old.',
    ),
    pitr: toggle().describe(
      'WAL archiving: critical when archiving fails (pg_stat_archiver) or the RPO exposure exceeds pitr.objectives.rpo of policies/backups.yaml; warning from 80 % of it.',
    ),
    security_events: count(1, 5, 'security events in the audit collection of the last day').describe(
      'Failed-login bursts and role changes by roles outside the pipeline (dbops audit collect).',
    ),
  };
  return z.strictObject(shape);
}

interface Threshold<T> {
  enabled: boolean;
  warning: T;
  critical: T;
}
/** The output of the file-wide `checks` (every key filled, defaults included). */
export interface MonitoringChecks {
  availability: { enabled: boolean };
  connections: Threshold<number>;
  wraparound: Threshold<number>;
  idle_in_transaction: Threshold<string>;
  long_running_queries: Threshold<string>;
  blocked_sessions: Threshold<string>;
  replication_lag: Threshold<string>;
  inactive_slots: Threshold<string>;
  checksum_failures: { enabled: boolean };
  database_size: Threshold<number>;
  wal_size: Threshold<number>;
  disk: Threshold<number>;
  cpu: Threshold<number>;
  memory: Threshold<number>;
  slow_queries: Threshold<number>;
  backup_age: Threshold<string>;
  restore_test: Threshold<string>;
  pitr: { enabled: boolean };
  security_events: Threshold<number>;
}
export type MonitoringCheckOverrides = { [K in keyof MonitoringChecks]?: Partial<MonitoringChecks[K]> | undefined };

// The schemas are built by one function for both uses; their TypeScript types are the interfaces above.
export const MonitoringChecks = checksSchema(true).prefault({}) as unknown as z.ZodType<MonitoringChecks, unknown>;
/** An environment's overrides: only the keys it names. */
export const MonitoringCheckOverrides = checksSchema(false) as unknown as z.ZodType<MonitoringCheckOverrides, unknown>;
export type CheckName = keyof MonitoringChecks;

/**
 * The thresholds that apply to an environment: its overrides over the file-wide values, key by key. The lag
 * the environment's topology tolerates (`replication.max_lag` of policies/environments.yaml, which the gate
 * enforces) is replication_lag's critical threshold there, with the warning at half of it at most, unless
 * monitoring.yaml sets them for that environment: one number, read by the gate and the monitor alike.
 */
export function checksFor(policy: MonitoringPolicy, environment: string | null, topology?: { maxLag: string }): MonitoringChecks {
  const overrides = environment === null ? undefined : policy.environments[environment]?.checks;
  const merged = { ...policy.checks } as unknown as Record<string, Record<string, unknown>>;
  if (topology) {
    const lag = parseSize(topology.maxLag) ?? 0;
    const warning = Math.min(parseSize(policy.checks.replication_lag.warning) ?? lag, Math.floor(lag / 2));
    merged['replication_lag'] = { ...merged['replication_lag'], warning: `${warning}B`, critical: `${lag}B` };
  }
  for (const [name, values] of Object.entries(overrides ?? {})) {
    if (!values) continue;
    merged[name] = { ...merged[name], ...Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) };
  }
  return merged as unknown as MonitoringChecks;
}

const EnvName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name such as DBOPS_MONITOR_WEBHOOK');
const Severity = z.enum(['warning', 'critical']);

export const Route = z.discriminatedUnion('type', [
  z
    .strictObject({
      type: z.literal('webhook'),
      url_env: EnvName.default('DBOPS_MONITOR_WEBHOOK').describe('Variable holding the webhook URL (a secret; Slack-compatible JSON).'),
      min_severity: Severity.default('warning'),
    })
    .describe('A Slack-compatible webhook: one message when an alert opens, escalates and closes.'),
  z
    .strictObject({
      type: z.literal('github-issue'),
      labels: z.array(z.string().min(1)).default(['dbops-alert']).describe('Labels of the issue (which must exist or may be created by the token).'),
      min_severity: Severity.default('critical'),
    })
    .describe('A GitHub issue per alert (GITHUB_TOKEN, GITHUB_REPOSITORY): opened once, commented on escalation, closed on recovery.'),
  z
    .strictObject({
      type: z.literal('alertmanager'),
      url_env: EnvName.default('DBOPS_ALERTMANAGER_URL').describe('Variable holding the Alertmanager base URL (POST /api/v2/alerts).'),
      min_severity: Severity.default('critical'),
    })
    .describe('Alertmanager-compatible paging: the alert is posted while it lasts, with endsAt on recovery.'),
]);
export type Route = z.output<typeof Route>;

export const MonitoringEnvironment = z.strictObject({
  checks: MonitoringCheckOverrides.optional().describe('Thresholds of this environment: a key left out keeps the file-wide value.'),
  capacity: z
    .strictObject({
      database: Size.optional().describe('Size the database may reach (disk provisioned for it).'),
      wal: Size.optional().describe('Size pg_wal may reach.'),
    })
    .prefault({})
    .describe('What database_size and wal_size compare with; without it they are not configured.'),
  routes: z.array(Route).optional().describe('Where this environment’s alerts go (default: the file-wide routes).'),
});

export const MonitoringPolicy = z
  .strictObject({
    version: z.literal(1).describe('Policy file format version.'),
    checks: MonitoringChecks.describe('Thresholds of every environment (and of a bare --database-url).'),
    environments: z
      .record(z.string().regex(/^[a-z][a-z0-9_-]*$/, 'expected an environment name of policies/environments.yaml'), MonitoringEnvironment)
      .default({})
      .describe('Per environment of policies/environments.yaml: thresholds, capacity and routes.'),
    routes: z.array(Route).default([]).describe('Where alerts go.'),
    alerts: z
      .strictObject({
        resolve_after: z
          .number()
          .int()
          .min(1)
          .max(20)
          .default(2)
          .describe('An open alert closes after this many passing runs in a row: a check that flaps stays one open alert instead of paging every run.'),
        mute_during_maintenance: z
          .boolean()
          .default(true)
          .describe('Alerts do not page while a maintenance window of policies/maintenance.yaml is open (they are still recorded).'),
      })
      .prefault({})
      .describe('How alerts open and close.'),
  })
  .describe('policies/monitoring.yaml: the checks of `dbops monitor check`, their thresholds, and where alerts go.');
export type MonitoringPolicy = z.output<typeof MonitoringPolicy>;
