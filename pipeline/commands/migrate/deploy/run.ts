import { resolve } from 'node:path';
import { ExitCode } from '../../../core/errors.ts';
import { parseDuration } from '../../../core/duration.ts';
import type { MigrateInputs } from '../../flags.ts';
import { checksum } from '../../../change/migrations/checksum.ts';
import { describeBlocker, Executor, type Blocker, type InvalidIndex } from '../../../change/migrations/executor.ts';
import { checkLockfile, checkSqlFiles, malformedError, readMigrationsFolder, type LocalMigration } from '../../../change/migrations/folder.ts';
import type { ExecutorPolicy } from '../../../policy/schema.ts';
import { acquireAdvisoryLock, assertNoUnmanagedTables, createMigrationsTable, ensureSchema, isFailed, loadRows, migrationsTableExists, openSession, type MigrationRow, type Session } from '../../../change/migrations/history.ts';
import { datasourceLine, foundLine, p3009Hint, p3009Message } from '../../../change/migrations/messages.ts';
import type { ExecutionPlan } from '../../../change/migrations/plan.ts';
import { datasourceOf, type Datasource } from '../status/run.ts';
import { formatMs } from '../../../core/format.ts';
import { type StepContext } from '../../../cli/contract.ts';
import { type StepResult } from '../../../core/result.ts';

export interface AppliedMigration {
  name: string;
  checksum: string;
  mode: ExecutionPlan['mode'];
  /** Messages sent: 1 for an atomic file. */
  steps: number;
  /** ISO 8601 UTC, when dbops started it. */
  startedAt: string;
  durationMs: number;
  lockRetries: number;
  blockers: Blocker[];
}

export interface FailedMigration {
  name: string;
  sqlstate: string | null;
  message: string;
  mode: ExecutionPlan['mode'];
  startedAt: string;
  durationMs: number;
  lockRetries: number;
  blockers: Blocker[];
  /** Lock timeout after the last retry: an environment problem (exit 3), not a broken migration. */
  lockTimeout: boolean;
  /** Whether a `_prisma_migrations` row records the failure (an atomic migration that gave up on a lock left none). */
  recorded: boolean;
  /** For split migrations: how many segments committed before the failure (their effects remain). */
  stepsCommitted: number;
  invalidIndexes: InvalidIndex[];
}

export interface DeployData {
  datasource: Datasource;
  migrationsDir: string;
  migrationsFound: number;
  applied: AppliedMigration[];
  /** Pending migrations that were not applied (after a failure or an interrupt). */
  notApplied: string[];
  failed?: FailedMigration;
  interrupted?: boolean;
}

interface Prepared {
  migration: LocalMigration & { script: string };
  plan: ExecutionPlan;
}

/**
 * Everything that can be known about the pending files is checked before the first write, so a
 * malformed folder changes nothing (Prisma would apply the migrations before the bad one, then stop).
 */
async function preflight(pending: LocalMigration[]): Promise<Prepared[]> {
  const { problems, plans } = await checkSqlFiles(pending);
  if (problems.length > 0) throw malformedError(problems, 'Nothing was applied');
  return pending.map((m) => ({ migration: m as Prepared['migration'], plan: plans.get(m.file)! }));
}

/** Prisma's pending set: local migrations with no row that is not rolled back (spec §4.2 step 6). */
export const pendingMigrations = (local: LocalMigration[], rows: MigrationRow[]): LocalMigration[] => {
  const done = new Set(rows.filter((r) => r.rolledBackAt === null).map((r) => r.migrationName));
  return local.filter((m) => !done.has(m.name));
};

/** What applying the pending migrations on an open session did (shared by `migrate deploy` and `dbops deploy`). */
export interface ApplyOutcome {
  applied: AppliedMigration[];
  /** Pending migrations that were not applied (after a failure or an interrupt, or all of them under P3009). */
  notApplied: string[];
  failed?: FailedMigration;
  /** Ctrl-C: stopped before the next migration. */
  interrupted?: boolean;
  /** P3009: failed rows that stop anything from being applied. */
  blockedBy?: MigrationRow[];
}

export interface ApplyIo {
  progress(line: string): void;
  signal: AbortSignal;
  /** Called before each migration runs (after its progress line). */
  onStart?(name: string): void;
}

/**
 * Applies the pending migrations of `local` on an open session, exactly as `prisma migrate deploy` would:
 * Prisma's advisory lock (held until the session ends or the caller releases it), P3005 and P3009 refusals,
 * a preflight of every pending file before the first write, then each migration through the executor
 * (lock timeouts, retries) with progress lines. Stops at the first failure or at Ctrl-C.
 */
export async function applyPending(s: Session, local: LocalMigration[], executorPolicy: ExecutorPolicy, io: ApplyIo): Promise<ApplyOutcome> {
  const out: ApplyOutcome = { applied: [], notApplied: [] };
  await acquireAdvisoryLock(s, parseDuration(executorPolicy.advisory_lock_timeout) ?? 10_000);
  const hasTable = await migrationsTableExists(s);
  if (!hasTable) await assertNoUnmanagedTables(s);
  const rows = hasTable ? await loadRows(s) : [];
  const failedRows = rows.filter(isFailed);
  if (failedRows.length > 0) {
    out.notApplied = pendingMigrations(local, rows).map((m) => m.name);
    out.blockedBy = failedRows;
    return out;
  }
  const prepared = await preflight(pendingMigrations(local, rows));
  // Only now, with every check passed, does deploy write anything.
  if (!hasTable) {
    await ensureSchema(s);
    await createMigrationsTable(s);
  }
  const executor = new Executor(s, executorPolicy, {
    retry: ({ attempt, of, waitMs, blockers, segment }) =>
      io.progress(
        `  lock_timeout hit${segment ? ` at line ${segment.line} (${segment.label})` : ''}; retry ${attempt}/${of} in ${formatMs(waitMs)}` +
          (blockers.length ? `; blocked by ${blockers.map(describeBlocker).join('; ')}` : ''),
      ),
  }, io.signal);
  try {
    for (const [i, { migration, plan }] of prepared.entries()) {
      if (io.signal.aborted) {
        out.interrupted = true;
        out.notApplied = prepared.slice(i).map((p) => p.migration.name);
        io.progress('Interrupted: stopped before the next migration; nothing is half-applied.');
        return out;
      }
      io.progress(`Applying migration \`${migration.name}\``);
      if (plan.mode === 'split') {
        io.progress(`  runs in ${plan.segments.length} step${plan.segments.length === 1 ? '' : 's'}, not as one transaction: ${plan.reasons.map((r) => `line ${r.line}: ${r.why}`).join('; ')}`);
      }
      io.onStart?.(migration.name);
      const startedAt = new Date().toISOString();
      const outcome = await executor.apply(migration.name, migration.script, plan);
      const steps = plan.mode === 'atomic' ? 1 : plan.segments.length;
      if (outcome.ok) {
        out.applied.push({ name: migration.name, checksum: checksum(migration.script), mode: plan.mode, steps, startedAt, durationMs: outcome.durationMs, lockRetries: outcome.lockRetries, blockers: outcome.blockers });
        const retried = outcome.lockRetries ? ` after ${outcome.lockRetries} lock retr${outcome.lockRetries === 1 ? 'y' : 'ies'}` : '';
        const waited = outcome.blockers.length ? `; it waited for locks held by ${outcome.blockers.map(describeBlocker).join('; ')}` : '';
        io.progress(`  applied in ${formatMs(outcome.durationMs)}${retried}${waited}`);
        continue;
      }
      out.failed = {
        name: migration.name,
        sqlstate: outcome.sqlstate,
        message: outcome.message,
        mode: plan.mode,
        startedAt,
        durationMs: outcome.durationMs,
        lockRetries: outcome.lockRetries,
        blockers: outcome.blockers,
        stepsCommitted: outcome.segmentsCommitted,
        invalidIndexes: outcome.invalidIndexes,
        lockTimeout: outcome.lockTimeout,
        recorded: outcome.recorded,
      };
      out.notApplied = prepared.slice(i).map((p) => p.migration.name);
      return out;
    }
  } finally {
    await executor.close();
  }
  return out;
}

export async function run(input: MigrateInputs, ctx: StepContext): Promise<StepResult<DeployData>> {
  const folder = await readMigrationsFolder(resolve(input.migrationsDir));
  for (const w of folder.warnings) ctx.log.warn(w);
  checkLockfile(folder);
  const { migrations: policy } = await ctx.policies('migrations');
  const executorPolicy = policy.value.executor;
  const target = await ctx.database();
  ctx.progress(`${datasourceLine(target)}\n\n${foundLine(folder.migrations.length, input.migrationsDir)}`);

  const s = await openSession(target, ctx.log, 'dbops migrate deploy');
  const data: DeployData = { datasource: datasourceOf(target), migrationsDir: input.migrationsDir, migrationsFound: folder.migrations.length, applied: [], notApplied: [] };
  try {
    const outcome = await applyPending(s, folder.migrations, executorPolicy, { progress: (l) => ctx.progress(l), signal: ctx.signal });
    data.applied = outcome.applied;
    data.notApplied = outcome.notApplied;
    if (outcome.blockedBy) {
      return { verdict: 'fail', findings: [], data, error: { code: 'P3009', message: p3009Message(outcome.blockedBy), hint: p3009Hint(outcome.blockedBy) } };
    }
    if (outcome.interrupted) {
      data.interrupted = true;
      return { verdict: 'fail', findings: [], data, exitCode: ExitCode.Environment, error: { message: `Interrupted after ${data.applied.length} migration(s); ${data.notApplied.length} not applied.`, hint: 'Run `dbops migrate deploy` again to apply the rest.' } };
    }
    if (outcome.failed) {
      data.failed = outcome.failed;
      return failure(data, outcome.failed.lockTimeout, outcome.failed.recorded, executorPolicy.lock_timeout);
    }
    return { verdict: 'pass', findings: [], data };
  } finally {
    await s.close();
  }
}

function failure(data: DeployData, lockTimeout: boolean, recorded: boolean, lockTimeoutSetting: string): StepResult<DeployData> {
  const f = data.failed!;
  const partial = f.mode === 'split' && f.stepsCommitted > 0 ? ` ${f.stepsCommitted} of its steps committed before the failure and remain in the database.` : '';
  const hints: string[] = [];
  if (lockTimeout) {
    hints.push(
      `\`${f.name}\` could not get its locks within lock_timeout (${lockTimeoutSetting}) after ${f.lockRetries} retr${f.lockRetries === 1 ? 'y' : 'ies'}` +
        (f.blockers.length ? `; blocked by ${f.blockers.map(describeBlocker).join('; ')}` : '') +
        (recorded ? '.' : '. Nothing of it was applied and nothing was recorded: run the deploy again when the blocking sessions are gone, or raise lock_timeout/lock_retries for it in policies/migrations.yaml (executor.overrides).'),
    );
  }
  for (const idx of f.invalidIndexes) {
    hints.push(`The failed statement left the index ${idx.schema}.${idx.index} on ${idx.table} INVALID (indisvalid = false): it slows writes and is never used. Remove it with \`${idx.cleanup}\` before retrying.`);
  }
  if (recorded) {
    hints.push(
      f.mode === 'atomic'
        ? `Nothing of \`${f.name}\` remains in the database (it ran in one transaction). Fix the file, run \`dbops migrate resolve --rolled-back ${f.name}\`, then deploy again.`
        : `Undo what the committed steps of \`${f.name}\` did (or finish it by hand and run \`dbops migrate resolve --applied ${f.name}\`); after undoing, fix the file, run \`dbops migrate resolve --rolled-back ${f.name}\` and deploy again.${partial}`,
    );
  }
  return {
    verdict: 'fail',
    findings: [],
    data,
    exitCode: lockTimeout ? ExitCode.Environment : ExitCode.Failed,
    error: { code: lockTimeout && !recorded ? undefined : 'P3018', message: lockTimeout && !recorded ? `Lock timeout: \`${f.name}\` was not applied.\n\n${f.message}` : f.message, hint: hints.join('\n') },
  };
}

export function render(result: StepResult<DeployData>): string {
  const { applied } = result.data;
  if (result.error) return '';
  if (applied.length === 0) return '\nNo pending migrations to apply.\n';
  const width = Math.max(...applied.map((a) => a.name.length));
  const tree = applied.map((a) => `  └─ ${`${a.name}/`.padEnd(width + 1)}  ${formatMs(a.durationMs).padStart(9)}${a.mode === 'split' ? `  (${a.steps} steps)` : ''}\n    └─ migration.sql`).join('\n');
  return `\nThe following migration(s) have been applied:\n\nmigrations/\n${tree}\n\nAll migrations have been successfully applied.\n`;
}
