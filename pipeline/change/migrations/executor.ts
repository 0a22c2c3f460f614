import { parseDuration, sleep } from '../../core/duration.ts';
import { connect, isPgError, type Client } from '../../infra/db/client.ts';
import { quoteIdent } from '../../infra/db/url.ts';
import type { ExecutorPolicy } from '../../policy/schema.ts';
import { checksum } from './checksum.ts';
import { finishedSql, insertFailedRow, insertStartedRow, markFinished, recordLogs, type Session } from './history.ts';
import { p3018Message, sqlState, type DatabaseErrorContext } from './messages.ts';
import type { ExecutionPlan, Segment } from './plan.ts';

/** A session that held a lock the migration waited for (from pg_blocking_pids while it waited). */
export interface Blocker {
  pid: number;
  user: string;
  application: string;
  state: string;
  /** How long the blocker's transaction had been open when seen. */
  transactionAge: string | null;
  query: string;
}

export interface InvalidIndex {
  schema: string;
  index: string;
  table: string;
  /** SQL that removes it. */
  cleanup: string;
}

export interface MigrationTimeouts {
  lockTimeoutMs: number;
  statementTimeoutMs: number;
  lockRetries: number;
}

interface Applied {
  ok: true;
  durationMs: number;
  lockRetries: number;
  blockers: Blocker[];
}

export interface Failed {
  ok: false;
  durationMs: number;
  lockRetries: number;
  blockers: Blocker[];
  sqlstate: string | null;
  /** P3018 text, also written to `logs`. */
  message: string;
  /** Lock timeout after the last retry: an environment problem (exit 3), not a broken migration. */
  lockTimeout: boolean;
  /** Whether a `_prisma_migrations` row records the failure (not for an atomic migration that gave up on a lock: nothing happened). */
  recorded: boolean;
  segmentsCommitted: number;
  invalidIndexes: InvalidIndex[];
}

export type Outcome = Applied | Failed;

export interface ExecutorEvents {
  retry(info: { attempt: number; of: number; waitMs: number; blockers: Blocker[]; segment?: Segment | undefined }): void;
  /**
   * Called inside an atomic migration's transaction after its script ran and before COMMIT, on the
   * migration's own connection: every lock the migration took is still held there (rehearse reads them).
   * Must not throw.
   */
  beforeCommit?(client: Client): Promise<void>;
}

const ms = (d: string) => parseDuration(d) ?? 0;

export function timeoutsFor(policy: ExecutorPolicy, name: string): MigrationTimeouts {
  const o = policy.overrides[name] ?? {};
  return {
    lockTimeoutMs: ms(o.lock_timeout ?? policy.lock_timeout),
    statementTimeoutMs: ms(o.statement_timeout ?? policy.statement_timeout),
    lockRetries: o.lock_retries ?? policy.lock_retries,
  };
}

export const isLockTimeout = (e: unknown) => isPgError(e) && e.code === '55P03';

/** Wait before lock-timeout retry `attempt` (0-based): retry_backoff doubled each time, capped, with jitter so retrying deploys do not collide. */
export const retryBackoffMs = (policy: ExecutorPolicy, attempt: number): number =>
  Math.round(Math.min(ms(policy.retry_backoff_max), ms(policy.retry_backoff) * 2 ** attempt) * (0.5 + Math.random() * 0.5));

/**
 * Watches, from a second connection, which sessions block the migration's backend while it waits for a
 * lock. pg_blocking_pids only answers while the wait lasts, so it is sampled during execution, starting a
 * quarter of lock_timeout in (fast migrations never pay for a query). The connection is opened before the
 * first migration: opening it during a wait could take longer than lock_timeout on a busy server.
 */
class BlockerWatch {
  #client: Client | undefined;
  #timer: NodeJS.Timeout | undefined;
  #seen = new Map<number, Blocker>();
  readonly s: Session;
  readonly lockTimeoutMs: number;
  constructor(s: Session, lockTimeoutMs: number) {
    this.s = s;
    this.lockTimeoutMs = lockTimeoutMs;
  }

  async connect(): Promise<void> {
    this.#client ??= await connect(this.s.target, { log: this.s.log, applicationName: 'dbops migrate deploy (lock watch)' });
  }

  start(): void {
    this.#seen.clear();
    const first = Math.min(250, Math.max(10, this.lockTimeoutMs / 4));
    const tick = async () => {
      try {
        await this.connect();
        const { rows } = await this.#client!.query<Blocker>(
          `SELECT a.pid, a.usename AS "user", a.application_name AS application, a.state,
                  to_char(now() - a.xact_start, 'HH24:MI:SS') AS "transactionAge", left(a.query, 300) AS query
             FROM pg_stat_activity a WHERE a.pid = ANY(pg_blocking_pids($1))`,
          [this.s.pid],
        );
        for (const r of rows) this.#seen.set(r.pid, r);
      } catch (e) {
        this.s.log.debug({ err: (e as Error).message }, 'lock watch query failed');
      }
      if (this.#timer) this.#timer = setTimeout(tick, 200);
    };
    this.#timer = setTimeout(tick, first);
  }

  stop(): Blocker[] {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    return [...this.#seen.values()];
  }

  async close(): Promise<void> {
    this.stop();
    await this.#client?.end().catch(() => undefined);
  }
}

export class Executor {
  readonly #watch: BlockerWatch;
  readonly s: Session;
  readonly policy: ExecutorPolicy;
  readonly events: ExecutorEvents;
  readonly signal: AbortSignal;
  constructor(s: Session, policy: ExecutorPolicy, events: ExecutorEvents, signal: AbortSignal) {
    this.s = s;
    this.policy = policy;
    this.events = events;
    this.signal = signal;
    this.#watch = new BlockerWatch(s, ms(policy.lock_timeout));
  }

  close(): Promise<void> {
    return this.#watch.close();
  }


  /** Runs one message while the watcher samples blockers; they are returned, or attached to the error. */
  async #watched(fn: () => Promise<unknown>): Promise<Blocker[]> {
    this.#watch.start();
    try {
      await fn();
      return this.#watch.stop();
    } catch (e) {
      (e as { blockers?: Blocker[] }).blockers = this.#watch.stop();
      throw e;
    }
  }

  async apply(name: string, script: string, plan: ExecutionPlan): Promise<Outcome> {
    const t = timeoutsFor(this.policy, name);
    if (t.lockTimeoutMs > 0) await this.#watch.connect();
    return plan.mode === 'atomic' ? this.#applyAtomic(name, script, t) : this.#applySplit(name, script, plan.segments, t);
  }

  /**
   * BEGIN; row; script (one simple-query message); finished; COMMIT. The row commits with the migration or
   * not at all, so after a crash, kill -9 or failure the table never claims more (or less) than what happened.
   */
  async #applyAtomic(name: string, script: string, t: MigrationTimeouts): Promise<Outcome> {
    const c = this.s.client;
    const sum = checksum(script);
    const started = Date.now();
    let blockers: Blocker[] = [];
    for (let attempt = 0; ; attempt++) {
      let startedAt: string | undefined;
      try {
        // Four round trips per migration: the bookkeeping rides along with BEGIN and COMMIT.
        await c.query(`BEGIN; SET LOCAL lock_timeout = ${t.lockTimeoutMs}; SET LOCAL statement_timeout = ${t.statementTimeoutMs}`);
        const row = await insertStartedRow(this.s, name, sum);
        startedAt = row.startedAt;
        blockers = mergeBlockers(blockers, await this.#watched(() => c.query(script)));
        if (this.events.beforeCommit) await this.events.beforeCommit(c);
        await c.query(`${finishedSql(this.s, row.id)}; COMMIT`);
        return { ok: true, durationMs: Date.now() - started, lockRetries: attempt, blockers };
      } catch (e) {
        await c.query('ROLLBACK').catch(() => undefined);
        blockers = mergeBlockers(blockers, blockersOf(e));
        if (isLockTimeout(e) && attempt < t.lockRetries && !this.signal.aborted) {
          const waitMs = retryBackoffMs(this.policy, attempt);
          this.events.retry({ attempt: attempt + 1, of: t.lockRetries, waitMs, blockers: blockersOf(e) });
          await sleep(waitMs, this.signal);
          continue;
        }
        const message = p3018Message(name, e, { script, sent: script, sentStartLine: 1 });
        const lockTimeout = isLockTimeout(e);
        // A lock timeout changed nothing and is worth simply re-running; anything else is recorded as Prisma records it.
        if (!lockTimeout) await insertFailedRow(this.s, name, sum, startedAt ?? new Date().toISOString(), message);
        return { ok: false, durationMs: Date.now() - started, lockRetries: attempt, blockers, sqlstate: sqlState(e), message, lockTimeout, recorded: !lockTimeout, segmentsCommitted: 0, invalidIndexes: [] };
      }
    }
  }

  /**
   * Segments as planned. The row is written first and committed on its own (as Prisma does), because
   * segments commit separately: after a crash it truthfully says "started, not finished".
   */
  async #applySplit(name: string, script: string, segments: Segment[], t: MigrationTimeouts): Promise<Outcome> {
    const c = this.s.client;
    const sum = checksum(script);
    const started = Date.now();
    const { id } = await insertStartedRow(this.s, name, sum);
    await c.query(`SET lock_timeout = ${t.lockTimeoutMs}; SET statement_timeout = ${t.statementTimeoutMs}`);
    let blockers: Blocker[] = [];
    let retries = 0;
    try {
      for (let i = 0; i < segments.length; ) {
        const segment = segments[i]!;
        try {
          blockers = mergeBlockers(blockers, await this.#watched(() => c.query(segment.sql)));
          i++;
        } catch (e) {
          await c.query('ROLLBACK').catch(() => undefined); // leaves a transaction the file opened, if any
          blockers = mergeBlockers(blockers, blockersOf(e));
          if (isLockTimeout(e) && retries < t.lockRetries && !this.signal.aborted) {
            retries++;
            if (segment.concurrentIndex) await this.#dropInvalidIndex(segment.concurrentIndex);
            const waitMs = retryBackoffMs(this.policy, retries - 1);
            this.events.retry({ attempt: retries, of: t.lockRetries, waitMs, blockers: blockersOf(e), segment });
            await sleep(waitMs, this.signal);
            i = segment.retryFrom;
            continue;
          }
          const ctx: DatabaseErrorContext = { script, sent: segment.sql, sentStartLine: segment.line };
          const message = p3018Message(name, e, ctx);
          await recordLogs(this.s, id, message);
          const invalidIndexes = segment.concurrent ? await this.#invalidIndexes() : [];
          // Segments before retryFrom committed; from there on (an open BEGIN of the file included) they rolled back.
          return { ok: false, durationMs: Date.now() - started, lockRetries: retries, blockers, sqlstate: sqlState(e), message, lockTimeout: isLockTimeout(e), recorded: true, segmentsCommitted: segment.retryFrom, invalidIndexes };
        }
      }
      await markFinished(this.s, id);
      return { ok: true, durationMs: Date.now() - started, lockRetries: retries, blockers };
    } finally {
      await c.query('RESET lock_timeout; RESET statement_timeout').catch(() => undefined);
    }
  }

  /** A CREATE INDEX CONCURRENTLY that timed out leaves an INVALID index of that name; it must go before the retry. */
  async #dropInvalidIndex(indexName: string): Promise<void> {
    const leftovers = (await this.#invalidIndexes()).filter((i) => i.index === indexName);
    for (const idx of leftovers) await this.s.client.query(idx.cleanup);
  }

  async #invalidIndexes(): Promise<InvalidIndex[]> {
    const { rows } = await this.s.client.query<{ schema: string; index: string; table: string }>(
      `SELECT n.nspname AS schema, c.relname AS index, t.relname AS table
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE NOT i.indisvalid AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
        ORDER BY 1, 2`,
    );
    return rows.map((r) => ({ ...r, cleanup: `DROP INDEX CONCURRENTLY IF EXISTS ${quoteIdent(r.schema)}.${quoteIdent(r.index)};` }));
  }
}

const blockersOf = (e: unknown): Blocker[] => (e as { blockers?: Blocker[] }).blockers ?? [];

function mergeBlockers(known: Blocker[], more: Blocker[]): Blocker[] {
  const byPid = new Map(known.map((b) => [b.pid, b]));
  for (const b of more) byPid.set(b.pid, b);
  return [...byPid.values()];
}

export const describeBlocker = (b: Blocker): string =>
  `pid ${b.pid} (user ${b.user}${b.application ? `, ${b.application}` : ''}, ${b.state}${b.transactionAge ? `, transaction open ${b.transactionAge}` : ''}): ${b.query.replace(/\s+/g, ' ').trim()}`;
