import { z } from 'zod';
import { defineCommand, type CommandSpec } from '../core/step.ts';

// Flag groups shared by commands. Keys are camelCase here and --kebab-case on the command line.
const connection = {
  databaseUrl: z.string().min(1).optional().describe('PostgreSQL URL (default: $DATABASE_URL, else the embedded cluster in .dbops/)'),
  schema: z.string().min(1).optional().describe("schema to migrate (default: the URL's ?schema= parameter, else public)"),
};
const dirs = {
  migrationsDir: z.string().default('prisma/migrations').describe('Prisma migrations folder'),
  policiesDir: z.string().default('policies').describe('policy files folder'),
};
const json = { json: z.boolean().default(false).describe('print the result as JSON on stdout') };
const rollbacks = { rollbacksDir: z.string().default('rollbacks').describe('folder of paired rollback scripts, rollbacks/<migration>.sql') };
const reports = { reportsDir: z.string().default('reports').describe('folder the step writes <step>.json into (and `dbops report` reads)') };
const scope = {
  base: z.string().min(1).optional().describe('git ref the change is compared with (default: lint.base in policies/migrations.yaml, origin/main)'),
  all: z.boolean().default(false).describe('every migration, not only those the change adds or edits'),
  last: z.coerce.number().int().positive().optional().describe('treat the newest N migrations as the change (no git needed)'),
};

export const MigrateInputs = z.object({ ...connection, ...dirs, ...json });
export type MigrateInputs = z.output<typeof MigrateInputs>;
export const ResolveInputs = MigrateInputs.extend({
  applied: z.string().min(1).optional().describe('record migration NAME as applied without running it (hotfix done by hand, or baselining)'),
  rolledBack: z.string().min(1).optional().describe('record the failed migration NAME as rolled back'),
});
export type ResolveInputs = z.output<typeof ResolveInputs>;
export const LocalInputs = z.object({ ...json });
export const LocalDownInputs = LocalInputs.extend({ destroy: z.boolean().default(false).describe('also delete the cluster and its data') });
export const LocalPsqlInputs = z.object({ args: z.array(z.string()).default([]), database: z.string().default('dbops').describe('database to open') });
export const SeedInputs = z.object({
  ...connection,
  ...json,
  scale: z.coerce.number().positive().default(1).describe('volume multiplier: 1 ≈ 1,000,000 journal lines'),
  seed: z.coerce.number().int().nonnegative().default(42).describe('random seed; the same seed and scale give the same data'),
});
export const LintInputs = z.object({
  ...dirs,
  ...rollbacks,
  ...reports,
  ...json,
  ...scope,
  databaseUrl: z.string().min(1).optional().describe('also refuse edits to migrations applied on this database (lint connects only when given)'),
  schema: connection.schema,
  labels: z.string().default('').describe('comma-separated pull request labels; a label named in lint.destructive.allow_labels allows destructive statements'),
  only: z.string().min(1).optional().describe('comma-separated migration names: lint exactly these and their rollbacks (the gate lints the pending set this way)'),
});
export type LintInputs = z.output<typeof LintInputs>;
export const RollbacksInputs = z.object({ ...dirs, ...rollbacks, ...reports, ...json });
export type RollbacksInputs = z.output<typeof RollbacksInputs>;
export const RehearseInputs = z.object({
  ...dirs,
  ...rollbacks,
  ...reports,
  ...json,
  ...scope,
  snapshotUrl: z.string().min(1).optional().describe('template database on a staging server to clone (CREATE DATABASE … TEMPLATE … STRATEGY FILE_COPY); default: $STAGING_SNAPSHOT_URL'),
  snapshotFile: z.string().min(1).optional().describe('pg_dump archive (-Fc) restored once into a template (reused while the file is unchanged) on the embedded cluster or --database-url, then cloned'),
  scale: z.coerce.number().positive().optional().describe('synthetic dataset size when no snapshot is given (default: rehearse.scale in policy)'),
  databaseUrl: z.string().min(1).optional().describe('server that holds the synthetic or --snapshot-file template and the clones (default: the embedded cluster, never $DATABASE_URL); its own database is never changed'),
  all: z.boolean().default(false).describe('rehearse every migration, from an empty database (no snapshot)'),
  keep: z.boolean().default(false).describe('keep the clone after the rehearsal (for debugging; its name is printed)'),
});
export type RehearseInputs = z.output<typeof RehearseInputs>;
export const ReportInputs = z.object({
  ...reports,
  ...json,
  format: z.enum(['terminal', 'markdown', 'sarif']).default('terminal').describe('terminal, markdown (PR comment / job summary) or sarif (2.1.0, for code scanning)'),
  output: z.string().min(1).optional().describe('write the rendering to this file instead of stdout'),
  // Optional rather than default(false): unset means "publish when running inside GitHub Actions".
  github: z.boolean().optional().describe('publish to GitHub: sticky PR comment, annotations, job summary, step outputs, <reports-dir>/dbops.sarif (default inside GitHub Actions unless --output is given)'),
});
export type ReportInputs = z.output<typeof ReportInputs>;
export const DemoInputs = z.object({
  ...dirs,
  ...rollbacks,
  ...reports,
  ...json,
  scale: SeedInputs.shape.scale.default(0.02),
  last: z.coerce.number().int().positive().default(2).describe('how many of the newest migrations play the pull request'),
  labels: z
    .string()
    .default('allow-destructive')
    .describe("labels of the demo pull request (the newest AstroFinance migration drops a column, which its PR was allowed to with allow-destructive)"),
});

const policiesOnly = { policiesDir: dirs.policiesDir };
const backupTarget = { target: z.string().min(1).optional().describe('storage target name from policies/backups.yaml (default: the primary)') };
const identity = { identityFile: z.string().min(1).optional().describe('file holding the age identity (AGE-SECRET-KEY-1…) that decrypts backups (default: the variable named by encryption.identity_env, DBOPS_BACKUP_IDENTITY)') };
const selector = {
  latest: z.boolean().default(false).describe('the newest backup (of --tier, when given)'),
  oldest: z.boolean().default(false).describe('the oldest backup (of --tier, when given)'),
  tier: z.enum(['daily', 'weekly', 'monthly', 'pre-deploy']).optional().describe('only backups of this tier for --latest / --oldest'),
};
export const BackupCreateInputs = z.object({
  ...connection,
  ...policiesOnly,
  ...reports,
  ...json,
  ...backupTarget,
  tier: z.enum(['daily', 'weekly', 'monthly', 'pre-deploy']).default('daily').describe('daily, weekly, monthly (scheduled) or pre-deploy (taken by the gate before a production deploy)'),
  note: z.string().min(1).optional().describe('free text stored in the manifest, e.g. the deploy the backup precedes'),
});
export type BackupCreateInputs = z.output<typeof BackupCreateInputs>;
export const BackupVerifyInputs = z.object({
  ...policiesOnly,
  ...reports,
  ...json,
  ...backupTarget,
  ...identity,
  ...selector,
  args: z.array(z.string()).max(1, 'give one backup id').default([]),
  restore: z.boolean().default(false).describe('also restore into a throwaway database, compare the table manifest exactly and run pg_amcheck (a restore test)'),
  scratchUrl: z.string().min(1).optional().describe('server to restore into for --restore (a database dbops_verify_<id> is created and dropped); default: a throwaway cluster started for the test'),
  jobs: z.coerce.number().int().positive().optional().describe('pg_restore -j (default: verify.restore_jobs in policy)'),
});
export type BackupVerifyInputs = z.output<typeof BackupVerifyInputs>;
export const BackupListInputs = z.object({ ...policiesOnly, ...json, ...backupTarget, tier: selector.tier });
export type BackupListInputs = z.output<typeof BackupListInputs>;
export const BackupPruneInputs = z.object({
  ...policiesOnly,
  ...reports,
  ...json,
  target: z.string().min(1).optional().describe('prune only this target (default: every target, each by its own catalog)'),
  dryRun: z.boolean().default(false).describe('print the keep/delete table with reasons and delete nothing'),
});
export type BackupPruneInputs = z.output<typeof BackupPruneInputs>;
export const BackupReplicateInputs = z.object({
  ...policiesOnly,
  ...reports,
  ...json,
  from: z.string().min(1).optional().describe('source target (default: the primary)'),
  to: z.string().min(1).optional().describe('destination target (default: every other target)'),
});
export type BackupReplicateInputs = z.output<typeof BackupReplicateInputs>;
export const BackupRestoreInputs = z.object({
  ...policiesOnly,
  ...reports,
  ...json,
  ...backupTarget,
  ...identity,
  latest: selector.latest,
  tier: selector.tier,
  args: z.array(z.string()).max(1, 'give one backup id').default([]),
  targetUrl: z.string().min(1).describe('database to restore into (created when it does not exist)'),
  force: z.boolean().default(false).describe('restore into a database that already has tables (objects of the backup are dropped and recreated: pg_restore --clean --if-exists)'),
  jobs: z.coerce.number().int().positive().optional().describe('pg_restore -j (default: verify.restore_jobs in policy)'),
});
export type BackupRestoreInputs = z.output<typeof BackupRestoreInputs>;
export const BackupNotifyInputs = z.object({
  ...policiesOnly,
  ...reports,
  ...json,
  dryRun: z.boolean().default(false).describe('print the event and the webhook payload without sending it'),
});
export type BackupNotifyInputs = z.output<typeof BackupNotifyInputs>;

const gateFlags = {
  ...dirs,
  ...rollbacks,
  ...reports,
  ...json,
  ...identity,
  environment: z.string().min(1).describe('environment of policies/environments.yaml (its database URL comes from the variable the policy names)'),
  schema: connection.schema,
  takeBackup: z.boolean().default(false).describe('take a pre-deploy backup of the environment\'s database and verify it first (backup create --tier pre-deploy, then backup verify)'),
  breakGlass: z.string().min(1).optional().describe('emergency: replace the environment approvals by this reason, when the policy allows break_glass (recorded and marked in every report and evidence bundle)'),
  outsideWindow: z.string().min(1).optional().describe('deploy while every change window is closed, for this reason (needs windows.outside_window.extra_approvals more approvals)'),
};
export const GateInputs = z.object(gateFlags);
export type GateInputs = z.output<typeof GateInputs>;
const deployFlags = {
  ...gateFlags,
  wait: z.boolean().default(false).describe('when another deploy or rollback of this database is running, wait for it (up to --wait-timeout) instead of failing'),
  waitTimeout: z.string().regex(/^\d+(ms|s|min|h)$/, 'expected a duration such as 30min').default('30min').describe('longest wait for a running deploy with --wait'),
};
export const DeployInputs = z.object(deployFlags);
export type DeployInputs = z.output<typeof DeployInputs>;
export const RollbackInputs = z.object({
  ...deployFlags,
  to: z.string().min(1).describe('the migration that stays applied: every applied migration newer than it is rolled back by its paired script, newest first'),
});
export type RollbackInputs = z.output<typeof RollbackInputs>;
export const EvidenceVerifyInputs = z.object({
  ...policiesOnly,
  ...reports,
  ...json,
  environment: z.string().min(1).optional().describe('verify only this environment\'s chain (default: every environment found)'),
  dir: z.string().min(1).optional().describe('verify bundles in this local folder (e.g. a downloaded workflow artifact) instead of the evidence storage'),
});
export type EvidenceVerifyInputs = z.output<typeof EvidenceVerifyInputs>;
export const EvidenceListInputs = z.object({
  ...policiesOnly,
  ...json,
  environment: z.string().min(1).optional().describe('only this environment'),
});
export type EvidenceListInputs = z.output<typeof EvidenceListInputs>;
export const EvidencePruneInputs = z.object({
  ...policiesOnly,
  ...reports,
  ...json,
  dryRun: z.boolean().default(false).describe('print what would be removed and remove nothing'),
});
export type EvidencePruneInputs = z.output<typeof EvidencePruneInputs>;
export const EvidenceReconcileInputs = z.object({
  ...policiesOnly,
  ...reports,
  ...json,
  environment: z.string().min(1).describe('environment of policies/environments.yaml whose database is reconciled with its evidence'),
  schema: connection.schema,
});
export type EvidenceReconcileInputs = z.output<typeof EvidenceReconcileInputs>;

/** What each command group is about; its subcommands come from the specs below. */
export const GROUPS: Record<string, string> = {
  migrate: 'Prisma-compatible migration executor',
  local: 'the embedded PostgreSQL cluster in .dbops/',
  rollbacks: 'paired rollback scripts',
  backup: 'encrypted, verified logical backups',
  evidence: 'hash-chained evidence bundles of deploys and rollbacks',
};

/** Every command: metadata and flags here; the implementation is imported only when the command runs. */
export const commands: CommandSpec[] = [
  defineCommand({
    path: ['migrate', 'status'],
    summary: 'show applied, pending, failed, rolled-back, modified and missing migrations (Prisma-compatible)',
    description:
      'Compares prisma/migrations with _prisma_migrations. Exit 1 when migrations are pending or failed or the histories diverge, as `prisma migrate status` does; modified-after-apply and missing-locally migrations are shown as warnings.',
    examples: ['dbops migrate status', 'dbops migrate status --database-url "$STAGING_DATABASE_URL" --json'],
    inputs: MigrateInputs,
    load: () => import('../commands/migrate/status/run.ts'),
  }),
  defineCommand({
    path: ['migrate', 'deploy'],
    summary: 'apply pending migrations (Prisma-compatible, atomic per file, lock timeouts with retry)',
    description:
      'Applies every pending migration in order under the advisory lock Prisma uses (72707369), recording each in _prisma_migrations exactly as `prisma migrate deploy` does. Each file runs as one transaction; files with statements that cannot run in a transaction (CREATE INDEX CONCURRENTLY, …) are split with the PostgreSQL parser. lock_timeout, statement_timeout and retries come from policies/migrations.yaml.',
    examples: ['dbops migrate deploy', 'DATABASE_URL=postgresql://app@db:5432/astro?schema=public dbops migrate deploy --json'],
    inputs: MigrateInputs,
    load: () => import('../commands/migrate/deploy/run.ts'),
  }),
  defineCommand({
    path: ['migrate', 'resolve'],
    summary: 'mark a migration as applied or rolled back without running it (Prisma-compatible)',
    examples: ['dbops migrate resolve --rolled-back 20260301090000_add_invoices', 'dbops migrate resolve --applied 20260112093000_init'],
    inputs: ResolveInputs,
    load: () => import('../commands/migrate/resolve/run.ts'),
  }),
  defineCommand({
    path: ['lint'],
    summary: 'lint the change: squawk with a Prisma profile, history integrity, rollback pairing, destructive statements',
    description:
      'Lints the migration and rollback files the change adds or edits (against --base, default lint.base = origin/main), every file with --all, or the newest N migrations with --last N. squawk runs once for all files, with the transaction assumption matching how the executor runs each file, and the prisma profile of policies/migrations.yaml. dbops rules: history integrity (no edit, rename or deletion of a migration on the base ref or, with --database-url, applied there; new migrations sort last), rollback pairing, destructive statements (errors unless --labels names an allowed label). Exit 1 when a finding is an error.',
    examples: ['dbops lint', 'dbops lint --base origin/release --labels allow-destructive', 'dbops lint --all --json', 'dbops lint --last 1', 'dbops lint --database-url "$PRODUCTION_DATABASE_URL"'],
    inputs: LintInputs,
    report: 'lint',
    load: () => import('../commands/lint/run.ts'),
  }),
  defineCommand({
    path: ['rollbacks', 'check'],
    summary: 'check that every migration has rollbacks/<name>.sql, and every rollback a migration',
    examples: ['dbops rollbacks check', 'dbops rollbacks check --json'],
    inputs: RollbacksInputs,
    report: 'rollbacks',
    load: () => import('../commands/rollbacks/check/run.ts'),
  }),
  defineCommand({
    path: ['rehearse'],
    summary: 'apply the change to a clone of a staging snapshot, measure locks, duration and blocked traffic, prove the rollbacks',
    description:
      'Clones the snapshot (--snapshot-url or --snapshot-file, else $STAGING_SNAPSHOT_URL, else a cached synthetic AstroFinance dataset), applies the base ref\'s migrations, then for each pending migration: applies it while sampling pg_locks and probing the touched tables, applies its rollback and checks the schema fingerprint equals the one before, applies it again. Named workload queries (policies/workload.sql) are EXPLAIN ANALYZEd before and after. Budgets in policies/migrations.yaml turn measurements into findings; lock and rewrite findings of reports/lint.json are re-judged with them. The clone is dropped at the end, also after a failure or Ctrl-C (unless --keep). Exit 1 when a finding is an error.',
    examples: ['dbops rehearse', 'dbops rehearse --snapshot-url "$STAGING_SNAPSHOT_URL"', 'dbops rehearse --snapshot-file staging.dump --base origin/main', 'dbops rehearse --last 2 --scale 0.05', 'dbops rehearse --all --json'],
    inputs: RehearseInputs,
    report: 'rehearse',
    load: () => import('../commands/rehearse/run.ts'),
  }),
  defineCommand({
    path: ['report'],
    summary: 'render reports/*.json for a terminal, as Markdown or SARIF, or publish them to GitHub',
    examples: ['dbops report', 'dbops report --format markdown --output reports/summary.md', 'dbops report --format sarif --output reports/dbops.sarif', 'dbops report --github'],
    inputs: ReportInputs,
    reportsDirUse: 'reads',
    load: () => import('../commands/report/run.ts'),
  }),
  defineCommand({
    path: ['backup', 'create'],
    summary: 'take a consistent, encrypted pg_dump with a table manifest, streamed to the primary storage target',
    description:
      'Opens a REPEATABLE READ READ ONLY transaction, exports its snapshot, computes the table manifest (row count and content hash per table) inside it and runs pg_dump -Fc on the same snapshot. The dump is streamed through SHA-256 and age encryption (recipients from policies/backups.yaml) to the primary target; nothing unencrypted touches disk. The manifest is written last: until then the backup does not exist for list, verify, prune or the gate.',
    examples: ['dbops backup create --tier daily', 'dbops backup create --tier pre-deploy --note "deploy 20261124 #812" --database-url "$PRODUCTION_DATABASE_URL"', 'dbops backup create --target offsite --json'],
    inputs: BackupCreateInputs,
    report: 'backup-create',
    load: () => import('../commands/backup/create/run.ts'),
  }),
  defineCommand({
    path: ['backup', 'list'],
    summary: 'list the complete backups of a target with tier, age, size and verification status',
    examples: ['dbops backup list', 'dbops backup list --target offsite --json', 'dbops backup list --tier monthly'],
    inputs: BackupListInputs,
    load: () => import('../commands/backup/list/run.ts'),
  }),
  defineCommand({
    path: ['backup', 'verify'],
    summary: 'verify a backup: SHA-256, decryption and a full archive read; --restore also restores, compares the manifest and runs pg_amcheck',
    description:
      'Streams the stored ciphertext through SHA-256 and age decryption (every 64 KiB chunk is authenticated) into pg_restore -f /dev/null, which reads and decompresses every entry (pg_restore --list alone misses corruption). With --restore the decrypted archive goes to a temporary file (renamed only after decryption succeeded), is restored with pg_restore -j --exit-on-error into a throwaway database (roles created as needed), compared table by table with the manifest, checked with pg_amcheck, and dropped; each phase is timed. The result is stored beside the backup on the verified target, passed or failed. Exit 1 when a check fails, naming it; exit 2 when no given identity decrypts the backup and 3 when the environment fails (scratch server, tools, Ctrl-C): then nothing is recorded.',
    examples: ['dbops backup verify --latest', 'dbops backup verify 20261124T020003Z-daily-3f9a --restore', 'dbops backup verify --oldest --tier monthly --restore', 'dbops backup verify --latest --target offsite --restore --scratch-url "$SCRATCH_URL"'],
    inputs: BackupVerifyInputs,
    rest: { name: 'id', description: 'backup id (see dbops backup list)' },
    report: 'backup-verify',
    load: () => import('../commands/backup/verify/run.ts'),
  }),
  defineCommand({
    path: ['backup', 'prune'],
    summary: 'delete backups that GFS retention (daily/weekly/monthly, keep_last floor) no longer keeps',
    description:
      'For each target (each by its own verification records), per database: the newest backup of each of the last N days, ISO weeks and months that have one (restic semantics, tiers OR-ed, bucketed in retention.zone) among verified daily/weekly/monthly backups; a tier with fewer than N also keeps the oldest. The newest verified backup and the newest keep_last verified backups are kept whatever happens. Failed backups are deleted; unverified ones after retention.unverified_grace; pre-deploy backups after retention.pre_deploy. Partial uploads and backup folders without a manifest older than retention.partial_after are swept first. --dry-run prints the keep/delete table with reasons and deletes nothing. A deletion that fails does not stop the others (exit 3 at the end).',
    examples: ['dbops backup prune --dry-run', 'dbops backup prune', 'dbops backup prune --target offsite --json'],
    inputs: BackupPruneInputs,
    report: 'backup-prune',
    load: () => import('../commands/backup/prune/run.ts'),
  }),
  defineCommand({
    path: ['backup', 'replicate'],
    summary: 'copy to the offsite targets every backup they miss, checking each copy\'s SHA-256',
    description:
      'For every backup listed on the source (default: the primary) whose manifest the destination lacks: streams the object through SHA-256 into the destination and compares it with the manifest, copies the verification records, records a copy check, and writes the manifest last, so a copy is listed only when complete. A backup whose newest verification failed is not copied (warning); a damaged source object is refused, deleted from the destination and recorded as a failed check on the source (exit 1). A copy that was made before its backup was verified gets the source\'s records after its hash is checked again. Stale partial uploads on the destination are removed first (retention.partial_after). A destination that cannot be reached stops with exit 3; completed copies stay.',
    examples: ['dbops backup replicate', 'dbops backup replicate --to offsite --json', 'dbops backup replicate --from offsite --to backup-server   # restore the backup server from the offsite copy'],
    inputs: BackupReplicateInputs,
    report: 'backup-replicate',
    load: () => import('../commands/backup/replicate/run.ts'),
  }),
  defineCommand({
    path: ['backup', 'restore'],
    summary: 'restore a backup into a database (refuses a database that has tables unless --force)',
    description:
      'Prints what it will do, then downloads and decrypts the backup to a temporary file (renamed only after decryption succeeded), creates the target database when missing and the roles the archive names, runs pg_restore -j --exit-on-error, compares the table manifest and runs ANALYZE. A damaged backup is refused before anything is created (exit 1, recorded as a failed verification); roles are created NOLOGIN. See the restore runbook in the README.',
    examples: ['dbops backup restore 20261124T020003Z-daily-3f9a --target-url postgresql://postgres@restore-host:5432/astro_restored', 'dbops backup restore --latest --tier monthly --target offsite --target-url "$RESTORE_URL" --force'],
    inputs: BackupRestoreInputs,
    rest: { name: 'id', description: 'backup id (see dbops backup list)' },
    report: 'backup-restore',
    load: () => import('../commands/backup/restore/run.ts'),
  }),
  defineCommand({
    path: ['backup', 'notify'],
    summary: 'announce the outcome of this run\'s backup steps (reports/backup-*.json) to the webhook and the job summary',
    description:
      'Reads the backup reports of the run (create, verify, replicate, prune, restore) and sends one success or failure event (tier, size, duration, throughput, target, verification, copies, retention, the failed step and why) to the webhook named by notifications.webhook_env, for the outcomes in notifications.on, Slack-compatible by default; inside GitHub Actions it also appends the job summary. No backup report at all, or one that cannot be read, is a failure. The webhook gets one retry after a network error, a timeout, 429 or 5xx; only its host is ever printed. Exit 1 when the event is a failure (also when the webhook could not be reached: that is logged), so the job fails too; exit 3 when a success could not be delivered, 2 when the variable holds no http(s) URL.',
    examples: ['dbops backup notify', 'dbops backup notify --dry-run', 'dbops backup notify --reports-dir downloaded-reports --json'],
    inputs: BackupNotifyInputs,
    reportsDirUse: 'reads',
    load: () => import('../commands/backup/notify/run.ts'),
  }),
  defineCommand({
    path: ['gate'],
    summary: 'check everything a deploy of an environment needs: verified fresh backup, approvals with four-eyes, staging first, clean state, change window',
    description:
      'Judges the pending migrations of --environment against policies/environments.yaml and reports every reason it refuses, not only the first: a verified backup of this very database (system identifier + name) younger than backup.max_age (--take-backup takes and verifies a pre-deploy one first); inside GitHub Actions the run\'s environment approvals, counted only from users who are not authors of the pull requests behind the migrations, committers of the migration or rollback files, or the run\'s triggering actor (outside Actions an environment that needs approvals refuses unless --break-glass is given and allowed); every pending migration applied on the staging_first environment with the same checksum; no failed, modified-after-apply or missing migration; lint and rollback pairing of the pending set; an open change window or --outside-window with extra approvals. Changes nothing (except the backup --take-backup takes). Exit 1 when refused.',
    examples: [
      'dbops gate --environment production',
      'dbops gate --environment production --take-backup --json',
      'dbops gate --environment production --outside-window "INC-4711: ledger index needed before month-end close"',
      'dbops gate --environment production --break-glass "GitHub outage; CAB call 2026-11-24 02:10, approved by J. Doe"',
    ],
    inputs: GateInputs,
    report: 'gate',
    load: () => import('../commands/gate/run.ts'),
  }),
  defineCommand({
    path: ['deploy'],
    summary: 'deploy pending migrations to an environment: gate, executor, verification, automatic rollback on failure, evidence bundle',
    description:
      'Holds the database\'s deploy lock (a second deploy fails at once, or queues with --wait), runs the gate, applies the pending migrations with the executor (Prisma\'s advisory lock, lock timeouts and retries), verifies (status up to date, the policy\'s smoke queries), and writes a hash-chained evidence bundle (JSON + Markdown) to the evidence storage and <reports-dir>/evidence/. On failure, per on_failure: stop, or run the paired rollbacks of the migrations this deploy applied, newest first, marking them rolled back; when the schema is not back to its pre-deploy fingerprint, the exact restore command for the pre-deploy backup is printed. Exit 1 when refused or failed.',
    examples: ['dbops deploy --environment staging --take-backup', 'dbops deploy --environment production', 'dbops deploy --environment production --wait --wait-timeout 1h --json'],
    inputs: DeployInputs,
    report: 'deploy',
    load: () => import('../commands/deploy/run.ts'),
  }),
  defineCommand({
    path: ['rollback'],
    summary: 'roll an environment back to a migration with the paired rollback scripts, behind the same gate, with an evidence bundle',
    description:
      'Behind the gate (approvals with four-eyes, a fresh verified backup, clean state, change window), runs rollbacks/<name>.sql of every applied migration newer than --to, newest first, each in one transaction with marking its _prisma_migrations row rolled back (as `prisma migrate resolve --rolled-back` would); the migrations become pending again. Refuses up front when one of them is irreversible (`-- dbops:irreversible`) and prints the restore command instead. Writes an evidence bundle.',
    examples: ['dbops rollback --environment production --to 20260915160000_audit_event_entity_index', 'dbops rollback --environment staging --to 20260818134500_journal_entry_source --take-backup'],
    inputs: RollbackInputs,
    report: 'rollback',
    load: () => import('../commands/rollback/run.ts'),
  }),
  defineCommand({
    path: ['evidence', 'verify'],
    summary: 'recompute the hash chain of the evidence bundles and name the first broken link',
    description:
      'Reads every bundle of each environment (from the evidence storage, or --dir for a downloaded artifact), checks that each is byte-for-byte in canonical form, that its SHA-256 matches its content, that it links to the previous bundle\'s hash with no gap in the sequence (bundles removed by retention are covered by a checkpoint), and that its Markdown twin matches. Prints the head hash of each chain. Exit 1 when any check fails.',
    examples: ['dbops evidence verify', 'dbops evidence verify --environment production --json', 'dbops evidence verify --dir evidence-artifact/'],
    inputs: EvidenceVerifyInputs,
    report: 'evidence-verify',
    load: () => import('../commands/evidence/verify/run.ts'),
  }),
  defineCommand({
    path: ['evidence', 'list'],
    summary: 'list the evidence bundles of each environment: sequence, time, kind, outcome, commit, approvers',
    examples: ['dbops evidence list', 'dbops evidence list --environment production --json'],
    inputs: EvidenceListInputs,
    load: () => import('../commands/evidence/list/run.ts'),
  }),
  defineCommand({
    path: ['evidence', 'reconcile'],
    summary: "match every change the database's _prisma_migrations records against the evidence bundles; name what changed outside the pipeline",
    description:
      'The periodic review auditors ask for (SOX program change, SOC 2 CC8.1 "detects changes"): every migration the environment\'s database records as applied, failed or rolled back must fall inside a deploy, rollback or interrupted-deploy bundle that did exactly that (times compared with 5 minutes of clock skew allowed). Anything else was changed outside the pipeline (prisma migrate deploy or dbops migrate deploy by hand, a resolve, a restore) and fails the command; changes older than the first bundle kept are listed as before the evidence. The chain is verified first. Read-only.',
    examples: ['dbops evidence reconcile --environment production', 'dbops evidence reconcile --environment production --json'],
    inputs: EvidenceReconcileInputs,
    report: 'evidence-reconcile',
    load: () => import('../commands/evidence/reconcile/run.ts'),
  }),
  defineCommand({
    path: ['evidence', 'prune'],
    summary: 'remove evidence bundles older than evidence.retention, leaving a checkpoint that keeps the chain verifiable',
    examples: ['dbops evidence prune --dry-run', 'dbops evidence prune'],
    inputs: EvidencePruneInputs,
    report: 'evidence-prune',
    load: () => import('../commands/evidence/prune/run.ts'),
  }),
  defineCommand({
    path: ['local', 'up'],
    summary: 'create (first time) and start the embedded PostgreSQL cluster in .dbops/',
    examples: ['dbops local up'],
    inputs: LocalInputs,
    load: () => import('../commands/local/run.ts').then((m) => m.up),
  }),
  defineCommand({
    path: ['local', 'down'],
    summary: 'stop the embedded cluster (--destroy also deletes it)',
    examples: ['dbops local down', 'dbops local down --destroy'],
    inputs: LocalDownInputs,
    load: () => import('../commands/local/run.ts').then((m) => m.down),
  }),
  defineCommand({
    path: ['local', 'status'],
    summary: 'show whether the embedded cluster exists and runs, its port, version and data directory',
    examples: ['dbops local status', 'dbops local status --json'],
    inputs: LocalInputs,
    load: () => import('../commands/local/run.ts').then((m) => m.status),
  }),
  defineCommand({
    path: ['local', 'psql'],
    summary: 'open psql on the embedded cluster (arguments after -- go to psql)',
    examples: ['dbops local psql', 'dbops local psql -- -c "select count(*) from \\"JournalLine\\""'],
    inputs: LocalPsqlInputs,
    rest: { name: 'psql-args', description: 'arguments passed to psql' },
    load: () => import('../commands/local/run.ts').then((m) => m.psql),
  }),
  defineCommand({
    path: ['seed'],
    summary: 'load AstroFinance reference data (Prisma Client) and reproducible synthetic volume',
    examples: ['dbops seed', 'dbops seed --scale 0.1 --seed 7', 'dbops seed --database-url "$DATABASE_URL" --scale 2'],
    inputs: SeedInputs,
    load: () => import('../commands/seed/run.ts'),
  }),
  defineCommand({
    path: ['demo'],
    summary: 'the whole pull request path on the embedded cluster: migrations, synthetic data, lint, rehearsal, Markdown report',
    description:
      'Starts the embedded cluster, applies the AstroFinance migrations to its dbops database and seeds it, then treats the newest --last migrations as a pull request: lint, rehearsal on a clone of a synthetic snapshot (rollbacks proven, locks measured) and the Markdown report, printed and written to reports/report.md. Never touches DATABASE_URL or STAGING_SNAPSHOT_URL.',
    examples: ['dbops demo', 'dbops demo --scale 0.1', 'dbops demo --last 3 --labels ""'],
    inputs: DemoInputs,
    reportsDirUse: 'writes',
    load: () => import('../commands/demo/run.ts'),
  }),
];
