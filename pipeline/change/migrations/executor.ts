import { randomUUID } from 'node:crypto';
import { parseDuration, sleep } from '../../core/duration.ts';
import { connect, isPgError, type Client } from '../../infra/db/client.ts';
import { quoteIdent, quoteLiteral } from '../../infra/db/url.ts';
import type { ExecutorPolicy } from '../../policy/schema.ts';
import { checksum } from './checksum.ts';
import { finishedSql, insertFailedRow, recordLogs, startedRowSql, type Session } from './history.ts';
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
  /** The server's error with its SQLSTATE and, for a split script, where it stopped: for rollbacks, which have no P3018. */
  detail: string;
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

/**
 * What the executor records around a script, so migrations and their rollbacks run the same way (atomic
 * in one transaction, or split with retries) and differ only here: a migration writes its
 * `_prisma_migrations` row as Prisma does; a rollback sets `rolled_back_at` on the row of the migration it
 * undoes, as `prisma migrate resolve --rolled-back` does.
 */
export interface Bookkeeping {
  /** SQL run before the script: in its transaction when atomic, committed on its own before the first segment otherwise ('' for none). */
  startSql(): string;
  /** SQL run after the script, in the same transaction when atomic: the record commits with the change or not at all. */
  finishSql(): string;
  /** After a failure (the transaction of an atomic script rolled back) that ran `ranMs`: returns whether a row records it. */
  failed(message: string, lockTimeout: boolean, atomic: boolean, ranMs: number): Promise<boolean>;
}

/** A migration's row in `_prisma_migrations`, exactly as `prisma migrate deploy` writes it. */
export function migrationBookkeeping(s: Session, name: string, script: string): Bookkeeping {
  const sum = checksum(script);
  const id = randomUUID();
  return {
    startSql: () => startedRowSql(s, id, name, sum),
    finishSql: () => finishedSql(s, id),
    async failed(message, lockTimeout, atomic, ranMs) {
      if (!atomic) {
        await recordLogs(s, id, message);
        return true;
      }
      // A lock timeout changed nothing and is worth simply re-running; anything else is recorded as Prisma records it.
      if (lockTimeout) return false;
      await insertFailedRow(s, name, sum, ranMs, message);
      return true;
    },
  };
}

/** A rollback script: on success the migration's live row is marked rolled back; a failure changes no row. */
export function rollbackBookkeeping(s: Session, name: string): Bookkeeping {
  return {
    startSql: () => '',
    finishSql: () => `UPDATE ${s.table} SET rolled_back_at = clock_timestamp() WHERE migration_name = ${quoteLiteral(name)} AND rolled_back_at IS NULL`,
    failed: async () => false,
  };
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

  /** Applies a migration and records it in `_prisma_migrations` as Prisma does. */
  apply(name: string, script: string, plan: ExecutionPlan): Promise<Outcome> {
    return this.run(name, script, plan, migrationBookkeeping(this.s, name, script));
  }

  /** Runs a script with the given bookkeeping: atomic in one transaction, or segment by segment, lock timeouts retried. */
  async run(name: string, script: string, plan: ExecutionPlan, books: Bookkeeping): Promise<Outcome> {
    const t = timeoutsFor(this.policy, name);
    if (t.lockTimeoutMs > 0) await this.#watch.connect();
    return plan.mode === 'atomic' ? this.#runAtomic(name, script, t, books) : this.#runSplit(name, script, plan.segments, t, books);
  }

  /**
   * BEGIN; row; script, then finished; COMMIT. The row commits with the migration or not at all, so after
   * a crash, kill -9 or failure the table never claims more (or less) than what happened. Two round trips:
   * the bookkeeping rides in the script's message (the server runs its statements in order and stops at
   * the first error) and in COMMIT's. COMMIT stays a message of its own on purpose: a client killed while
   * the script runs never sends it, so nothing of the migration commits after its deploy died.
   */
  async #runAtomic(name: string, script: string, t: MigrationTimeouts, books: Bookkeeping): Promise<Outcome> {
    const c = this.s.client;
    const started = Date.now();
    let blockers: Blocker[] = [];
    const start = books.startSql();
    // One line before the script, so that an error position in the message maps to the file's lines (sentStartLine 0).
    const sent = `BEGIN; SET LOCAL lock_timeout = ${t.lockTimeoutMs}; SET LOCAL statement_timeout = ${t.statementTimeoutMs};${start ? ` ${start};` : ''}\n${script}`;
    for (let attempt = 0; ; attempt++) {
      try {
        blockers = mergeBlockers(blockers, await this.#watched(() => c.query(sent)));
        if (this.events.beforeCommit) await this.events.beforeCommit(c);
        // On its own line: a script that ends in a `-- comment` cannot swallow it (it is another message anyway).
        await c.query(`${books.finishSql()}; COMMIT`);
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
        const message = p3018Message(name, e, { script, sent, sentStartLine: 0 });
        const lockTimeout = isLockTimeout(e);
        const recorded = await books.failed(message, lockTimeout, true, Date.now() - started);
        return {
          ok: false,
          durationMs: Date.now() - started,
          lockRetries: attempt,
          blockers,
          sqlstate: sqlState(e),
          message,
          detail: detailOf(e),
          lockTimeout,
          recorded,
          segmentsCommitted: 0,
          invalidIndexes: [],
        };
      }
    }
  }

  /**
   * Segments as planned. The row is written first and committed on its own (as Prisma does), because
   * segments commit separately: after a crash it truthfully says "started, not finished".
   */
  async #runSplit(name: string, script: string, segments: Segment[], t: MigrationTimeouts, books: Bookkeeping): Promise<Outcome> {
    const c = this.s.client;
    const started = Date.now();
    const start = books.startSql();
    if (start) await c.query(start);
    await c.query(`SET lock_timeout = ${t.lockTimeoutMs}; SET statement_timeout = ${t.statementTimeoutMs}`);
    let blockers: Blocker[] = [];
    let retries = 0;
    try {
      for (let i = 0; i < segments.length;) {
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
          const recorded = await books.failed(message, isLockTimeout(e), false, Date.now() - started);
          const invalidIndexes = segment.concurrent ? await this.#invalidIndexes() : [];
          const detail = `${detailOf(e)} at line ${segment.line} (${segment.label}); the steps before it committed`;
          // Segments before retryFrom committed; from there on (an open BEGIN of the file included) they rolled back.
          return {
            ok: false,
            durationMs: Date.now() - started,
            lockRetries: retries,
            blockers,
            sqlstate: sqlState(e),
            message,
            detail,
            lockTimeout: isLockTimeout(e),
            recorded,
            segmentsCommitted: segment.retryFrom,
            invalidIndexes,
          };
        }
      }
      await c.query(books.finishSql());
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

/** The server's error as one line, with its SQLSTATE. */
const detailOf = (e: unknown): string => `${(e as Error).message}${isPgError(e) && e.code ? ` (SQLSTATE ${e.code})` : ''}`;

const blockersOf = (e: unknown): Blocker[] => (e as { blockers?: Blocker[] }).blockers ?? [];

function mergeBlockers(known: Blocker[], more: Blocker[]): Blocker[] {
  const byPid = new Map(known.map((b) => [b.pid, b]));
  for (const b of more) byPid.set(b.pid, b);
  return [...byPid.values()];
}

export const describeBlocker = (b: Blocker): string =>
  `pid ${b.pid} (user ${b.user}${b.application ? `, ${b.application}` : ''}, ${b.state}${b.transactionAge ? `, transaction open ${b.transactionAge}` : ''}): ${b.query.replace(/\s+/g, ' ').trim()}`;
