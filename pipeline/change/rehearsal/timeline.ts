/**
 * Pure bookkeeping over lock samples: intervals, strongest modes, probe percentiles. Kept apart from the
 * sampling itself so it can be tested without a database.
 */

export interface LockObservation {
  /** pg_locks.relation */
  oid: number;
  mode: string;
  granted: boolean;
}

export interface Sample {
  /** Milliseconds since the migration started. */
  t: number;
  /** Relation locks of the migration's session. */
  locks: LockObservation[];
  /** Probe sessions seen waiting for a lock (pg_stat_activity.wait_event_type = 'Lock'). */
  waiting: number[];
}

export interface Span {
  oid: number;
  mode: string;
  granted: boolean;
  startMs: number;
  endMs: number;
}

/** PostgreSQL's table lock modes, weakest first (each conflicts with at least as much as the one before). */
export const LOCK_MODES = [
  'AccessShareLock',
  'RowShareLock',
  'RowExclusiveLock',
  'ShareUpdateExclusiveLock',
  'ShareLock',
  'ShareRowExclusiveLock',
  'ExclusiveLock',
  'AccessExclusiveLock',
] as const;

export const lockStrength = (mode: string): number => LOCK_MODES.indexOf(mode as (typeof LOCK_MODES)[number]);

/** What a mode blocks, for humans. */
export function blocks(mode: string): string {
  if (mode === 'AccessExclusiveLock') return 'blocks reads and writes';
  if (lockStrength(mode) >= lockStrength('ShareLock')) return 'blocks writes';
  if (mode === 'ShareUpdateExclusiveLock') return 'blocks other DDL and VACUUM only';
  return 'blocks nothing ordinary';
}

/**
 * One span per (relation, mode, granted) interval: it opens at the first sample that shows the lock and
 * closes at the first later sample that does not (or when the migration ended), so each edge is exact
 * to within one sampling interval.
 */
export function lockSpans(samples: Sample[], endMs: number): Span[] {
  const ordered = samples.filter((s) => s.t <= endMs).sort((a, b) => a.t - b.t);
  const open = new Map<string, Span>();
  const done: Span[] = [];
  const keyOf = (l: LockObservation) => `${l.oid}\u0000${l.mode}\u0000${l.granted}`;
  for (const s of ordered) {
    const present = new Set(s.locks.map(keyOf));
    for (const [key, span] of open) {
      if (!present.has(key)) {
        done.push({ ...span, endMs: s.t });
        open.delete(key);
      }
    }
    for (const l of s.locks) {
      const key = keyOf(l);
      if (!open.has(key)) open.set(key, { oid: l.oid, mode: l.mode, granted: l.granted, startMs: s.t, endMs: s.t });
    }
  }
  for (const span of open.values()) done.push({ ...span, endMs: Math.max(span.startMs, endMs) });
  return done.sort((a, b) => a.startMs - b.startMs || a.oid - b.oid || lockStrength(a.mode) - lockStrength(b.mode));
}

/** Per relation: the strongest mode it held and for how long (summed over that mode's granted spans). */
export function strongestLocks(spans: Span[]): Map<number, { mode: string; heldMs: number }> {
  const out = new Map<number, { mode: string; heldMs: number }>();
  for (const s of spans.filter((x) => x.granted)) {
    const cur = out.get(s.oid);
    const len = s.endMs - s.startMs;
    if (!cur || lockStrength(s.mode) > lockStrength(cur.mode)) out.set(s.oid, { mode: s.mode, heldMs: len });
    else if (cur.mode === s.mode) cur.heldMs += len;
  }
  return out;
}

/** Nearest-rank percentile of sorted values; 0 for none. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export interface ProbeQuery {
  pid: number;
  startMs: number;
  endMs: number;
  ok: boolean;
}

export interface ProbeSummary {
  samples: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  maxBlockedMs: number;
  errors: number;
}

const round = (ms: number) => Math.round(ms * 10) / 10;

/**
 * Latency percentiles of one probe, and its longest query that was seen waiting for a lock: a query
 * counts as blocked when a sample during it found its session waiting (pg_stat_activity), and then its
 * whole latency counts, since a probe query without a lock wait takes a millisecond or two.
 */
export function summarizeProbe(queries: ProbeQuery[], samples: Sample[]): ProbeSummary {
  const latencies = queries.map((q) => q.endMs - q.startMs).sort((a, b) => a - b);
  let maxBlocked = 0;
  for (const q of queries) {
    const waited = samples.some((s) => s.t >= q.startMs && s.t <= q.endMs && s.waiting.includes(q.pid));
    if (waited) maxBlocked = Math.max(maxBlocked, q.endMs - q.startMs);
  }
  return {
    samples: queries.length,
    p50Ms: round(percentile(latencies, 50)),
    p95Ms: round(percentile(latencies, 95)),
    p99Ms: round(percentile(latencies, 99)),
    maxMs: round(latencies.at(-1) ?? 0),
    maxBlockedMs: round(maxBlocked),
    errors: queries.filter((q) => !q.ok).length,
  };
}
