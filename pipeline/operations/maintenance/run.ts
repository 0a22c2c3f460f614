import { parseDuration, sleep } from '../../core/duration.ts';
import { EnvError, RefusedError } from '../../core/errors.ts';
import { formatBytes, formatMs, names } from '../../core/format.ts';
import type { Runtime } from '../../core/runtime.ts';
import { isPgError, withClient, type Client } from '../../infra/db/client.ts';
import { acquireOperationLock } from '../../infra/db/locks.ts';
import { quoteIdent, type DbTarget } from '../../infra/db/url.ts';
import type { MaintenancePolicy } from '../../policy/maintenance.ts';
import { openTransactions, type MaintenanceFacts } from './facts.ts';
import { stopReason, windowStatus, type MaintenanceWindow, type RunLimits, type WindowStatus } from './limits.ts';
import { SCOPE_KINDS, type ActionKind, type MaintenanceAction, type MaintenancePlan, type MaintenanceScope } from './plan.ts';
import { surveyMaintenance } from './survey.ts';

/**
 * The maintenance applier: carries out a plan (plan.ts decides, this only executes) under the maintenance mode
 * of the lock protocol, and proves every action from the database afterwards instead of trusting that a
 * statement returned: VACUUM by a non-owner only warns and succeeds, which is exactly the silent failure this
 * guards against (so ownership is also checked before anything runs).
 */

export type OutcomeStatus = 'ok' | 'skipped' | 'failed';

export interface ActionOutcome {
  kind: ActionKind;
  target: string;
  table: string;
  sql: string;
  status: OutcomeStatus;
  /** What proved it (ok), why it was not run (skipped) or what went wrong (failed). */
  detail: string;
  /** Measured before and after: counters and timestamps of pg_stat_user_tables, or the index's size and state. */
  before: Record<string, number | string | boolean | null>;
  after: Record<string, number | string | boolean | null>;
  /** Bytes returned to the file system (table truncation, smaller index, dropped index). */
  reclaimedBytes: number;
  /** Statements executed, retries included; 0 when skipped before running. */
  attempts: number;
  durationMs: number;
}

export interface MaintenanceRun {
  database: string;
  dryRun: boolean;
  /** The plan as measured under the lock (the plan that would run, with --dry-run). */
  plan: MaintenancePlan;
  outcomes: ActionOutcome[];
  reclaimedBytes: number;
  counts: Record<OutcomeStatus, number>;
  durationMs: number;
  /** The environment's maintenance window as judged when the run started (absent: no window applies). */
  window?: WindowStatus;
  /** The time budget (`budget` of the policy, `0` = none), counted from when the maintenance lock was taken. */
  budget: { limit: string; startedAt: string | null };
  /** Why actions were skipped before their turn (window closed, budget spent), when and how many. */
  stopped?: { reason: string; at: string; skipped: number };
  /**
   * The cost-based throttling of VACUUM and ANALYZE: as the policy asks, and as the run's own session reports
   * it back (`current_setting`, i.e. SHOW) after the SET, so what the server used is on record. Null on --dry-run.
   */
  throttle: { costDelayMs: number; costLimit: number; effective: { vacuumCostDelay: string; vacuumCostLimit: string } } | null;
  /**
   * pgstattuple in this database: installed before the run, `created` by it (create_pgstattuple), `would-create`
   * (--dry-run with create_pgstattuple), or absent (the index bloat was estimated).
   */
  pgstattuple: 'installed' | 'created' | 'would-create' | 'absent';
}

/** What bounds a run besides the plan: the environment's window, and the clock (injectable for tests). */
export interface RunOptions {
  dryRun: boolean;
  scope?: MaintenanceScope;
  /** `--environment NAME` with a window in policies/maintenance.yaml. */
  window?: MaintenanceWindow;
  /** The clock windows and the budget are judged on (default: this machine's). */
  now?: () => Date;
}

export const RUN_APPLICATION_NAME = 'dbops maintain run';

const TABLE_KINDS = SCOPE_KINDS.tables;
/** Statistics are written when VACUUM and ANALYZE end, but another session's snapshot of them may lag: polled this long. */
const PROOF_POLL_MS = 5000;
const BACKOFF_FIRST_MS = 1000;
const BACKOFF_MAX_MS = 30_000;

const sqlName = (r: { schema: string; name: string }): string => `${quoteIdent(r.schema)}.${quoteIdent(r.name)}`;
const isLockTimeout = (e: unknown): boolean => isPgError(e) && e.code === '55P03';
const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** The relation an action is about, by the facts it was planned from (schema and name kept apart: names may hold dots). */
function relationOf(a: MaintenanceAction, facts: MaintenanceFacts): { schema: string; name: string } {
  const found = TABLE_KINDS.has(a.kind)
    ? facts.tables.find((t) => `${t.schema}.${t.name}` === a.target)
    : facts.indexes.find((i) => `${i.schema}.${i.name}` === a.target);
  if (!found) throw new Error(`maintain run: ${a.target} is in the plan but not in the facts it was planned from`);
  return { schema: found.schema, name: found.name };
}

/**
 * Refuses before anything runs when the connected role may not maintain a relation of the plan: it must own it,
 * be a member of its owner, or be superuser. PostgreSQL 15 has no pg_maintain role (17 does).
 */
async function checkOwnership(c: Client, relations: Array<{ schema: string; name: string; kind: ActionKind }>): Promise<void> {
  if (relations.length === 0) return;
  const { rows } = await c.query<{ schema: string; name: string; owner: string; ok: boolean; me: string; superuser: boolean }>(
    `SELECT t.schema, t.name, pg_get_userbyid(c.relowner) AS owner, pg_has_role(current_user, c.relowner, 'USAGE') AS ok,
            current_user AS me, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser
       FROM unnest($1::text[], $2::text[]) AS t(schema, name)
       JOIN pg_namespace n ON n.nspname = t.schema
       JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = t.name`,
    [relations.map((r) => r.schema), relations.map((r) => r.name)],
  );
  const denied = rows.filter((r) => !r.ok && !r.superuser);
  if (denied.length === 0) return;
  const me = denied[0]!.me;
  const owners = [...new Set(denied.map((r) => r.owner))];
  throw new RefusedError(
    `maintain run: the connected role ${me} does not own ${names(denied.map((r) => `${r.schema}.${r.name} (owner ${r.owner})`))}, so VACUUM would only warn and skip it (and exit 0), and REINDEX or DROP INDEX would fail. Nothing was run.`,
    {
      hint: `Run as the owner (${names(owners)}) or a role that is member of it: ${owners.map((o) => `GRANT ${quoteIdent(o)} TO ${quoteIdent(me)};`).join(' ')}`,
    },
  );
}

/** Runs one statement, retrying a lock timeout `policy.retries` times after 1 s, 2 s, 4 s … (with jitter); `cleanup` runs after every failure. */
async function withRetries(
  c: Client,
  sql: string,
  policy: MaintenancePolicy,
  rt: Runtime,
  cleanup?: () => Promise<void>,
): Promise<{ attempts: number; error?: unknown }> {
  for (let attempt = 0; ; attempt++) {
    try {
      await c.query(sql);
      return { attempts: attempt + 1 };
    } catch (e) {
      await cleanup?.();
      if (!isLockTimeout(e) || attempt >= policy.retries || rt.signal.aborted) return { attempts: attempt + 1, error: e };
      const wait = Math.round(Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** attempt) * (0.5 + Math.random() * 0.5));
      rt.progress(`  lock_timeout (${policy.lock_timeout}) hit; retry ${attempt + 1}/${policy.retries} in ${formatMs(wait)}`);
      await sleep(wait, rt.signal);
    }
  }
}

interface TableStats {
  vacuum_count: number;
  analyze_count: number;
  last_vacuum: string | null;
  last_analyze: string | null;
  n_dead_tup: number;
  heap_bytes: number;
}

async function tableStats(c: Client, r: { schema: string; name: string }): Promise<TableStats | undefined> {
  // This session's statistics snapshot would otherwise answer the same numbers again (stats_fetch_consistency).
  await c.query('SELECT pg_stat_clear_snapshot()');
  const { rows } = await c.query<Record<string, any>>(
    `SELECT vacuum_count::float8 AS vacuum_count, analyze_count::float8 AS analyze_count, last_vacuum, last_analyze,
            n_dead_tup::float8 AS n_dead_tup, pg_relation_size(relid)::float8 AS heap_bytes
       FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = $2`,
    [r.schema, r.name],
  );
  const s = rows[0];
  if (!s) return undefined;
  const iso = (v: Date | null) => (v ? v.toISOString() : null);
  return { ...(s as TableStats), last_vacuum: iso(s['last_vacuum']), last_analyze: iso(s['last_analyze']) };
}

interface IndexState {
  relfilenode: number;
  bytes: number;
  valid: boolean;
}

async function indexState(c: Client, r: { schema: string; name: string }): Promise<IndexState | undefined> {
  const { rows } = await c.query<IndexState>(
    `SELECT c.relfilenode::int8::float8 AS relfilenode, pg_relation_size(c.oid)::float8 AS bytes, x.indisvalid AS valid
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_index x ON x.indexrelid = c.oid
      WHERE n.nspname = $1 AND c.relname = $2`,
    [r.schema, r.name],
  );
  return rows[0];
}

/** The invalid `<index>_ccnew…` / `_ccold…` copies of an index a REINDEX CONCURRENTLY left (the names plan.ts recognises). */
async function concurrentLeftovers(c: Client, r: { schema: string; name: string }): Promise<Array<{ schema: string; name: string; bytes: number }>> {
  const { rows } = await c.query<{ schema: string; name: string; bytes: number }>(
    `SELECT n.nspname AS schema, c.relname AS name, pg_relation_size(c.oid)::float8 AS bytes
       FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE NOT x.indisvalid AND n.nspname = $1 AND left(c.relname, length($2)) = $2
        AND substr(c.relname, length($2) + 1) ~ '^_cc(new|old)[0-9]*$'
      ORDER BY 2`,
    [r.schema, r.name],
  );
  return rows;
}

/**
 * create_pgstattuple: installs pgstattuple before the survey, so the run decides on exact measures. Only the
 * applier does this (`maintain plan` and --dry-run never change the database). pgstattuple is not a trusted
 * extension: a role that may not create it is refused before anything else has run.
 */
async function ensurePgstattuple(c: Client, policy: MaintenancePolicy, rt: Runtime): Promise<'installed' | 'created' | 'absent'> {
  const { rows } = await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'pgstattuple'`);
  if (rows[0]!.n > 0) return 'installed';
  if (!policy.create_pgstattuple) return 'absent';
  rt.progress('pgstattuple is not installed and create_pgstattuple is true: CREATE EXTENSION IF NOT EXISTS pgstattuple …');
  try {
    await c.query('CREATE EXTENSION IF NOT EXISTS pgstattuple');
  } catch (e) {
    const hint =
      'Create it once as a superuser (CREATE EXTENSION pgstattuple;), or set create_pgstattuple: false in policies/maintenance.yaml to run on the btree estimate.';
    if (isPgError(e) && e.code === '42501')
      throw new RefusedError(
        `maintain run: create_pgstattuple is true, but the connected role may not create the pgstattuple extension (${message(e)}). Nothing was run.`,
        {
          hint,
          cause: e,
        },
      );
    throw new EnvError(`maintain run: CREATE EXTENSION pgstattuple failed: ${message(e)}. Nothing was run.`, {
      hint: `The server needs PostgreSQL's contrib modules (Debian/Ubuntu: the postgresql-<major> package ships them). ${hint}`,
      cause: e,
    });
  }
  return 'created';
}

/** The oldest transaction open at least the policy's long_transaction, judged at the server's clock. */
async function blockingTransaction(c: Client, policy: MaintenancePolicy): Promise<string | undefined> {
  const longMs = parseDuration(policy.long_transaction) ?? 0;
  const now = Date.parse((await c.query<{ now: Date }>('SELECT now() AS now')).rows[0]!.now.toISOString());
  const old = (await openTransactions(c)).find((x) => now - Date.parse(x.xactStart) >= longMs);
  if (!old) return undefined;
  const age = Math.round((now - Date.parse(old.xactStart)) / 1000);
  return `pid ${old.pid} (user ${old.user ?? '?'}, application ${old.application || '?'}, ${old.state ?? 'unknown state'}) has had a transaction open for ${age} s (≥ ${policy.long_transaction})`;
}

async function runTableAction(c: Client, a: MaintenanceAction, r: { schema: string; name: string }, policy: MaintenancePolicy, rt: Runtime) {
  const before = await tableStats(c, r);
  if (!before) return { status: 'failed' as const, detail: `${a.target} no longer exists`, before: {}, after: {}, reclaimedBytes: 0, attempts: 0 };
  const run = await withRetries(c, a.sql, policy, rt);
  let after = await tableStats(c, r);
  const vacuumed = (s: TableStats | undefined) => a.kind !== 'vacuum-analyze' || (s?.vacuum_count ?? 0) > before.vacuum_count;
  const analyzed = (s: TableStats | undefined) => (s?.analyze_count ?? 0) > before.analyze_count;
  for (const deadline = Date.now() + PROOF_POLL_MS; !run.error && !(vacuumed(after) && analyzed(after)) && Date.now() < deadline;) {
    await sleep(200, rt.signal);
    after = await tableStats(c, r);
  }
  const reclaimedBytes = Math.max(0, before.heap_bytes - (after?.heap_bytes ?? before.heap_bytes));
  const common = { before: { ...before }, after: { ...(after ?? {}) }, reclaimedBytes, attempts: run.attempts };
  if (run.error)
    return { ...common, status: 'failed' as const, detail: `${message(run.error)} (after ${run.attempts} attempt${run.attempts === 1 ? '' : 's'})` };
  if (!vacuumed(after) || !analyzed(after)) {
    const missing = [!vacuumed(after) && 'vacuum_count', !analyzed(after) && 'analyze_count'].filter(Boolean).join(' and ');
    return {
      ...common,
      status: 'failed' as const,
      detail: `the statement returned, but ${missing} of ${a.target} did not advance within ${formatMs(PROOF_POLL_MS)}: it was skipped`,
    };
  }
  const proof =
    a.kind === 'vacuum-analyze'
      ? `vacuum_count ${before.vacuum_count} → ${after!.vacuum_count}, analyze_count ${before.analyze_count} → ${after!.analyze_count}, dead tuples ${before.n_dead_tup} → ${after!.n_dead_tup}`
      : `analyze_count ${before.analyze_count} → ${after!.analyze_count}`;
  return { ...common, status: 'ok' as const, detail: proof };
}

async function runReindex(c: Client, a: MaintenanceAction, r: { schema: string; name: string }, policy: MaintenancePolicy, rt: Runtime) {
  const before = await indexState(c, r);
  if (!before) return { status: 'failed' as const, detail: `${a.target} no longer exists`, before: {}, after: {}, reclaimedBytes: 0, attempts: 0 };
  // A REINDEX CONCURRENTLY waits for every older transaction of the database, whatever table it touches, and
  // a cancelled one leaves an invalid copy still updated by every write: better not to start.
  const blocker = await blockingTransaction(c, policy);
  if (blocker)
    return {
      status: 'skipped' as const,
      detail: `${blocker}: REINDEX CONCURRENTLY would wait for it; rebuild when it has ended`,
      before: { ...before },
      after: { ...before },
      reclaimedBytes: 0,
      attempts: 0,
    };
  const existing = new Set((await concurrentLeftovers(c, r)).map((l) => l.name));
  const dropped: string[] = [];
  // Only the copies this rebuild left: older ones are drop-invalid actions of their own.
  const sweep = async () => {
    for (const l of await concurrentLeftovers(c, r)) {
      if (existing.has(l.name)) continue;
      // A drop that fails here is reported below as a leftover that remains.
      await c
        .query(`DROP INDEX CONCURRENTLY IF EXISTS ${sqlName(l)}`)
        .then(() => dropped.push(l.name))
        .catch(() => undefined);
    }
  };
  const run = await withRetries(c, a.sql, policy, rt, sweep);
  const after = await indexState(c, r);
  const left = (await concurrentLeftovers(c, r)).filter((l) => !existing.has(l.name)).map((l) => l.name);
  const reclaimedBytes = Math.max(0, before.bytes - (after?.bytes ?? before.bytes));
  const common = {
    before: { ...before },
    after: { ...(after ?? {}), leftovers: left.join(', ') || null, droppedLeftovers: dropped.join(', ') || null },
    reclaimedBytes,
    attempts: run.attempts,
  };
  const swept =
    (dropped.length > 0 ? `; dropped the invalid copies it left (${dropped.join(', ')})` : '') +
    (left.length > 0 ? `; invalid copies remain, drop them: ${left.join(', ')}` : '');
  if (run.error)
    return { ...common, status: 'failed' as const, detail: `${message(run.error)} (after ${run.attempts} attempt${run.attempts === 1 ? '' : 's'})${swept}` };
  const problems = [
    !after && `${a.target} is gone`,
    after && !after.valid && `${a.target} is INVALID`,
    after && after.relfilenode === before.relfilenode && 'its file did not change (not rebuilt)',
  ].filter((p): p is string => typeof p === 'string');
  if (problems.length > 0 || left.length > 0)
    return { ...common, status: 'failed' as const, detail: `the statement returned, but ${problems.join('; ') || 'not cleanly'}${swept}` };
  return { ...common, status: 'ok' as const, detail: `rebuilt: ${formatBytes(before.bytes)} → ${formatBytes(after!.bytes)}, valid, no leftovers${swept}` };
}

async function runDrop(c: Client, a: MaintenanceAction, r: { schema: string; name: string }, policy: MaintenancePolicy, rt: Runtime) {
  const before = await indexState(c, r);
  if (!before) return { status: 'ok' as const, detail: `${a.target} was already gone`, before: {}, after: {}, reclaimedBytes: 0, attempts: 0 };
  const run = await withRetries(c, a.sql, policy, rt);
  const after = await indexState(c, r);
  const common = { before: { ...before }, after: { exists: after !== undefined }, reclaimedBytes: after ? 0 : before.bytes, attempts: run.attempts };
  if (run.error)
    return { ...common, status: 'failed' as const, detail: `${message(run.error)} (after ${run.attempts} attempt${run.attempts === 1 ? '' : 's'})` };
  if (after) return { ...common, status: 'failed' as const, detail: `the statement returned, but ${a.target} still exists` };
  return { ...common, status: 'ok' as const, detail: `dropped, ${formatBytes(before.bytes)} returned` };
}

/**
 * `maintain run`: refuses while the environment's window is closed; takes the maintenance lock (waiting for
 * deploys and backups up to operation_wait), creates pgstattuple when the policy asks, measures and plans under
 * the lock, refuses when the role may not maintain a planned relation, throttles the session, then runs VACUUM /
 * ANALYZE per table, re-measures and rebuilds the indexes still over the threshold, and drops the invalid
 * leftovers; each proven. Before each action the window and the budget are judged again (limits.ts): once one
 * says stop, the remaining actions are skipped with its reason. `dryRun`: the plan only, no lock, no statement.
 */
export async function runMaintenance(target: DbTarget, policy: MaintenancePolicy, rt: Runtime, options: RunOptions): Promise<MaintenanceRun> {
  const scope = options.scope ?? 'all';
  const now = options.now ?? (() => new Date());
  const started = performance.now();
  const window = options.window ? windowStatus(options.window, now()) : undefined;
  let budgetStart: Date | null = null;
  let stopped: { reason: string; at: string; skipped: number } | undefined;
  let throttle: MaintenanceRun['throttle'] = null;
  let pgstattuple: MaintenanceRun['pgstattuple'] = 'absent';
  const finish = (plan: MaintenancePlan, outcomes: ActionOutcome[]): MaintenanceRun => ({
    database: plan.database,
    dryRun: options.dryRun,
    plan,
    outcomes,
    reclaimedBytes: outcomes.reduce((n, o) => n + o.reclaimedBytes, 0),
    counts: {
      ok: outcomes.filter((o) => o.status === 'ok').length,
      skipped: outcomes.filter((o) => o.status === 'skipped').length,
      failed: outcomes.filter((o) => o.status === 'failed').length,
    },
    durationMs: Math.round(performance.now() - started),
    ...(window ? { window } : {}),
    budget: { limit: policy.budget, startedAt: budgetStart?.toISOString() ?? null },
    ...(stopped ? { stopped } : {}),
    throttle,
    pgstattuple,
  });
  if (options.dryRun) {
    const { plan } = await surveyMaintenance(target, policy, rt, scope);
    pgstattuple = plan.pgstattuple ? 'installed' : policy.create_pgstattuple ? 'would-create' : 'absent';
    return finish(plan, []);
  }
  // A closed window refuses before the first connection: a scheduled run that started late (queued behind a
  // backup) must not touch production outside its window, and must not pass silently either (exit 1).
  if (window && !window.open)
    throw new RefusedError(`maintain run: ${window.summary}. Nothing was run.`, {
      hint: `Run it inside the window (policies/maintenance.yaml windows.${window.environment}), or see what it would do with --dry-run.`,
    });

  return withClient(target, { log: rt.log, applicationName: RUN_APPLICATION_NAME }, async (c) => {
    // The maintenance mode of the lock protocol (infra/db/locks.ts): exclusive against deploys and backups.
    await acquireOperationLock(c, 'maintenance', {
      waitMs: parseDuration(policy.operation_wait) ?? 0,
      signal: rt.signal,
      what: 'Maintenance',
      onWait: (holder) => rt.progress(`Waiting for ${holder} to finish (maintenance waits for deploys and backups, up to ${policy.operation_wait}) …`),
    });
    // The budget bounds the work on the database, not the wait for deploys and backups (operation_wait does).
    const startedAt = now();
    budgetStart = startedAt;
    const limits: RunLimits = {
      ...(options.window ? { window: options.window } : {}),
      ...(window?.closesAt ? { closesAt: new Date(window.closesAt) } : {}),
      budget: policy.budget,
      budgetMs: parseDuration(policy.budget) ?? 0,
      startedAt,
    };
    pgstattuple = await ensurePgstattuple(c, policy, rt);
    const { facts, plan } = await surveyMaintenance(target, policy, rt, scope);
    const relations = plan.actions.map((a) => ({ ...relationOf(a, facts), kind: a.kind }));
    await checkOwnership(c, relations);
    await c.query(`SET lock_timeout = ${parseDuration(policy.lock_timeout) ?? 0}`);
    // A manual VACUUM is unthrottled (vacuum_cost_delay 0) unlike autovacuum: on a busy database it would take
    // the I/O the traffic needs. The session's settings are read back, so the report shows what the server uses.
    const { cost_delay: costDelay, cost_limit: costLimit } = policy.throttle;
    await c.query(`SET vacuum_cost_delay = ${costDelay}; SET vacuum_cost_limit = ${costLimit}`);
    const shown = (
      await c.query<{ delay: string; limit: string }>(`SELECT current_setting('vacuum_cost_delay') AS delay, current_setting('vacuum_cost_limit') AS limit`)
    ).rows[0]!;
    throttle = { costDelayMs: costDelay, costLimit, effective: { vacuumCostDelay: shown.delay, vacuumCostLimit: shown.limit } };

    const outcomes: ActionOutcome[] = [];
    const total = plan.actions.length;
    let n = 0;
    /** Why the remaining actions may not start; once decided, it holds for the rest of the run. */
    const limitReached = (remaining: number): string | undefined => {
      if (stopped) return stopped.reason;
      const at = now();
      const reason = stopReason(limits, at);
      if (reason) {
        stopped = { reason, at: at.toISOString(), skipped: 0 };
        rt.progress(`Stopping: ${reason}; the ${remaining} remaining action${remaining === 1 ? ' is' : 's are'} skipped.`);
      }
      return reason;
    };
    const record = async (
      a: MaintenanceAction,
      body: () => Promise<Omit<ActionOutcome, 'kind' | 'target' | 'table' | 'sql' | 'durationMs'>>,
    ): Promise<void> => {
      n++;
      const head = { kind: a.kind, target: a.target, table: a.table, sql: a.sql };
      const skip = { before: {}, after: {}, reclaimedBytes: 0, attempts: 0, durationMs: 0 };
      if (rt.signal.aborted) {
        outcomes.push({ ...head, status: 'skipped', detail: 'cancelled before it ran', ...skip });
        return;
      }
      const limit = limitReached(total - n + 1);
      if (limit) {
        stopped!.skipped++;
        outcomes.push({ ...head, status: 'skipped', detail: `not started: ${limit}`, ...skip });
        return;
      }
      rt.progress(`[${n}/${total}] ${a.sql} …`);
      const t0 = performance.now();
      const o: ActionOutcome = { ...head, ...(await body()), durationMs: Math.round(performance.now() - t0) };
      rt.progress(`  ${o.status}: ${o.detail}`);
      outcomes.push(o);
    };

    const byKind = (k: ActionKind) => plan.actions.filter((a) => a.kind === k);
    for (const a of plan.actions.filter((x) => TABLE_KINDS.has(x.kind))) await record(a, () => runTableAction(c, a, relationOf(a, facts), policy, rt));

    const rebuilds = byKind('reindex');
    if (rebuilds.length > 0) {
      // Judged again now that VACUUM has removed the dead rows' entries: only what is still over the threshold is
      // rebuilt. Past the window or the budget there is nothing to judge: `record` skips each rebuild.
      let again: Awaited<ReturnType<typeof surveyMaintenance>> | undefined;
      if (limitReached(total - n) === undefined) {
        rt.progress(`Measuring the ${rebuilds.length} index${rebuilds.length === 1 ? '' : 'es'} planned for REINDEX again after VACUUM …`);
        // Only the rebuilds' tables are read again with pgstattuple: the rest of the database was just measured.
        again = await surveyMaintenance(target, policy, rt, scope, new Set(rebuilds.map((a) => a.table)));
      }
      const still = new Map(again?.plan.actions.filter((a) => a.kind === 'reindex').map((a) => [a.target, a]));
      for (const a of rebuilds) {
        if (again && !still.has(a.target)) {
          const i = again.facts.indexes.find((x) => `${x.schema}.${x.name}` === a.target);
          await record(a, async () => ({
            status: 'skipped',
            detail: `re-measured after VACUUM, no longer ≥ ${policy.indexes.reclaimable_ratio * 100} % reclaimable (or below ${policy.indexes.min_size}): not rebuilt`,
            before: { bytes: a.measurement['bytes'] ?? null },
            after: { bytes: i?.bytes ?? null },
            reclaimedBytes: 0,
            attempts: 0,
          }));
        } else await record(a, () => runReindex(c, a, relationOf(a, facts), policy, rt));
      }
    }
    for (const a of byKind('drop-invalid')) await record(a, () => runDrop(c, a, relationOf(a, facts), policy, rt));
    return finish(plan, outcomes);
  });
}
