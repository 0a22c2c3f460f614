import { sleep } from '../../core/duration.ts';
import type { Logger } from '../../core/logger.ts';
import { connect, withClient, type Client } from '../../infra/db/client.ts';
import { quoteIdent, type DbTarget } from '../../infra/db/url.ts';
import type { ProbeQuery } from './timeline.ts';

export interface ProbeSpec {
  table: string;
  operation: 'read' | 'write';
}

interface Probe extends ProbeSpec {
  client: Client;
  pid: number;
  /** A prepared statement (name set) or a simple-query message (several statements). */
  query: { text: string; name?: string };
  queries: ProbeQuery[];
  loop?: Promise<void>;
}

/** How long stop() waits for a probe stuck behind a lock before cancelling it. */
const STOP_GRACE_MS = 10_000;

/**
 * The probe workload: for each table, one connection reads (`SELECT … LIMIT 1`) and one writes in a
 * loop while the migration runs. The write changes nothing: one row is updated to its own value inside
 * a transaction that is rolled back, sent as a single message so its row lock lives for microseconds.
 * What is measured is how long ordinary traffic on the table waits for the migration's locks.
 */
export class ProbeWorkload {
  readonly #probes: Probe[] = [];
  #running = false;
  #t0 = 0;
  readonly target: DbTarget;
  readonly log: Logger;
  readonly intervalMs: number;

  constructor(target: DbTarget, log: Logger, intervalMs: number) {
    this.target = target;
    this.log = log;
    this.intervalMs = intervalMs;
  }

  /** Opens the connections (before the migration starts, so connecting never counts as waiting). */
  async connect(schema: string, tables: string[]): Promise<void> {
    for (const table of tables) {
      const column = await this.#updateColumn(schema, table);
      const rel = `${quoteIdent(schema)}.${quoteIdent(table)}`;
      // The read is prepared (planned once, like an application's statement cache); it selects a constant
      // so a column added by the migration does not change its result type.
      const specs: Array<[ProbeSpec['operation'], Probe['query']]> = [['read', { name: 'dbops_probe_read', text: `SELECT 1 FROM ${rel} LIMIT 1` }]];
      if (column)
        specs.push([
          'write',
          { text: `BEGIN; UPDATE ${rel} SET ${quoteIdent(column)} = ${quoteIdent(column)} WHERE ctid = (SELECT ctid FROM ${rel} LIMIT 1); ROLLBACK` },
        ]);
      for (const [operation, query] of specs) {
        const client = await connect(this.target, { log: this.log, applicationName: `dbops rehearse (probe ${operation} ${table})`.slice(0, 63) });
        const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        this.#probes.push({ table, operation, client, pid: rows[0]!.pid, query, queries: [] });
      }
    }
  }

  /** The column a write probe sets to itself: the first primary-key column (never dropped by a migration in practice), else the first column. */
  async #updateColumn(schema: string, table: string): Promise<string | undefined> {
    const { rows } = await withClient(this.target, { log: this.log, applicationName: 'dbops rehearse (probe setup)' }, (c) =>
      c.query<{ attname: string }>(
        `SELECT a.attname FROM pg_attribute a
           JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
           LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary AND a.attnum = ANY(i.indkey)
          WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' AND a.attidentity <> 'a'
          ORDER BY i.indrelid IS NULL, a.attnum LIMIT 1`,
        [schema, table],
      ),
    );
    return rows[0]?.attname;
  }

  get pids(): number[] {
    return this.#probes.map((p) => p.pid);
  }

  get specs(): Array<ProbeSpec & { pid: number; queries: ProbeQuery[] }> {
    return this.#probes.map(({ table, operation, pid, queries }) => ({ table, operation, pid, queries }));
  }

  start(t0: number): void {
    this.#t0 = t0;
    this.#running = true;
    for (const p of this.#probes) p.loop = this.#run(p);
  }

  async #run(p: Probe): Promise<void> {
    while (this.#running) {
      const startMs = performance.now() - this.#t0;
      let ok = true;
      try {
        await p.client.query(p.query);
      } catch {
        ok = false;
        // A failed UPDATE leaves its transaction aborted; a failed SELECT leaves nothing to undo.
        await p.client.query('ROLLBACK').catch(() => undefined);
      }
      p.queries.push({ pid: p.pid, startMs, endMs: performance.now() - this.#t0, ok });
      if (this.#running) await sleep(this.intervalMs);
    }
  }

  /** Stops the loops after their query in flight; a probe still stuck after a grace period is cancelled. */
  async stop(): Promise<void> {
    this.#running = false;
    const loops = Promise.all(this.#probes.map((p) => p.loop));
    const timer = setTimeout(() => void this.#cancelAll(), STOP_GRACE_MS);
    try {
      await loops;
    } finally {
      clearTimeout(timer);
    }
  }

  async #cancelAll(): Promise<void> {
    await withClient(this.target, { log: this.log, applicationName: 'dbops rehearse (probe cancel)' }, (c) =>
      c.query('SELECT pg_cancel_backend(pid) FROM unnest($1::int[]) AS pid', [this.pids]),
    ).catch(() => undefined);
  }

  async close(): Promise<void> {
    if (this.#running) await this.stop();
    await Promise.all(this.#probes.map((p) => p.client.end().catch(() => undefined)));
  }
}
