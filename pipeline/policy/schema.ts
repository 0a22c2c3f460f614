import { z } from 'zod';
import { Duration } from './duration.ts';
import { BackupsPolicy } from './backups.ts';
import { EnvironmentsPolicy } from './environments.ts';
import { LintPolicy } from './lint.ts';
import { MaintenancePolicy } from './maintenance.ts';
import { PostgresqlPolicy } from './postgresql.ts';
import { QueriesPolicy } from './queries.ts';
import { AccessPolicy } from './access.ts';
import { AuditPolicy } from './audit.ts';
import { MaskingPolicy } from './masking.ts';
import { MonitoringPolicy } from './monitoring.ts';
import { RehearsePolicy } from './rehearse.ts';

const Timeouts = {
  lock_timeout: Duration.describe(
    'How long one statement of a migration may wait for a table lock before giving up (SET LOCAL lock_timeout). Short waits keep a blocked migration from stalling all traffic queued behind it.',
  ),
  statement_timeout: Duration.describe('Upper bound on one statement of a migration (SET LOCAL statement_timeout); 0 = none.'),
  lock_retries: z.number().int().min(0).max(50).describe('How many times a migration that hit lock_timeout (SQLSTATE 55P03) is retried before dbops gives up.'),
};

export const ExecutorPolicy = z
  .strictObject({
    lock_timeout: Timeouts.lock_timeout.default('5s'),
    statement_timeout: Timeouts.statement_timeout.default('15min'),
    lock_retries: Timeouts.lock_retries.default(3),
    retry_backoff: Duration.default('2s').describe('Wait before the first retry after a lock timeout; doubled on every further retry, with jitter.'),
    retry_backoff_max: Duration.default('30s').describe('Upper bound of the wait between two retries.'),
    advisory_lock_timeout: Duration.default('10s').describe(
      "How long deploy and resolve wait for Prisma's migration advisory lock (72707369) held by another deploy before failing with P1002.",
    ),
    overrides: z
      .record(z.string().min(1), z.strictObject(Timeouts).partial())
      .default({})
      .describe('Per-migration overrides, keyed by migration folder name, e.g. a long backfill that needs a larger statement_timeout.'),
  })
  .describe('How `dbops migrate deploy` runs each migration.');

/** Matched against `<kind> <schema>.<name>` with `*` for any characters, e.g. `extension *`, `* dbops.*`, `index public.*_tmp`. */
const IgnorePattern = z.string().trim().min(1);

export const DriftPolicy = z
  .strictObject({
    ignore: z
      .array(IgnorePattern)
      .default(['extension *', '* dbops.*'])
      .describe(
        'Objects of the live database `dbops drift` does not report, as "<kind> <schema>.<name>" patterns where * matches anything: objects the application does not own. Default: extensions (installed by the DBA or by dbops maintain/queries, not by migrations) and anything in the dbops schema. Kinds: table, column, columns of (column order), index, constraint, trigger, function, view, enum, type, sequence, extension, comment, policy, rule, statistics, schema; `*` for any.',
      ),
    notifications: z
      .strictObject({
        webhook_env: z
          .string()
          .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name such as DBOPS_DRIFT_WEBHOOK')
          .default('DBOPS_DRIFT_WEBHOOK')
          .describe(
            'Environment variable holding the webhook URL (a secret) that `drift --notify` posts to when it finds drift (Slack-compatible JSON). Unset: nothing is sent.',
          ),
      })
      .prefault({})
      .describe('Where `drift --notify` announces drift.'),
  })
  .describe('How `dbops drift` compares a live database with the schema its migrations build.');

export const MigrationsPolicy = z
  .strictObject({
    version: z.literal(1).describe('Policy file format version.'),
    executor: ExecutorPolicy.prefault({}),
    lint: LintPolicy.prefault({}),
    rehearse: RehearsePolicy.prefault({}),
    drift: DriftPolicy.prefault({}),
  })
  .describe('policies/migrations.yaml: how migrations are executed, linted, rehearsed and checked for drift.');

export type MigrationsPolicy = z.output<typeof MigrationsPolicy>;
export type ExecutorPolicy = z.output<typeof ExecutorPolicy>;
export type DriftPolicy = z.output<typeof DriftPolicy>;

/** Every policy file dbops knows: key → file name and schema. Later concerns (environments, backups) add entries here. */
export const POLICY_FILES = {
  migrations: { file: 'migrations.yaml', schema: MigrationsPolicy },
  backups: { file: 'backups.yaml', schema: BackupsPolicy },
  environments: { file: 'environments.yaml', schema: EnvironmentsPolicy },
  maintenance: { file: 'maintenance.yaml', schema: MaintenancePolicy },
  postgresql: { file: 'postgresql.yaml', schema: PostgresqlPolicy },
  queries: { file: 'queries.yaml', schema: QueriesPolicy },
  access: { file: 'access.yaml', schema: AccessPolicy },
  audit: { file: 'audit.yaml', schema: AuditPolicy },
  masking: { file: 'masking.yaml', schema: MaskingPolicy },
  monitoring: { file: 'monitoring.yaml', schema: MonitoringPolicy },
} as const;

export type PolicyName = keyof typeof POLICY_FILES;
export type Policies = { [K in PolicyName]: z.output<(typeof POLICY_FILES)[K]['schema']> };
