import { z } from 'zod';
import { Size } from './size.ts';
import { Duration } from './duration.ts';
import { WEEKDAYS } from '../core/time.ts';

/** Environment variable names: the policy names where a secret lives, never the secret itself. */
const EnvName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name such as PRODUCTION_DATABASE_URL');

const ZONE = z.string().refine((zone) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}, 'expected an IANA time zone such as Europe/Berlin');

/** Environment names: lower-case, also folder names of the evidence storage. */
export const ENVIRONMENT_NAME = /^[a-z0-9][a-z0-9-]*$/;

export const Weekday = z.enum(WEEKDAYS);
export type Weekday = z.output<typeof Weekday>;

/** `HH:MM` on a 24-hour clock; `24:00` ends a window at midnight. */
const ClockTime = z.string().regex(/^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$/, 'expected a 24-hour time such as 09:00 (24:00 = midnight at the end of the day)');

export const ChangeWindow = z
  .strictObject({
    days: z.array(Weekday).min(1).describe('Days the window opens on (local to the zone): mon … sun.'),
    from: ClockTime.describe('Local time the window opens, e.g. 09:00.'),
    to: ClockTime.describe('Local time it closes, e.g. 16:00. Earlier than `from` means the window runs past midnight into the next day (22:00 → 02:00).'),
  })
  .refine((w) => w.from !== w.to, 'from and to must differ')
  .describe('One weekly opening: on each of `days`, from `from` to `to`, wall-clock time in the zone (DST included).');
export type ChangeWindow = z.output<typeof ChangeWindow>;

/**
 * Weekly windows in a zone: deploys' change windows (below, with their outside-window waiver) and the
 * maintenance windows of policies/maintenance.yaml share this one schema, as they share core/window.ts.
 */
export const Windows = z.strictObject({
  zone: ZONE.default('UTC').describe('IANA zone of the window times.'),
  open: z.array(ChangeWindow).default([]).describe('Weekly openings; an empty list means always open.'),
});
export type Windows = z.output<typeof Windows>;

export const EnvironmentPolicy = z
  .strictObject({
    database_url_env: EnvName.describe("Environment variable holding this environment's database URL (a secret: in GitHub, an environment secret)."),
    github_environment: z.string().min(1).optional().describe('Name of the GitHub environment whose approvals count (default: the key of this environment).'),
    approvals: z
      .number()
      .int()
      .min(0)
      .max(6)
      .default(0)
      .describe(
        'Environment approvals required inside GitHub Actions, counted by user, from approvers who pass four-eyes. 0 = no approval needed (and none checked).',
      ),
    four_eyes: z
      .boolean()
      .default(true)
      .describe(
        "Approvers must be none of: authors of the pull requests that introduced the migrations, committers of the migration and rollback files, the run's triggering actor.",
      ),
    break_glass: z
      .boolean()
      .default(false)
      .describe(
        'Whether `--break-glass "<reason>"` may replace the approvals (outside GitHub Actions, or in an emergency). Recorded and marked in every report and evidence bundle.',
      ),
    staging_first: z
      .string()
      .min(1)
      .optional()
      .describe('Another environment of this file where every pending migration must already be applied with the same checksum (its _prisma_migrations).'),
    backup: z
      .strictObject({
        mode: z
          .enum(['logical', 'pitr'])
          .default('logical')
          .describe(
            'logical: a verified logical backup younger than max_age (backup create); pitr: a healthy WAL archive (RPO exposure within pitr.objectives.rpo of policies/backups.yaml) and a verified pgBackRest full backup younger than pitr.full_max_age, for databases too large to dump before every deploy.',
          ),
        required: z.boolean().default(true).describe('A verified backup of this very database (system identifier + name) must exist.'),
        max_age: Duration.default('60min').describe('The newest verified backup must have finished no longer ago than this.'),
      })
      .prefault({}),
    require_rehearsal: z
      .union([z.boolean(), z.literal('masked')])
      .default(false)
      .describe(
        'true: <reports-dir>/rehearse.json must exist, have passed, and cover every pending migration (run `dbops rehearse` in the deploy job first). masked: the same, and the rehearsal must have run on the masked snapshot (`dbops rehearse --snapshot masked`, after `dbops snapshot mask`), else rehearsal/not-masked.',
      ),
    windows: Windows.extend({
      outside_window: z
        .strictObject({
          allowed: z.boolean().default(true).describe('Whether `--outside-window "<reason>"` may deploy while every window is closed.'),
          extra_approvals: z.number().int().min(0).max(5).default(1).describe('Approvals needed on top of `approvals` when deploying outside a window.'),
        })
        .prefault({}),
    })
      .prefault({})
      .describe('Change windows: when deploys may run without --outside-window.'),
    traffic: z
      .strictObject({
        max_tps: z
          .number()
          .min(0)
          .optional()
          .describe(
            'The gate measures the transactions per second of the server now (pg_stat_database, two readings 1 s apart) and refuses (traffic/busy) above this.',
          ),
        max_active_sessions: z
          .number()
          .int()
          .min(0)
          .optional()
          .describe('The gate refuses (traffic/busy) when more sessions than this are running a statement now (pg_stat_activity, dbops aside).'),
        quiet_hours: z
          .boolean()
          .default(false)
          .describe(
            'The gate refuses (traffic/not-quiet-hour) outside the quiet hours of the weekly traffic profile `dbops monitor check` records (as `dbops monitor traffic` proposes them, in the zone of windows.zone); without a profile yet it only warns.',
          ),
      })
      .optional()
      .describe(
        'Load limits of the gate (default none: no traffic check). Each limit given must hold; a refusal names the measured load, the limit and the next quiet hour. --break-glass waives them; --outside-window does not.',
      ),
    on_failure: z
      .enum(['rollback', 'stop'])
      .default('rollback')
      .describe(
        'What a failed deploy does: rollback = run the paired rollbacks of the migrations it applied, newest first, and mark them rolled back; stop = leave the database as the failure left it. Either way the restore command of the pre-deploy backup is printed when the schema is not back to its pre-deploy state.',
      ),
    smoke: z
      .array(
        z.strictObject({
          name: z.string().min(1),
          sql: z.string().min(1).describe('Runs in a READ ONLY transaction after the deploy; an error fails the deploy.'),
          expect: z
            .enum(['any', 'rows', 'no-rows'])
            .default('any')
            .describe('any: only must not fail; rows: must return at least one row; no-rows: must return none (e.g. an integrity query).'),
        }),
      )
      .default([])
      .describe('Queries that must succeed after a deploy (the verification step).'),
    smoke_timeout: Duration.default('30s').describe('statement_timeout of each smoke query.'),
    replicas: z
      .array(
        z.strictObject({
          name: z.string().regex(ENVIRONMENT_NAME, 'expected a lower-case replica name such as replica-1'),
          database_url_env: EnvName.describe("Environment variable holding the replica's database URL (a secret, like database_url_env)."),
          role: z
            .enum(['reporting', 'standby'])
            .default('reporting')
            .describe('reporting: serves reads (reporting, analytics); standby: kept for failover (`dbops dr drill --scenario promote-replica`).'),
        }),
      )
      .default([])
      .refine((list) => new Set(list.map((r) => r.name)).size === list.length, 'replica names must be unique')
      .describe(
        "Streaming replicas of this environment's primary. Their statistics are per node: `dbops queries report` sums index scans over the primary and every replica listed here before it calls an index unused.",
      ),
    replication: z
      .strictObject({
        max_lag: Size.default('16MB').describe('The gate refuses a deploy while a replica has more WAL than this left to replay (or does not stream).'),
        catch_up_timeout: Duration.default('5min').describe(
          "After a deploy, how long dbops waits for every replica to replay the deploy's last WAL position (pg_last_wal_replay_lsn) before it says which lag behind.",
        ),
      })
      .prefault({})
      .describe('What the deploy path expects of the replicas.'),
    pooler: z
      .strictObject({
        mode: z
          .enum(['none', 'session', 'transaction', 'statement'])
          .default('none')
          .describe(
            'How database_url_env reaches the server: none (directly), or through PgBouncer in this pool_mode. Migrations, maintenance, backups and PITR need a session of their own (advisory locks, SET, CONCURRENTLY): through a transaction or statement pooler they are refused with the direct URL to use. dbops also detects one it was not told of.',
          ),
        direct_url_env: EnvName.optional().describe("Variable holding the server's own URL, bypassing the pooler (Prisma's directUrl)."),
        admin_url_env: EnvName.optional().describe("Variable holding the URL of PgBouncer's admin console (database pgbouncer), for `dbops pool report`."),
      })
      .prefault({})
      .describe('The connection pooler in front of this environment, if any.'),
  })
  .describe('One deploy target.');
export type EnvironmentPolicy = z.output<typeof EnvironmentPolicy>;

/** `12mo`, `400d`, `7y`: retention of evidence, in calendar units (PCI DSS 10.5.1 counts months). */
export const RETENTION = /^(\d+)(d|mo|y)$/;

export const EnvironmentsPolicy = z
  .strictObject({
    version: z.literal(1).describe('Policy file format version.'),
    environments: z
      .record(z.string().regex(ENVIRONMENT_NAME, 'expected a lower-case environment name'), EnvironmentPolicy)
      .default({})
      .describe('Deploy targets by name, as `--environment NAME` selects them.'),
    evidence: z
      .strictObject({
        target: z.string().optional().describe('Storage target of policies/backups.yaml the bundles go to (default: its primary).'),
        prefix: z
          .string()
          .regex(/^[a-z0-9][a-z0-9-]*$/, 'expected a lower-case folder name')
          .default('evidence')
          .describe('Folder (key prefix) inside the target: <prefix>/<environment>/…'),
        retention: z
          .string()
          .regex(RETENTION, 'expected a retention such as 12mo, 400d or 7y')
          .default('12mo')
          .describe(
            'How long bundles are kept (PCI DSS 10.5.1: at least 12 months; SOX programmes often ask for 7y). Expired bundles are removed by `dbops evidence prune` with a checkpoint that keeps the chain verifiable.',
          ),
      })
      .prefault({}),
  })
  .superRefine((p, ctx) => {
    for (const [name, env] of Object.entries(p.environments)) {
      if (env.staging_first === undefined) continue;
      if (env.staging_first === name)
        ctx.addIssue({ code: 'custom', path: ['environments', name, 'staging_first'], message: 'an environment cannot be its own staging' });
      else if (!(env.staging_first in p.environments)) {
        ctx.addIssue({
          code: 'custom',
          path: ['environments', name, 'staging_first'],
          message: `no environment "${env.staging_first}" in this file (it has ${Object.keys(p.environments).join(', ') || 'none'})`,
        });
      }
    }
  })
  .describe('policies/environments.yaml: deploy targets, their gate (approvals, backup, staging-first, change windows) and the evidence bundles.');
export type EnvironmentsPolicy = z.output<typeof EnvironmentsPolicy>;
