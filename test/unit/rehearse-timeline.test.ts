// Lock samples → intervals, strongest modes and hold times; probe queries → percentiles and blocked time.
import { describe, expect, it } from 'vitest';
import { blocks, lockSpans, lockStrength, percentile, strongestLocks, summarizeProbe, type Sample } from '../../pipeline/change/rehearsal/timeline.ts';

const S = (t: number, locks: Array<[number, string, boolean?]>, waiting: number[] = []): Sample => ({
  t,
  locks: locks.map(([oid, mode, granted = true]) => ({ oid, mode, granted })),
  waiting,
});

describe('lockSpans', () => {
  it('opens a span at the first sample that shows a lock and closes it at the first that does not', () => {
    const spans = lockSpans([S(0, []), S(25, [[1, 'ShareLock']]), S(50, [[1, 'ShareLock']]), S(75, [])], 100);
    expect(spans).toEqual([{ oid: 1, mode: 'ShareLock', granted: true, startMs: 25, endMs: 75 }]);
  });

  it('closes what is still held when the migration ended, ignores samples after it, and sorts samples by time', () => {
    const spans = lockSpans([S(50, [[2, 'AccessExclusiveLock']]), S(10, [[2, 'AccessExclusiveLock']]), S(130, [[9, 'ShareLock']])], 120);
    expect(spans).toEqual([{ oid: 2, mode: 'AccessExclusiveLock', granted: true, startMs: 10, endMs: 120 }]);
  });

  it('keeps one span per (relation, mode, granted): a wait becomes a grant, a lock is re-taken after a gap', () => {
    const spans = lockSpans(
      [
        S(0, [[1, 'AccessExclusiveLock', false]]),
        S(20, [[1, 'AccessExclusiveLock', false]]),
        S(40, [[1, 'AccessExclusiveLock']]),
        S(60, []),
        S(80, [[1, 'AccessExclusiveLock']]),
      ],
      90,
    );
    expect(spans.map((s) => [s.granted, s.startMs, s.endMs])).toEqual([
      [false, 0, 40],
      [true, 40, 60],
      [true, 80, 90],
    ]);
    expect(strongestLocks(spans).get(1)).toEqual({ mode: 'AccessExclusiveLock', heldMs: 30 });
  });
});

describe('strongestLocks', () => {
  it('takes the strongest granted mode per relation and sums only its time', () => {
    const spans = lockSpans(
      [
        S(0, [
          [1, 'AccessShareLock'],
          [2, 'RowExclusiveLock'],
        ]),
        S(10, [
          [1, 'AccessShareLock'],
          [1, 'ShareRowExclusiveLock'],
          [2, 'RowExclusiveLock'],
        ]),
        S(40, [[1, 'AccessShareLock']]),
        S(50, []),
      ],
      60,
    );
    const strongest = strongestLocks(spans);
    expect(strongest.get(1)).toEqual({ mode: 'ShareRowExclusiveLock', heldMs: 30 });
    expect(strongest.get(2)).toEqual({ mode: 'RowExclusiveLock', heldMs: 40 });
  });

  it('orders the modes as PostgreSQL documents their conflicts, and says what each blocks', () => {
    expect(lockStrength('AccessExclusiveLock')).toBeGreaterThan(lockStrength('ShareRowExclusiveLock'));
    expect(lockStrength('ShareLock')).toBeGreaterThan(lockStrength('ShareUpdateExclusiveLock'));
    expect(blocks('AccessExclusiveLock')).toBe('blocks reads and writes');
    expect(blocks('ShareLock')).toBe('blocks writes');
    expect(blocks('ShareRowExclusiveLock')).toBe('blocks writes');
    expect(blocks('ShareUpdateExclusiveLock')).toBe('blocks other DDL and VACUUM only');
  });
});

describe('probe summaries', () => {
  it('nearest-rank percentiles', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect([percentile(xs, 50), percentile(xs, 95), percentile(xs, 99), percentile([], 95)]).toEqual([50, 95, 99, 0]);
    expect(percentile([7], 99)).toBe(7);
  });

  it('a query counts as blocked only when a sample during it saw its session waiting for a lock', () => {
    const queries = [
      { pid: 7, startMs: 0, endMs: 2, ok: true },
      { pid: 7, startMs: 30, endMs: 830, ok: true }, // waited behind the migration
      { pid: 7, startMs: 850, endMs: 851, ok: false },
    ];
    const samples = [S(1, []), S(100, [], [7]), S(400, [], [7, 8]), S(900, [], [8])];
    expect(summarizeProbe(queries, samples)).toEqual({ samples: 3, p50Ms: 2, p95Ms: 800, p99Ms: 800, maxMs: 800, maxBlockedMs: 800, errors: 1 });
    // Another session waiting at the same moment does not make this probe blocked.
    expect(summarizeProbe(queries, [S(100, [], [8])]).maxBlockedMs).toBe(0);
  });
});
