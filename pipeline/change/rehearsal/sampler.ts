import type { Logger } from '../../core/logger.ts';
import { connect, type Client } from '../../infra/db/client.ts';
import type { DbTarget } from '../../infra/db/url.ts';
import type { LockObservation, Sample } from './timeline.ts';

const CURRENT_DB = `(SELECT oid FROM pg_database WHERE datname = current_database())`;

// pg_stat_activity ⨝ pg_locks for the migration's session and the probes: the migration's relation
// locks, and which probes are waiting for a lock right now.
const SAMPLE_SQL = `
  SELECT a.pid, a.wait_event_type = 'Lock' AS waiting, l.relation::bigint AS oid, l.mode, l.granted
    FROM pg_stat_activity a
    LEFT JOIN pg_locks l ON l.pid = a.pid AND l.locktype = 'relation' AND l.database = ${CURRENT_DB}
   WHERE a.pid = ANY($1::int[])`;

// The same, asked by the migration's own session inside its transaction (before COMMIT every lock it
// took is still held, so nothing a short statement took can slip between two samples).
const OWN_SQL = `
  SELECT coalesce((SELECT json_agg(json_build_object('oid', l.relation::bigint, 'mode', l.mode, 'granted', l.granted))
                     FROM pg_locks l WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.database = ${CURRENT_DB}), '[]') AS locks,
         coalesce((SELECT json_agg(a.pid) FROM pg_stat_activity a WHERE a.pid = ANY($1::int[]) AND a.wait_event_type = 'Lock'), '[]') AS waiting`;

/**
 * Samples, from its own connection, the locks of the migration's session every `intervalMs`. The next
 * sample is scheduled from the start of the previous one, so a slow sample does not stretch the period.
 */
export class LockSampler {
  readonly samples: Sample[] = [];
  #client: Client | undefined;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #t0 = 0;
  #running = false;
  readonly target: DbTarget;
  readonly log: Logger;
  readonly migrationPid: number;
  readonly probePids: number[];
  readonly intervalMs: number;

  constructor(target: DbTarget, log: Logger, opts: { migrationPid: number; probePids: number[]; intervalMs: number }) {
    this.target = target;
    this.log = log;
    this.migrationPid = opts.migrationPid;
    this.probePids = opts.probePids;
    this.intervalMs = opts.intervalMs;
  }

  async connect(): Promise<void> {
    this.#client = await connect(this.target, { log: this.log, applicationName: 'dbops rehearse (lock sampler)' });
  }

  /** `t0`: performance.now() when the migration started; sample times are relative to it. */
  start(t0: number): void {
    this.#t0 = t0;
    this.#running = true;
    this.#schedule(0);
  }

  #schedule(delay: number): void {
    this.#timer = setTimeout(() => {
      const started = performance.now();
      this.#inFlight = this.#sample().finally(() => {
        this.#inFlight = undefined;
        if (this.#running) this.#schedule(Math.max(0, this.intervalMs - (performance.now() - started)));
      });
    }, delay);
  }

  async #sample(): Promise<void> {
    if (!this.#client) return;
    const sent = performance.now();
    try {
      // Prepared once: planning the view join costs ~1 ms of server CPU, five times the execution.
      const { rows } = await this.#client.query<{ pid: number; waiting: boolean | null; oid: string | null; mode: string | null; granted: boolean | null }>({
        name: 'dbops_lock_sample',
        text: SAMPLE_SQL,
        values: [[this.migrationPid, ...this.probePids]],
      });
      const locks: LockObservation[] = [];
      const waiting = new Set<number>();
      for (const r of rows) {
        if (r.pid === this.migrationPid) {
          if (r.oid !== null && r.mode !== null) locks.push({ oid: Number(r.oid), mode: r.mode, granted: r.granted === true });
        } else if (r.waiting) waiting.add(r.pid);
      }
      // The moment the server looked is somewhere between sending and receiving: take the middle.
      this.samples.push({ t: (sent + performance.now()) / 2 - this.#t0, locks, waiting: [...waiting] });
    } catch (e) {
      this.log.debug({ err: (e as Error).message }, 'lock sample failed');
    }
  }

  /** One sample taken by the migration's own session, inside its transaction (executor beforeCommit). */
  async sampleOwn(client: Client): Promise<void> {
    const sent = performance.now();
    try {
      const { rows } = await client.query<{ locks: LockObservation[]; waiting: number[] }>(OWN_SQL, [this.probePids]);
      const row = rows[0];
      if (row)
        this.samples.push({ t: (sent + performance.now()) / 2 - this.#t0, locks: row.locks.map((l) => ({ ...l, oid: Number(l.oid) })), waiting: row.waiting });
    } catch (e) {
      this.log.debug({ err: (e as Error).message }, 'own lock sample failed');
    }
  }

  /** Stops sampling; waits for a sample in flight. */
  async stop(): Promise<Sample[]> {
    this.#running = false;
    clearTimeout(this.#timer);
    await this.#inFlight;
    return this.samples;
  }

  async close(): Promise<void> {
    await this.stop();
    await this.#client?.end().catch(() => undefined);
  }
}
