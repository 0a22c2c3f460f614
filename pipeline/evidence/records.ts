import { z } from 'zod';
import { Approval, EnvironmentSettings, FileProvenance, PullRequest, RunIdentity } from '../infra/github/model.ts';

export { Approval, EnvironmentSettings, FileProvenance, PullRequest, RunIdentity };

/**
 * What the production path exchanges: the gate's decision (`reports/gate.json`), a deploy's or rollback's
 * execution (`reports/deploy.json`, `reports/rollback.json`), and the parts of an evidence bundle built from
 * them. Validated on read (a bundle is read back years later), additive changes only within a formatVersion.
 */

/** Why a user's approval does not count, or why the approvals are not enough. */
export const FourEyesRule = z.enum(['pr-author', 'committer', 'triggering-actor', 'rejected', 'other-environment', 'too-few']);

export const FourEyesResult = z.object({
  environment: z.string().describe('GitHub environment whose approvals count'),
  required: z.number().int(),
  ok: z.boolean(),
  /** Users whose approval counts, each once. */
  counted: z.array(z.string()),
  /** Every approval that does not count, or the shortfall (`too-few`, user ''), each naming the rule. */
  refused: z.array(z.object({ user: z.string(), rule: FourEyesRule, message: z.string() })),
  excluded: z.object({
    prAuthors: z.array(z.string()),
    committers: z.array(z.string()),
    triggeringActor: z.string().nullable(),
  }),
});
export type FourEyesResult = z.output<typeof FourEyesResult>;

/** A migration the action changes, with the bytes that identify it. */
export const ChangeMigration = z.object({
  name: z.string(),
  sha256: z.string().describe('SHA-256 of migration.sql (the _prisma_migrations checksum)'),
  rollback: z.object({
    path: z.string(),
    sha256: z.string().nullable(),
    status: z.enum(['paired', 'irreversible', 'missing', 'empty']),
    reason: z.string().optional(),
  }),
});
export type ChangeMigration = z.output<typeof ChangeMigration>;

export const BackupEvidence = z.object({
  id: z.string(),
  tier: z.string(),
  target: z.string(),
  location: z.string(),
  database: z.string(),
  systemIdentifier: z.string(),
  finishedAt: z.string(),
  ageMs: z.number(),
  sha256: z.string(),
  status: z.enum(['verified', 'failed', 'unverified']),
  verification: z.object({ level: z.string(), at: z.string(), ok: z.boolean() }).nullable(),
  /** Taken by this gate (--take-backup). */
  taken: z.boolean(),
  /** The newest restore test (`backup verify --restore`) of any backup of this database on the target: does restoring work at all. */
  lastRestoreTest: z.object({ backupId: z.string(), at: z.string(), ok: z.boolean(), restoreMs: z.number().nullable() }).nullable().default(null),
});
export type BackupEvidence = z.output<typeof BackupEvidence>;

export const GateCheckName = z.enum([
  'backup',
  'approval',
  'staging-first',
  'clean-state',
  'lint',
  'rehearsal',
  'window',
  'interrupted',
  'traffic',
  'replicas',
]);
export type GateCheckName = z.output<typeof GateCheckName>;

export const GateReason = z.object({
  rule: z.string().describe('stable id, e.g. backup/stale, approval/pr-author, staging/checksum, state/failed, window/closed'),
  message: z.string().describe('names the user, migration, backup or window it is about'),
  hint: z.string().optional(),
  migration: z.string().optional(),
  user: z.string().optional(),
});
export type GateReason = z.output<typeof GateReason>;

export const GateCheck = z.object({
  name: GateCheckName,
  /** waived: replaced by --break-glass / --outside-window (recorded); skipped: not asked for by policy. */
  status: z.enum(['pass', 'fail', 'waived', 'skipped', 'warn']),
  summary: z.string(),
  reasons: z.array(GateReason),
});
export type GateCheck = z.output<typeof GateCheck>;

export const BreakGlass = z.object({
  reason: z.string(),
  /** Who used it: the GitHub actor inside Actions, else OS user and git identity. */
  by: z.string(),
  host: z.string(),
  at: z.string(),
});
export type BreakGlass = z.output<typeof BreakGlass>;

/** A deploy that started and never finished (kill -9, lost runner): from its in-flight marker and the database. */
export const InterruptedDeploy = z.object({
  action: z.enum(['deploy', 'rollback']),
  startedAt: z.string(),
  run: RunIdentity.nullable(),
  by: z.string(),
  planned: z.array(z.string()),
  /** Per planned migration, what the database says now. */
  state: z.array(
    z.object({ migration: z.string(), state: z.enum(['applied', 'rolled-back', 'failed', 'not-applied', 'started']), detail: z.string().optional() }),
  ),
});
export type InterruptedDeploy = z.output<typeof InterruptedDeploy>;

export const TestingEvidence = z.object({
  lint: z
    .object({
      verdict: z.string(),
      errors: z.number(),
      warnings: z.number(),
      notices: z.number(),
      findings: z.array(z.object({ rule: z.string(), severity: z.string(), message: z.string(), migration: z.string().optional() })),
    })
    .nullable(),
  rehearsal: z
    .object({
      verdict: z.string(),
      finishedAt: z.string(),
      commit: z.string().nullable(),
      migrations: z.array(z.object({ name: z.string(), status: z.string(), durationMs: z.number(), rollback: z.string() })),
      /** What the change was rehearsed on (absent in bundles written before it was recorded). */
      snapshot: z
        .object({
          source: z.string(),
          label: z.string(),
          /** source masked: the attestation of the masked template. */
          masked: z.object({ database: z.string(), backupId: z.string(), policySha256: z.string(), maskedAt: z.string() }).optional(),
        })
        .optional(),
    })
    .nullable(),
  staging: z
    .object({
      environment: z.string(),
      migrations: z.array(z.object({ name: z.string(), checksum: z.string().nullable(), finishedAt: z.string().nullable() })),
    })
    .nullable(),
});

/** With backup.mode pitr: the physical tier the gate accepted (or refused) instead of a fresh logical dump. */
export const PitrGateEvidence = z.object({
  stanza: z.string(),
  fullBackup: z.object({ label: z.string(), stoppedAt: z.string(), ageMs: z.number(), verifiedAt: z.string().nullable() }).nullable(),
  lastArchivedWal: z.string().nullable(),
  lastArchivedAt: z.string().nullable(),
  exposureMs: z.number(),
  rpoMs: z.number(),
});
export type PitrGateEvidence = z.output<typeof PitrGateEvidence>;

export const GateData = z.object({
  environment: z.string(),
  action: z.enum(['deploy', 'rollback']),
  decision: z.enum(['allowed', 'refused']),
  at: z.string(),
  /** Redacted URL label and identity of the database the gate looked at. */
  database: z.object({ display: z.string(), name: z.string(), systemIdentifier: z.string(), serverVersion: z.string() }),
  /** deploy: the pending migrations, oldest first; rollback: the migrations to roll back, newest first. */
  migrations: z.array(ChangeMigration),
  rollbackTo: z.string().nullable(),
  checks: z.array(GateCheck),
  breakGlass: BreakGlass.nullable(),
  outsideWindow: z.object({ reason: z.string(), window: z.string() }).nullable(),
  backup: BackupEvidence.nullable(),
  /** Only with backup.mode pitr (absent from bundles written before it existed, which keep their hashes). */
  pitr: PitrGateEvidence.optional(),
  run: RunIdentity.nullable(),
  approvals: z.array(Approval),
  fourEyes: FourEyesResult.nullable(),
  environmentSettings: EnvironmentSettings.nullable().default(null),
  pulls: z.array(PullRequest),
  provenance: z.array(FileProvenance),
  testing: TestingEvidence,
  interrupted: InterruptedDeploy.nullable(),
});
export type GateData = z.output<typeof GateData>;

export const MigrationExecution = z.object({
  name: z.string(),
  action: z.enum(['apply', 'rollback']),
  outcome: z.enum(['applied', 'failed', 'rolled-back', 'not-run']),
  mode: z.enum(['atomic', 'split']).nullable(),
  startedAt: z.string().nullable(),
  durationMs: z.number(),
  lockRetries: z.number().int(),
  error: z.string().optional(),
});
export type MigrationExecution = z.output<typeof MigrationExecution>;

export const SmokeResult = z.object({ name: z.string(), ok: z.boolean(), rows: z.number().int(), durationMs: z.number(), error: z.string().optional() });

/** After a deploy: how long a replica took to replay it (pg_last_wal_replay_lsn() reaching the primary's LSN after the last migration). */
export const ReplicaCatchUp = z.object({
  name: z.string(),
  role: z.enum(['reporting', 'standby']),
  /** The primary's pg_current_wal_lsn() after the last migration. */
  lsn: z.string(),
  /** The replica's pg_last_wal_replay_lsn() when it caught up or the wait ended (null: never read). */
  replayLsn: z.string().nullable(),
  /** null: not caught up within replication.catch_up_timeout. */
  caughtUpMs: z.number().nullable(),
  /** WAL bytes still to replay when the wait ended (0 when caught up, null when unknown). */
  lagBytes: z.number().nullable(),
  /** Why it could not be read (unreachable, URL variable unset). */
  problem: z.string().optional(),
});
export type ReplicaCatchUp = z.output<typeof ReplicaCatchUp>;

export const ExecutionData = z.object({
  environment: z.string(),
  action: z.enum(['deploy', 'rollback']),
  outcome: z.enum(['succeeded', 'refused', 'failed-rolled-back', 'failed', 'interrupted']),
  startedAt: z.string(),
  finishedAt: z.string(),
  gate: GateData.nullable().describe('null when the gate could not run (the database was unreachable)'),
  /** In execution order: applies, then any automatic rollbacks. */
  steps: z.array(MigrationExecution),
  smoke: z.array(SmokeResult),
  finalState: z.object({
    applied: z.array(z.string()),
    pending: z.array(z.string()),
    failed: z.array(z.string()),
    fingerprintBefore: z.string().nullable(),
    fingerprintAfter: z.string().nullable(),
    /** After an automatic rollback: the schema equals the pre-deploy fingerprint. */
    equalsBefore: z.boolean().nullable(),
    diff: z.string().optional(),
  }),
  /** When PITR is configured: the restore point created before the first migration (absent otherwise, and from older bundles). */
  restorePoint: z.object({ name: z.string(), lsn: z.string(), at: z.string() }).optional(),
  /** When the environment declares replicas and the deploy succeeded: each replica's replay of it (absent otherwise, and from older bundles). */
  replicas: z.array(ReplicaCatchUp).optional(),
  /** When the database is not back to a known state: the exact command that restores the pre-deploy backup (or restore point). */
  restoreCommand: z.string().nullable(),
  evidence: z
    .object({
      key: z.string(),
      sequence: z.number().int(),
      sha256: z.string(),
      target: z.string(),
      localJson: z.string().nullable(),
      localMarkdown: z.string().nullable(),
    })
    .nullable(),
});
export type ExecutionData = z.output<typeof ExecutionData>;

/** A timed disaster-recovery drill (`dbops dr drill`): what was broken, how it was recovered, RPO and RTO measured. */
export const DrDrill = z.object({
  /** promote-replica (added later): a streaming replica promoted; older bundles name the three restore scenarios. */
  scenario: z.enum(['lost-primary', 'bad-migration', 'dropped-table', 'promote-replica']),
  /** Where the recovered data came from: the drill's own scratch primary, or an environment's repository. */
  source: z.string(),
  startedAt: z.string(),
  /** When the disaster was caused (the RTO clock starts here) and when the recovered cluster took a write. */
  disasterAt: z.string(),
  readyAt: z.string().nullable(),
  /** How the recovery was aimed: pgBackRest restore type and target; promote: a replica promoted, target the WAL it had replayed. */
  recovery: z.object({ type: z.enum(['latest', 'time', 'name', 'promote']), target: z.string().nullable(), backup: z.string().nullable() }),
  phases: z.array(z.object({ name: z.string(), durationMs: z.number(), ok: z.boolean(), message: z.string() })),
  rpo: z.object({
    objectiveMs: z.number(),
    /** The newest heartbeat committed on the source before the disaster, and the newest the recovered cluster holds. */
    sourceHeartbeat: z.string().nullable(),
    restoredHeartbeat: z.string().nullable(),
    achievedMs: z.number().nullable(),
    met: z.boolean(),
  }),
  rto: z.object({ objectiveMs: z.number(), achievedMs: z.number(), met: z.boolean() }),
  /** The ledger rows the recovery must bring back (committed before the recovery target) against what it did. */
  rows: z
    .object({ expected: z.number(), restored: z.number().nullable(), ok: z.boolean() })
    .nullable()
    .describe('null for an environment, whose data the drill does not know'),
  passed: z.boolean(),
});
export type DrDrill = z.output<typeof DrDrill>;

/**
 * What every change of a policy file on an environment records (settings, access): the file, and the gate's
 * decision with everything it was judged on. Commits after `since` are the change (the previous applied
 * change of the same kind); null: the file's whole history.
 */
const PolicyChangeGate = {
  database: z.string(),
  policy: z.object({ path: z.string(), sha256: z.string() }),
  since: z.string().nullable(),
  decision: z.enum(['allowed', 'refused']),
  checks: z.array(GateCheck),
  outsideWindow: z.object({ reason: z.string(), window: z.string() }).nullable(),
  approvals: z.array(Approval),
  fourEyes: FourEyesResult.nullable(),
  pulls: z.array(PullRequest),
  provenance: z.array(FileProvenance),
};

/**
 * A change of a production server's settings (`dbops settings apply --environment`): the policy file as
 * applied, the gate (window, approvals with four-eyes over the commits to that file since its previous
 * applied change), and each setting before and after.
 */
export const SettingsChange = z.object({
  ...PolicyChangeGate,
  outcome: z.enum(['applied', 'refused', 'failed']),
  /** The settings whose value changed or still differs: the server's before and after. */
  changes: z.array(
    z.object({ name: z.string(), wanted: z.string(), source: z.string(), before: z.string().nullable(), after: z.string().nullable(), status: z.string() }),
  ),
  needsRestart: z.array(z.string()),
  actions: z.array(z.string()),
  error: z.string().optional(),
});
export type SettingsChange = z.output<typeof SettingsChange>;

/**
 * A change of a production database's roles and privileges (`dbops access apply --environment`): the policy
 * file as applied, the gate (window, approvals with four-eyes over the commits to that file since its previous
 * applied change), what the audit found before, the statements run in one transaction, and what still
 * differed after.
 */
export const AccessChange = z.object({
  ...PolicyChangeGate,
  outcome: z.enum(['applied', 'refused', 'failed']),
  /** --prune: roles the policy does not name were acted on too. */
  prune: z.boolean(),
  /** The statements run in one transaction, in order (none when refused, failed or already as declared). */
  statements: z.array(z.string()),
  /** The audit's findings before the change. */
  before: z.array(z.object({ kind: z.string(), subject: z.string(), message: z.string() })),
  /** What still differed after it (the audit again): empty when the change converged. */
  remaining: z.array(z.object({ kind: z.string(), subject: z.string(), message: z.string() })),
  error: z.string().optional(),
});
export type AccessChange = z.output<typeof AccessChange>;

/**
 * A query review after a deploy (`dbops queries report --since-deploy SEQ`): the statements compared across the
 * deploy (the snapshot `dbops deploy` took before its first migration against one taken now), the verdict, and
 * the deploy bundle it judges, by sequence and hash. Statement texts are pg_stat_statements' normalized ones
 * (`$1` for every value, literals of utility statements masked).
 */
export const QueryReview = z.object({
  database: z.string(),
  deploy: z.object({ sequence: z.number().int().positive(), sha256: z.string(), outcome: z.string().nullable(), migrations: z.array(z.string()) }),
  before: z.object({ key: z.string(), at: z.string(), sha256: z.string() }),
  after: z.object({ key: z.string(), at: z.string(), sha256: z.string() }),
  verdict: z.enum(['pass', 'warn']),
  breaks: z.array(z.object({ kind: z.string(), message: z.string() })),
  totals: z.object({ statements: z.number(), calls: z.number(), totalMs: z.number() }),
  regressions: z.array(
    z.object({
      queryid: z.string(),
      query: z.string(),
      before: z.object({ calls: z.number(), meanMs: z.number() }),
      after: z.object({ calls: z.number(), meanMs: z.number() }),
      ratio: z.number().nullable(),
      increaseMs: z.number(),
    }),
  ),
  slow: z.array(z.object({ queryid: z.string(), query: z.string(), calls: z.number(), meanMs: z.number(), newlySlow: z.boolean() })),
  newStatements: z.number().int(),
  indexFindings: z.array(z.object({ kind: z.string(), subject: z.string(), message: z.string() })),
});
export type QueryReview = z.output<typeof QueryReview>;

const AuditLine = z.object({
  at: z.string(),
  user: z.string().nullable(),
  database: z.string().nullable(),
  session: z.string().nullable(),
  host: z.string().nullable(),
  kind: z.enum(['audit', 'connection', 'failed-login']),
  audit: z
    .object({
      type: z.string(),
      class: z.string(),
      command: z.string(),
      objectType: z.string().nullable(),
      object: z.string().nullable(),
      statement: z.string().nullable(),
    })
    .optional(),
  sqlstate: z.string().optional(),
  message: z.string().optional(),
});

/**
 * One segment of a database's audit trail (`dbops audit collect`): the pgaudit and security lines of one day
 * (UTC) read from the server log, where they were read from and up to, and a summary an auditor samples. A
 * bundle of the evidence chain, so one changed byte is found by `dbops evidence verify` and it is kept as long
 * as the deploys' evidence.
 */
export const AuditLog = z.object({
  database: z.string(),
  day: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  /** The log folder and the byte ranges read from each file. */
  source: z.object({ logDir: z.string(), files: z.array(z.object({ file: z.string(), from: z.number().int(), to: z.number().int() })) }),
  /** Where the next collection continues: right after this segment's last line. */
  position: z.object({ file: z.string(), offset: z.number().int() }),
  lines: z.array(AuditLine),
  summary: z.object({
    lines: z.number().int(),
    ddl: z.array(z.object({ user: z.string(), count: z.number().int() })),
    roleChanges: z.array(z.object({ at: z.string(), user: z.string(), command: z.string(), object: z.string().nullable() })),
    objectAccess: z.array(z.object({ object: z.string(), command: z.string(), count: z.number().int() })),
    failedLogins: z.array(z.object({ user: z.string(), count: z.number().int(), hosts: z.array(z.string()) })),
    superuserSessions: z.array(z.object({ at: z.string(), user: z.string(), database: z.string().nullable(), host: z.string().nullable() })),
  }),
});
export type AuditLog = z.output<typeof AuditLog>;

/**
 * One drift check of an environment (`dbops drift --environment NAME --record`, daily): whether schema.prisma,
 * the migrations, the live schema and `_prisma_migrations` agreed with each other and with the evidence, and
 * each object changed outside the pipeline with the statements that restore it. Kept in the chain, so the
 * monthly review (`dbops audit review`) can show that every day was checked and what was found.
 */
export const DriftCheck = z.object({
  database: z.string(),
  schema: z.string(),
  verdict: z.enum(['pass', 'fail']),
  /** schema.prisma against the schema the migrations build, at the commit checked (run.sha when known). */
  prismaSchema: z.object({ agrees: z.boolean(), models: z.array(z.string()) }),
  /** Migrations the database records as applied, and those among them the folder does not have. */
  applied: z.number().int(),
  unknown: z.array(z.string()),
  /** Objects that differ from the schema the applied migrations build. */
  objects: z.array(z.object({ key: z.string(), change: z.enum(['missing', 'unexpected', 'changed']), restore: z.array(z.string()) })),
  /** Differences left out by drift.ignore. */
  ignored: z.number().int(),
  /** Changes of _prisma_migrations no bundle explains. */
  outside: z.array(z.object({ migration: z.string(), event: z.string(), at: z.string() })),
  /** Whether the chain verified before this bundle was added. */
  chainOk: z.boolean(),
});
export type DriftCheck = z.output<typeof DriftCheck>;
