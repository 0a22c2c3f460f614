import { parseDuration } from '../../core/duration.ts';
import { formatMs, noun } from '../../core/format.ts';
import type { ExecutorPolicy } from '../../policy/schema.ts';
import { checksum } from './checksum.ts';
import { describeBlocker, Executor, type Blocker, type InvalidIndex } from './executor.ts';
import { checkSqlFiles, malformedError, type LocalMigration } from './folder.ts';
import {
  acquireAdvisoryLock,
  assertNoUnmanagedTables,
  createMigrationsTable,
  ensureSchema,
  isFailed,
  loadRows,
  migrationsTableExists,
  type MigrationRow,
  type Session,
} from './history.ts';
import type { ExecutionPlan } from './plan.ts';
import { pendingMigrations } from './change-set.ts';

/** Applying the pending migrations exactly as `prisma migrate deploy` does: shared by `migrate deploy` and the gated deploy. */

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
  const executor = new Executor(
    s,
    executorPolicy,
    {
      retry: ({ attempt, of, waitMs, blockers, segment }) =>
        io.progress(
          `  lock_timeout hit${segment ? ` at line ${segment.line} (${segment.label})` : ''}; retry ${attempt}/${of} in ${formatMs(waitMs)}` +
            (blockers.length ? `; blocked by ${blockers.map(describeBlocker).join('; ')}` : ''),
        ),
    },
    io.signal,
  );
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
        io.progress(
          `  runs in ${plan.segments.length} ${noun(plan.segments.length, 'step')}, not as one transaction: ${plan.reasons.map((r) => `line ${r.line}: ${r.why}`).join('; ')}`,
        );
      }
      const startedAt = new Date().toISOString();
      const outcome = await executor.apply(migration.name, migration.script, plan);
      const steps = plan.mode === 'atomic' ? 1 : plan.segments.length;
      if (outcome.ok) {
        out.applied.push({
          name: migration.name,
          checksum: checksum(migration.script),
          mode: plan.mode,
          steps,
          startedAt,
          durationMs: outcome.durationMs,
          lockRetries: outcome.lockRetries,
          blockers: outcome.blockers,
        });
        const retried = outcome.lockRetries ? ` after ${outcome.lockRetries} lock ${noun(outcome.lockRetries, 'retry', 'retries')}` : '';
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
