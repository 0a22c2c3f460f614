import { join } from 'node:path';
import { parseDuration } from '../../core/duration.ts';
import { EnvError } from '../../core/errors.ts';
import { isPgError } from '../../infra/db/client.ts';
import { diffFingerprints, renderFingerprintDiff, schemaFingerprint, type SchemaFingerprint } from '../../infra/db/fingerprint.ts';
import type { EnvironmentPolicy } from '../../policy/environments.ts';
import type { ExecutorPolicy } from '../../policy/schema.ts';
import { readRollbacksFolder, inspectRollback, type RollbackFile } from '../rollbacks/index.ts';
import {
  type LocalMigration,
  ADVISORY_LOCK_KEY,
  acquireAdvisoryLock,
  isFailed,
  loadRows,
  markRolledBack,
  type MigrationRow,
  type Session,
  planExecution,
  type ExecutionPlan,
  applyPending,
  type FailedMigration,
  pendingMigrations,
  Executor,
  rollbackBookkeeping,
} from '../migrations/index.ts';
import type { BackupEvidence, ExecutionData, MigrationExecution } from '../../evidence/index.ts';
import { formatMs, noun } from '../../core/format.ts';

/**
 * The part of `dbops deploy` and `dbops rollback` that works on the database, on one open session that
 * already holds the deploy lock: apply, verify, roll back, and say what state the schema is in. The gate,
 * the lock and the evidence bundle are around it (run.ts).
 */

export type SmokeResult = ExecutionData['smoke'][number];
export type FinalState = ExecutionData['finalState'];

/** What the engine decided; the rest of ExecutionData (gate, times, evidence) is filled around it. */
export interface Execution {
  outcome: 'succeeded' | 'failed-rolled-back' | 'failed';
  steps: MigrationExecution[];
  smoke: SmokeResult[];
  finalState: FinalState;
  restoreCommand: string | null;
  /** The restore point created before the first migration, when PITR is configured. */
  restorePoint?: { name: string; lsn: string; at: string };
  /** Why it failed (null on success), and what was done about it. */
  failure: { message: string; hint: string; lockTimeout: boolean } | null;
}

export interface EngineIo {
  progress(line: string): void;
  signal: AbortSignal;
}

/** A step that never ran: after a failure, or because it could not (`error` says why). */
const notRun = (name: string, action: MigrationExecution['action'], error?: string): MigrationExecution => ({
  name,
  action,
  outcome: 'not-run',
  mode: null,
  startedAt: null,
  durationMs: 0,
  lockRetries: 0,
  ...(error ? { error } : {}),
});

/** Where the pre-deploy backup is and how the environment's URL is named: enough to print the restore command. */
export interface RestoreSource {
  backup: Pick<BackupEvidence, 'id' | 'target'> | null;
  urlEnv: string;
  policiesDir: string;
  /** When PITR is configured: the restore point this deploy creates before its first migration, which the restore command then aims at. */
  restorePoint?: string | undefined;
}

export interface EngineRequest {
  environment: { name: string; policy: EnvironmentPolicy };
  local: LocalMigration[];
  rollbacksDir: string;
  executor: ExecutorPolicy;
  restore: RestoreSource;
}

const shellQuote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`);

/**
 * The exact command that puts the pre-deploy backup back. It names the URL variable, never the URL, so
 * it can be printed, stored in evidence and pasted into the same job's shell.
 */
export function restoreCommandFor(r: RestoreSource): string {
  if (r.restorePoint)
    return `dbops pitr restore --to-restore-point ${shellQuote(r.restorePoint)} --target-dir ${shellQuote(`.dbops/restore/${r.restorePoint}`)} --database-url "$${r.urlEnv}" --policies-dir ${shellQuote(r.policiesDir)}`;
  const target = r.backup ? ` --target ${shellQuote(r.backup.target)}` : '';
  const which = r.backup ? shellQuote(r.backup.id) : '--latest';
  return `dbops backup restore ${which}${target} --target-url "$${r.urlEnv}" --force --policies-dir ${shellQuote(r.policiesDir)}`;
}

const fingerprint = (s: Session) => schemaFingerprint(s.client, s.target.schema);

async function releasePrismaLock(s: Session): Promise<void> {
  // pg_advisory_unlock only warns when the lock is not held (PRISMA_SCHEMA_DISABLE_ADVISORY_LOCK).
  await s.client.query(`SELECT pg_advisory_unlock(${ADVISORY_LOCK_KEY})`).catch(() => undefined);
}

/**
 * pg_create_restore_point before the first migration: a point-in-time recovery can then return to exactly
 * the database this deploy started from. Its failure (the function needs superuser or an explicit GRANT)
 * stops the deploy before it changes anything.
 */
async function createRestorePoint(s: Session, name: string, io: EngineIo): Promise<{ name: string; lsn: string; at: string }> {
  try {
    const { rows } = await s.client.query<{ lsn: string; at: string }>(
      `SELECT pg_create_restore_point($1)::text AS lsn, to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at`,
      [name],
    );
    io.progress(`Restore point ${name} created at LSN ${rows[0]!.lsn}`);
    return { name, ...rows[0]! };
  } catch (e) {
    throw new EnvError(`The restore point ${name} could not be created before the first migration: ${(e as Error).message}. Nothing was applied.`, {
      hint: 'PITR is configured (pitr: in policies/backups.yaml), so every deploy starts with pg_create_restore_point: deploy as a superuser, or GRANT EXECUTE ON FUNCTION pg_create_restore_point(text) TO the deploy user.',
      cause: e,
    });
  }
}

/** Applied / pending / failed as `dbops migrate status` sees them, and the fingerprint comparison. */
export async function finalStateOf(
  s: Session,
  local: LocalMigration[],
  before: SchemaFingerprint | null,
  after: SchemaFingerprint | null,
): Promise<FinalState> {
  const rows = await loadRows(s);
  const applied = [...new Set(rows.filter((r) => r.finishedAt !== null && r.rolledBackAt === null).map((r) => r.migrationName))];
  const diff =
    before && after && before.hash !== after.hash
      ? renderFingerprintDiff(diffFingerprints(before, after), { expected: 'before the deploy', actual: 'now' })
      : undefined;
  return {
    applied,
    pending: pendingMigrations(local, rows).map((m) => m.name),
    failed: rows.filter(isFailed).map((r) => r.migrationName),
    fingerprintBefore: before?.hash ?? null,
    fingerprintAfter: after?.hash ?? null,
    equalsBefore: before && after ? before.hash === after.hash : null,
    ...(diff ? { diff } : {}),
  };
}

/**
 * Runs each smoke query in its own READ ONLY transaction with statement_timeout = smoke_timeout, so a
 * smoke query can neither change data nor hang the deploy. Judged by `expect`.
 */
export async function runSmoke(s: Session, policy: EnvironmentPolicy, io: EngineIo): Promise<SmokeResult[]> {
  const timeoutMs = parseDuration(policy.smoke_timeout) ?? 30_000;
  const results: SmokeResult[] = [];
  for (const q of policy.smoke) {
    const started = Date.now();
    try {
      await s.client.query(`BEGIN READ ONLY; SET LOCAL statement_timeout = ${Math.max(1, Math.round(timeoutMs))}`);
      const result = (await s.client.query(q.sql)) as unknown;
      const last = (Array.isArray(result) ? result.at(-1) : result) as { rows?: unknown[]; rowCount?: number | null } | undefined;
      const rows = last?.rows?.length ?? last?.rowCount ?? 0;
      const problem =
        q.expect === 'rows' && rows === 0
          ? 'expected at least one row, got none'
          : q.expect === 'no-rows' && rows > 0
            ? `expected no rows, got ${rows}`
            : undefined;
      results.push({ name: q.name, ok: !problem, rows, durationMs: Date.now() - started, ...(problem ? { error: problem } : {}) });
    } catch (e) {
      const timedOut = isPgError(e) && e.code === '57014';
      results.push({
        name: q.name,
        ok: false,
        rows: 0,
        durationMs: Date.now() - started,
        error: timedOut ? `did not finish within smoke_timeout (${policy.smoke_timeout})` : (e as Error).message,
      });
    } finally {
      await s.client.query('ROLLBACK').catch(() => undefined);
    }
    const r = results.at(-1)!;
    io.progress(`  smoke ${r.ok ? '✔' : '✘'} ${r.name} (${r.rows} ${noun(r.rows, 'row')}, ${formatMs(r.durationMs)})${r.error ? `: ${r.error}` : ''}`);
  }
  return results;
}

/** Whether a migration can be rolled back by its paired script, and the file when it can. */
type RollbackReadiness = { name: string; ok: true; file: RollbackFile } | { name: string; ok: false; why: string };

export function rollbackReadiness(name: string, files: RollbackFile[], rollbacksDir: string): RollbackReadiness {
  const file = files.find((f) => f.name === name);
  if (!file) return { name, ok: false, why: `${join(rollbacksDir, `${name}.sql`)} does not exist` };
  const inspection = inspectRollback(file.text);
  if (inspection.marker)
    return { name, ok: false, why: `${file.path} is marked irreversible${inspection.marker.reason ? `: ${inspection.marker.reason}` : ''}` };
  if (inspection.empty) return { name, ok: false, why: `${file.path} is empty (only comments or whitespace)` };
  return { name, ok: true, file };
}

/**
 * Runs rollbacks/<name>.sql through the executor, as migrations run (atomic in one transaction, or segment by
 * segment; lock timeouts retried; blockers named), with the rollback's bookkeeping: the migration's live row
 * is marked rolled back (as `prisma migrate resolve --rolled-back` marks it; the migration is pending again
 * for Prisma too), in the same transaction as an atomic script, so a crash leaves either the migration applied
 * and unmarked or rolled back and marked. A split script is marked after its last segment.
 */
export async function runRollbackScript(s: Session, name: string, file: RollbackFile, policy: ExecutorPolicy, io: EngineIo): Promise<MigrationExecution> {
  const startedAt = new Date().toISOString();
  let plan: ExecutionPlan;
  try {
    plan = await planExecution(file.text, file.path);
  } catch (e) {
    return { name, action: 'rollback', outcome: 'failed', mode: null, startedAt, durationMs: 0, lockRetries: 0, error: (e as Error).message };
  }
  io.progress(`Rolling back \`${name}\` with ${file.path}${plan.mode === 'split' ? ` (${plan.segments.length} steps, not one transaction)` : ''}`);
  const executor = new Executor(
    s,
    policy,
    { retry: ({ attempt, of, waitMs }) => io.progress(`  lock_timeout hit; retry ${attempt}/${of} in ${formatMs(waitMs)}`) },
    io.signal,
  );
  try {
    const outcome = await executor.run(name, file.text, plan, rollbackBookkeeping(s, name));
    if (outcome.ok) {
      io.progress(`  rolled back in ${formatMs(outcome.durationMs)}`);
      return { name, action: 'rollback', outcome: 'rolled-back', mode: plan.mode, startedAt, durationMs: outcome.durationMs, lockRetries: outcome.lockRetries };
    }
    io.progress(`  ✘ rollback failed: ${outcome.detail}`);
    return {
      name,
      action: 'rollback',
      outcome: 'failed',
      mode: plan.mode,
      startedAt,
      durationMs: outcome.durationMs,
      lockRetries: outcome.lockRetries,
      error: outcome.detail,
    };
  } finally {
    await executor.close();
  }
}

export interface RollbackRun {
  steps: MigrationExecution[];
  /** Everything asked for was rolled back. */
  ok: boolean;
  /** Why not, for the failure message. */
  problem?: string;
}

/**
 * Rolls back `names` (newest first). Every script is checked before the first one runs: one irreversible,
 * missing or empty rollback means none runs, so the database stays in the state the failure left (known
 * and recorded) rather than somewhere in between.
 */
export async function rollbackMigrations(s: Session, names: string[], rollbacksDir: string, policy: ExecutorPolicy, io: EngineIo): Promise<RollbackRun> {
  const { files } = await readRollbacksFolder(rollbacksDir);
  const readiness = names.map((n) => rollbackReadiness(n, files, rollbacksDir));
  const impossible = readiness.filter((r): r is Extract<RollbackReadiness, { ok: false }> => !r.ok);
  if (impossible.length > 0) {
    const problem = `cannot roll back ${impossible.map((r) => `\`${r.name}\` (${r.why})`).join(', ')}; no rollback script was run`;
    io.progress(`✘ ${problem}`);
    return {
      ok: false,
      problem,
      steps: impossible.map((r) => notRun(r.name, 'rollback', r.why)),
    };
  }
  const steps: MigrationExecution[] = [];
  for (const r of readiness as Array<Extract<RollbackReadiness, { ok: true }>>) {
    const step = await runRollbackScript(s, r.name, r.file, policy, io);
    steps.push(step);
    if (step.outcome !== 'rolled-back') {
      const rest = names.slice(names.indexOf(r.name) + 1);
      for (const n of rest) steps.push(notRun(n, 'rollback', `not attempted: the rollback of ${r.name} failed`));
      return { ok: false, steps, problem: `the rollback of \`${r.name}\` failed: ${step.error}` };
    }
  }
  return { ok: true, steps };
}

/**
 * The failed migration of this deploy: an atomic one left nothing behind (its transaction rolled back), so
 * only its failed row is marked rolled back, which is exactly `prisma migrate resolve --rolled-back`. A
 * split one whose steps committed left an unknown part behind: nothing can be done safely.
 */
async function resolveFailed(s: Session, f: FailedMigration, rows: MigrationRow[], io: EngineIo): Promise<{ step?: MigrationExecution; problem?: string }> {
  if (!f.recorded) return {}; // gave up on a lock before doing anything: no row, nothing to undo
  if (f.mode === 'split' && f.stepsCommitted > 0) {
    return {
      problem: `\`${f.name}\` ran as separate steps and ${f.stepsCommitted} of them committed before it failed; what they left cannot be undone by its rollback script`,
    };
  }
  const ids = rows.filter((r) => r.migrationName === f.name && isFailed(r)).map((r) => r.id);
  const started = Date.now();
  await markRolledBack(s, ids);
  io.progress(`Marked the failed migration \`${f.name}\` rolled back (nothing of it remained: it ran in one transaction).`);
  return {
    step: {
      name: f.name,
      action: 'rollback',
      outcome: 'rolled-back',
      mode: f.mode,
      startedAt: new Date(started).toISOString(),
      durationMs: Date.now() - started,
      lockRetries: 0,
    },
  };
}

const applyStep = (a: { name: string; mode: 'atomic' | 'split'; startedAt: string; durationMs: number; lockRetries: number }): MigrationExecution => ({
  name: a.name,
  action: 'apply',
  outcome: 'applied',
  mode: a.mode,
  startedAt: a.startedAt,
  durationMs: a.durationMs,
  lockRetries: a.lockRetries,
});

/**
 * Apply the pending migrations, verify (nothing pending or failed, smoke queries), and on failure follow
 * on_failure. The session must hold the deploy lock.
 */
export async function executeDeploy(s: Session, req: EngineRequest, io: EngineIo): Promise<Execution> {
  const policy = req.environment.policy;
  const before = await fingerprint(s);
  const steps: MigrationExecution[] = [];
  let smoke: SmokeResult[] = [];
  let failure: string | undefined;
  let lockTimeout = false;
  const restorePoint = req.restore.restorePoint ? await createRestorePoint(s, req.restore.restorePoint, io) : undefined;
  const point = restorePoint ? { restorePoint } : {};
  const applied = await applyPending(s, req.local, req.executor, { progress: io.progress, signal: io.signal });
  try {
    for (const a of applied.applied) steps.push(applyStep(a));
    const f = applied.failed;
    if (f) {
      steps.push({
        name: f.name,
        action: 'apply',
        outcome: 'failed',
        mode: f.mode,
        startedAt: f.startedAt,
        durationMs: f.durationMs,
        lockRetries: f.lockRetries,
        error: f.message,
      });
      failure = `\`${f.name}\` failed${f.lockTimeout ? ' on a lock timeout' : ''}: ${firstLine(f.message)}`;
      lockTimeout = f.lockTimeout;
    } else if (applied.blockedBy) {
      failure = `a failed migration blocks the deploy (P3009): ${applied.blockedBy.map((r) => r.migrationName).join(', ')}`;
    } else if (applied.interrupted) {
      failure = `interrupted (Ctrl-C) after ${applied.applied.length} migration(s)`;
    }
    for (const n of applied.notApplied) if (n !== f?.name) steps.push(notRun(n, 'apply'));

    if (!failure) {
      const state = await finalStateOf(s, req.local, null, null);
      if (state.pending.length > 0 || state.failed.length > 0) {
        failure = `verification: ${[state.pending.length ? `still pending: ${state.pending.join(', ')}` : '', state.failed.length ? `failed: ${state.failed.join(', ')}` : ''].filter(Boolean).join('; ')}`;
      } else if (policy.smoke.length > 0) {
        io.progress('Verifying: smoke queries');
        smoke = await runSmoke(s, policy, io);
        const bad = smoke.filter((r) => !r.ok);
        if (bad.length > 0) failure = `smoke ${bad.map((r) => `"${r.name}" (${r.error})`).join(', ')} failed`;
      }
    }

    if (!failure) {
      const after = await fingerprint(s);
      return { outcome: 'succeeded', steps, smoke, finalState: await finalStateOf(s, req.local, before, after), restoreCommand: null, failure: null, ...point };
    }

    io.progress(`✘ Deploy failed: ${failure}`);
    const problems: string[] = [];
    if (policy.on_failure === 'rollback') {
      io.progress('on_failure: rollback — undoing what this deploy applied, newest first');
      if (f) {
        const resolved = await resolveFailed(s, f, await loadRows(s), io);
        if (resolved.step) steps.push(resolved.step);
        if (resolved.problem) problems.push(resolved.problem);
      }
      if (problems.length === 0 && applied.applied.length > 0) {
        const names = applied.applied.map((a) => a.name).reverse();
        const run = await rollbackMigrations(s, names, req.rollbacksDir, req.executor, io);
        steps.push(...run.steps);
        if (!run.ok) problems.push(run.problem!);
      }
    } else {
      io.progress('on_failure: stop — the database is left as the failure left it');
    }
    const after = await fingerprint(s);
    const finalState = await finalStateOf(s, req.local, before, after);
    const back = policy.on_failure === 'rollback' && problems.length === 0 && finalState.equalsBefore === true;
    const restoreCommand = back ? null : restoreCommandFor(req.restore);
    const did = back
      ? 'Every migration this deploy applied was rolled back by its script and marked rolled back; the schema equals its pre-deploy fingerprint.'
      : policy.on_failure === 'stop'
        ? 'on_failure is stop: nothing was rolled back.'
        : problems.length > 0
          ? `The automatic rollback stopped: ${problems.join('; ')}.`
          : 'The rollbacks ran, but the schema differs from its pre-deploy fingerprint (see the diff).';
    return {
      outcome: back ? 'failed-rolled-back' : 'failed',
      steps,
      smoke,
      finalState,
      restoreCommand,
      ...point,
      failure: {
        message: `Deploy to ${req.environment.name} failed: ${failure}. ${did}`,
        hint: back
          ? 'Fix the migration (see the error above), merge the fix and deploy again; its rows are marked rolled back, so it is pending again.'
          : restorePoint
            ? `Restore the database as it was before this deploy (point-in-time recovery to its restore point ${restorePoint.name}, into a new data directory): ${restoreCommand}`
            : `Restore the pre-deploy backup: ${restoreCommand}${req.restore.backup ? '' : ' (no pre-deploy backup was recorded by the gate: --latest picks the newest backup; check it is of this database first)'}`,
        lockTimeout,
      },
    };
  } finally {
    await releasePrismaLock(s);
  }
}

/**
 * `dbops rollback --to X`: the paired rollbacks of every migration applied after X, newest first, then
 * the state. `names` is what the gate approved (rollbackSet at gate time).
 */
export async function executeRollback(s: Session, req: EngineRequest & { names: string[] }, io: EngineIo): Promise<Execution> {
  const before = await fingerprint(s);
  const restorePoint = req.restore.restorePoint ? await createRestorePoint(s, req.restore.restorePoint, io) : undefined;
  const point = restorePoint ? { restorePoint } : {};
  await acquireAdvisoryLock(s, parseDuration(req.executor.advisory_lock_timeout) ?? 10_000);
  try {
    const run = req.names.length > 0 ? await rollbackMigrations(s, req.names, req.rollbacksDir, req.executor, io) : { ok: true, steps: [] };
    const after = await fingerprint(s);
    const finalState = await finalStateOf(s, req.local, before, after);
    if (run.ok) return { outcome: 'succeeded', steps: run.steps, smoke: [], finalState, restoreCommand: null, failure: null, ...point };
    const restoreCommand = restoreCommandFor(req.restore);
    return {
      outcome: 'failed',
      ...point,
      steps: run.steps,
      smoke: [],
      finalState,
      restoreCommand,
      failure: {
        message: `Rollback of ${req.environment.name} failed: ${'problem' in run ? run.problem : ''}.`,
        hint: restorePoint
          ? `Restore the database as it was before this rollback (its restore point ${restorePoint.name}) instead: ${restoreCommand}`
          : `Restore the pre-deploy backup instead: ${restoreCommand}`,
        lockTimeout: false,
      },
    };
  } finally {
    await releasePrismaLock(s);
  }
}

/** The database's own error line out of a P3018 text. */
const firstLine = (text: string) => (/Database error:\n(.+)/.exec(text)?.[1] ?? text.split('\n')[0] ?? text).trim();
