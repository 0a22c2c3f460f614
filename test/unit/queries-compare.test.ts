// Statements compared across two snapshots built by hand: interval deltas by (userid, queryid, toplevel), slow
// statements and regressions at their boundaries, counter breaks (reset, dealloc, other database), the first report.
import { describe, expect, it } from 'vitest';
import { compareStatements, counterBreaks, statementKey } from '../../pipeline/operations/queries/compare.ts';
import type { StatementStat } from '../../pipeline/operations/queries/facts.ts';
import type { QuerySnapshot } from '../../pipeline/operations/queries/snapshot.ts';
import { QueriesPolicy } from '../../pipeline/policy/queries.ts';
import { querySnapshot } from '../helpers/queries.ts';

const NOW = '2026-12-07T12:00:00.000Z';
const EARLIER = '2026-12-07T11:00:00.000Z';
const RESET = '2026-11-01T00:00:00.000Z';
const LATER_RESET = '2026-12-07T11:30:00.000Z';
const policy = (over: Record<string, unknown> = {}) => QueriesPolicy.parse({ version: 1, ...over });

function stmt(over: Partial<StatementStat> = {}): StatementStat {
  return {
    userid: 10,
    queryid: '1',
    toplevel: true,
    query: 'SELECT * FROM t WHERE id = $1',
    calls: 0,
    totalExecMs: 0,
    minExecMs: 0,
    maxExecMs: 0,
    rows: 0,
    sharedBlksHit: 0,
    sharedBlksRead: 0,
    tempBlksWritten: 0,
    blkReadMs: 0,
    ...over,
  };
}

function snapshot(over: Partial<QuerySnapshot> = {}): QuerySnapshot {
  return querySnapshot({
    at: NOW,
    statsReset: RESET,
    statementsInfo: { version: '1.10', dealloc: 0, statsReset: RESET, max: 5000, track: 'top' },
    nodes: [{ node: 'primary', at: NOW, statsReset: RESET, indexScans: {} }],
    ...over,
  });
}

const earlier = (statements: StatementStat[], over: Partial<QuerySnapshot> = {}) => snapshot({ at: EARLIER, label: 'snapshot', statements, ...over });
const compare = (before: StatementStat[], after: StatementStat[], p = policy()) => compareStatements(earlier(before), snapshot({ statements: after }), p);

/** A statement with `beforeCalls`/`beforeTotal` cumulative in the earlier snapshot, and `calls`/`total` more in the interval. */
function grown(queryid: string, beforeCalls: number, beforeTotal: number, calls: number, total: number) {
  return {
    before: stmt({ queryid, calls: beforeCalls, totalExecMs: beforeTotal }),
    after: stmt({ queryid, calls: beforeCalls + calls, totalExecMs: beforeTotal + total }),
  };
}
const regressionsOf = (beforeCalls: number, beforeTotal: number, calls: number, total: number, p = policy()) => {
  const g = grown('7', beforeCalls, beforeTotal, calls, total);
  return compare([g.before], [g.after], p).regressions;
};

describe('statementKey', () => {
  it('joins userid, queryid and toplevel', () => {
    expect(statementKey({ userid: 10, queryid: '-42', toplevel: true })).toBe('10:-42:t');
    expect(statementKey({ userid: 10, queryid: '-42', toplevel: false })).toBe('10:-42:n');
  });
});

describe('compareStatements: interval figures', () => {
  it('subtracts the earlier cumulative counters, keyed by (userid, queryid, toplevel)', () => {
    const before = [stmt({ userid: 10, queryid: 'q', calls: 100, totalExecMs: 1000, rows: 100, sharedBlksRead: 40 })];
    const after = [
      stmt({ userid: 10, queryid: 'q', calls: 150, totalExecMs: 1600, rows: 170, sharedBlksRead: 45, maxExecMs: 12.3456 }),
      stmt({ userid: 11, queryid: 'q', calls: 30, totalExecMs: 90 }),
      stmt({ userid: 10, queryid: 'q', toplevel: false, calls: 7, totalExecMs: 14 }),
    ];
    const c = compare(before, after);
    const byKey = Object.fromEntries(c.top.map((s) => [s.key, s]));
    expect(Object.keys(byKey).sort()).toEqual(['10:q:n', '10:q:t', '11:q:t']);
    expect(byKey['10:q:t']).toEqual({
      key: '10:q:t',
      queryid: 'q',
      userid: 10,
      toplevel: true,
      query: 'SELECT * FROM t WHERE id = $1',
      calls: 50,
      totalMs: 600,
      meanMs: 12,
      rows: 70,
      sharedBlksRead: 5,
      maxMsEver: 12.346,
      restarted: false,
      new: false,
    });
    expect(byKey['11:q:t']).toMatchObject({ calls: 30, totalMs: 90, meanMs: 3, new: true, restarted: false });
    expect(byKey['10:q:n']).toMatchObject({ calls: 7, totalMs: 14, meanMs: 2, new: true, restarted: false });
    expect(c.newStatements.map((s) => s.key)).toEqual(['11:q:t', '10:q:n']);
    expect(c.totals).toEqual({ statements: 3, calls: 87, totalMs: 704 });
    expect(c.breaks).toEqual([]);
    expect(c.from).toEqual({ at: EARLIER, label: 'snapshot' });
    expect(c.to).toEqual({ at: NOW, label: 'report' });
  });

  it('ignores statements with no call in the interval (slow, top, totals)', () => {
    const g = grown('slow-before', 10, 10_000, 0, 0);
    const c = compare([g.before], [g.after]);
    expect(c.slow).toEqual([]);
    expect(c.top).toEqual([]);
    expect(c.totals).toEqual({ statements: 0, calls: 0, totalMs: 0 });
  });

  it('lists the top statements by interval total, limited to policy.top', () => {
    const a = grown('a', 1000, 1_000_000, 10, 100); // huge cumulative, small interval
    const b = grown('b', 10, 10, 10, 300);
    const c = grown('c', 10, 10, 10, 200);
    const d = grown('d', 10, 10, 10, 50);
    const all = compare([a.before, b.before, c.before, d.before], [a.after, b.after, c.after, d.after], policy({ top: 2 }));
    expect(all.top.map((s) => [s.queryid, s.totalMs])).toEqual([
      ['b', 300],
      ['c', 200],
    ]);
    const three = compare([a.before, b.before, c.before, d.before], [a.after, b.after, c.after, d.after], policy({ top: 3 }));
    expect(three.top.map((s) => s.queryid)).toEqual(['b', 'c', 'a']);
    expect(three.totals).toEqual({ statements: 4, calls: 40, totalMs: 650 });
  });
});

describe('compareStatements: slow statements', () => {
  it('is slow at exactly slow.mean (500ms), not at 499.999ms', () => {
    const c = compare([], [stmt({ queryid: 'at', calls: 1, totalExecMs: 500 }), stmt({ queryid: 'below', calls: 1, totalExecMs: 499.999 })]);
    expect(c.slow.map((s) => [s.queryid, s.meanMs, s.newlySlow])).toEqual([['at', 500, true]]);
  });

  it('measures the interval mean, not the cumulative one', () => {
    // Cumulative mean 550 ms, interval mean 100 ms: not slow.
    const g = grown('q', 10, 10_000, 10, 1000);
    expect(compare([g.before], [g.after]).slow).toEqual([]);
    // Cumulative mean 50 ms, interval mean 500 ms: slow.
    const h = grown('q', 90, 0, 10, 5000);
    expect(compare([h.before], [h.after]).slow.map((s) => [s.calls, s.meanMs])).toEqual([[10, 500]]);
  });

  it('honours a slow.mean of the policy', () => {
    const c = compare(
      [],
      [stmt({ queryid: 'a', calls: 1, totalExecMs: 999 }), stmt({ queryid: 'b', calls: 1, totalExecMs: 1000 })],
      policy({ slow: { mean: '1s' } }),
    );
    expect(c.slow.map((s) => s.queryid)).toEqual(['b']);
  });

  it('needs slow.min_calls in the interval', () => {
    const p = policy({ slow: { min_calls: 5 } });
    const five = grown('five', 1, 1, 5, 2500);
    const four = grown('four', 1, 1, 4, 2000);
    const c = compare([five.before, four.before], [five.after, four.after], p);
    expect(c.slow.map((s) => [s.queryid, s.calls])).toEqual([['five', 5]]);
  });

  it('sorts by mean, highest first', () => {
    const c = compare([], [stmt({ queryid: 'a', calls: 1, totalExecMs: 600 }), stmt({ queryid: 'b', calls: 1, totalExecMs: 900 })]);
    expect(c.slow.map((s) => s.queryid)).toEqual(['b', 'a']);
  });

  it('is newly slow when absent before or its earlier cumulative mean was under the threshold, not when it was already slow', () => {
    const wasSlow = grown('was', 10, 5000, 10, 6000); // before: mean 500
    const wasFast = grown('fast', 10, 4990, 10, 6000); // before: mean 499
    const zero = grown('zero', 0, 0, 10, 6000); // an entry with no call before
    const fresh = stmt({ queryid: 'new', calls: 10, totalExecMs: 6000 });
    const c = compare([wasSlow.before, wasFast.before, zero.before], [wasSlow.after, wasFast.after, zero.after, fresh]);
    const newly = Object.fromEntries(c.slow.map((s) => [s.queryid, s.newlySlow]));
    expect(newly).toEqual({ was: false, fast: true, zero: true, new: true });
  });
});

describe('compareStatements: regressions (ratio 2, +50ms, 20 calls on both sides)', () => {
  it('is a regression exactly at ratio 2, +50 ms and 20 calls before and in the interval', () => {
    // before: 20 calls, mean 50 ms; interval: 20 calls, mean 100 ms.
    expect(regressionsOf(20, 1000, 20, 2000)).toEqual([
      expect.objectContaining({ queryid: '7', calls: 20, meanMs: 100, before: { calls: 20, meanMs: 50 }, ratio: 2, increaseMs: 50 }),
    ]);
  });

  it('is no regression at ratio 1.99 (an increase well over 50 ms)', () => {
    expect(regressionsOf(20, 2000, 20, 3980)).toEqual([]); // 100 → 199 ms
    expect(regressionsOf(20, 2000, 20, 4000)).toHaveLength(1); // 100 → 200 ms
  });

  it('is no regression at +49 ms (ratio 2)', () => {
    expect(regressionsOf(20, 980, 20, 1960)).toEqual([]); // 49 → 98 ms
  });

  it('needs 20 calls in the earlier cumulative counters', () => {
    expect(regressionsOf(19, 950, 20, 2000)).toEqual([]);
  });

  it('needs 20 calls in the interval', () => {
    expect(regressionsOf(20, 1000, 19, 1900)).toEqual([]);
  });

  it('does not call a fast statement doubling (0.1 → 0.2 ms) a regression', () => {
    expect(regressionsOf(1000, 100, 1000, 200)).toEqual([]);
  });

  it('honours the policy thresholds', () => {
    const p = policy({ regression: { ratio: 1.5, min_increase: '10ms', min_calls: 5 } });
    expect(regressionsOf(5, 100, 5, 150, p)).toEqual([expect.objectContaining({ ratio: 1.5, increaseMs: 10 })]); // 20 → 30 ms
    expect(regressionsOf(5, 100, 5, 145, p)).toEqual([]); // 20 → 29 ms
  });

  it('sorts by the added time (increase × calls), largest first', () => {
    const small = grown('small', 20, 1000, 20, 4000); // +150 ms × 20
    const big = grown('big', 20, 1000, 40, 8000); // +150 ms × 40
    const c = compare([small.before, big.before], [small.after, big.after]);
    expect(c.regressions.map((r) => r.queryid)).toEqual(['big', 'small']);
  });
});

describe('compareStatements: counter breaks', () => {
  it('after a reset: break "reset", cumulative figures since it, restarted, no regression, no new statement', () => {
    const regressed = grown('r', 20, 1000, 40, 8000); // would be a regression without the reset
    const before = earlier([regressed.before, stmt({ queryid: 'gone', calls: 100, totalExecMs: 1000 })]);
    const after = snapshot({
      statements: [regressed.after, stmt({ queryid: 'gone', calls: 30, totalExecMs: 6000 }), stmt({ queryid: 'fresh', calls: 5, totalExecMs: 10 })],
      statementsInfo: { version: '1.10', dealloc: 0, statsReset: LATER_RESET, max: 5000, track: 'top' },
    });
    const c = compareStatements(before, after, policy());
    expect(c.breaks.map((b) => b.kind)).toEqual(['reset']);
    expect(c.breaks[0]!.message).toContain(LATER_RESET);
    expect(c.regressions).toEqual([]);
    expect(c.newStatements).toEqual([]);
    const byId = Object.fromEntries(c.top.map((s) => [s.queryid, s]));
    expect(byId['r']).toMatchObject({ calls: 60, totalMs: 9000, meanMs: 150, restarted: true, new: false });
    expect(byId['gone']).toMatchObject({ calls: 30, totalMs: 6000, meanMs: 200, restarted: true, new: false });
    expect(byId['fresh']).toMatchObject({ calls: 5, totalMs: 10, restarted: false, new: true });
    expect(c.totals).toEqual({ statements: 3, calls: 95, totalMs: 15_010 });
  });

  it('after evictions (dealloc changed): a statement whose calls went down restarted and is not compared; the others still are', () => {
    const evicted = { before: stmt({ queryid: 'e', calls: 100, totalExecMs: 1000 }), after: stmt({ queryid: 'e', calls: 30, totalExecMs: 9000 }) };
    const regressed = grown('r', 20, 1000, 20, 2000);
    const info = (dealloc: number) => ({ version: '1.10', dealloc, statsReset: RESET, max: 5000, track: 'top' });
    const c = compareStatements(
      earlier([evicted.before, regressed.before], { statementsInfo: info(3) }),
      snapshot({ statements: [evicted.after, regressed.after], statementsInfo: info(7) }),
      policy(),
    );
    expect(c.breaks.map((b) => b.kind)).toEqual(['dealloc']);
    expect(c.breaks[0]!.message).toContain('evicted entries 4 times');
    expect(c.regressions.map((r) => r.queryid)).toEqual(['r']);
    const e = c.top.find((s) => s.queryid === 'e');
    expect(e).toMatchObject({ calls: 30, totalMs: 9000, meanMs: 300, restarted: true, new: false });
    expect(c.newStatements).toEqual([]);
  });

  it('a statement whose total went down (calls equal or higher) also restarted', () => {
    const c = compare([stmt({ calls: 10, totalExecMs: 5000 })], [stmt({ calls: 40, totalExecMs: 4000 })]);
    expect(c.top[0]).toMatchObject({ calls: 40, totalMs: 4000, restarted: true });
  });

  it('another database: "other-database", nothing compared', () => {
    const regressed = grown('r', 20, 1000, 40, 8000);
    const c = compareStatements(earlier([regressed.before], { database: 'billing' }), snapshot({ statements: [regressed.after] }), policy());
    expect(c.breaks.map((b) => b.kind)).toEqual(['other-database']);
    expect(c.breaks[0]!.message).toContain('billing');
    expect(c.regressions).toEqual([]);
    expect(c.newStatements).toEqual([]);
    expect(c.top[0]).toMatchObject({ calls: 60, totalMs: 9000, new: true, restarted: false });
  });

  it('another cluster (system identifier): "other-database"; an unknown identifier is no break', () => {
    const a = snapshot({ at: EARLIER, systemIdentifier: '1' });
    expect(counterBreaks(a, snapshot({ systemIdentifier: '2' })).map((b) => b.kind)).toEqual(['other-database']);
    expect(counterBreaks(a, snapshot({ systemIdentifier: null }))).toEqual([]);
    expect(counterBreaks(a, snapshot({ systemIdentifier: '1' }))).toEqual([]);
  });

  it('no break when only the later snapshot has no stats_reset, or dealloc is unknown on one side', () => {
    const info = (over: Partial<QuerySnapshot['statementsInfo']>) => ({ version: '1.8', dealloc: null, statsReset: null, max: 5000, track: 'top', ...over });
    expect(counterBreaks(snapshot({ statementsInfo: info({ statsReset: RESET }) }), snapshot({ statementsInfo: info({}) }))).toEqual([]);
    expect(counterBreaks(snapshot({ statementsInfo: info({}) }), snapshot({ statementsInfo: info({ dealloc: 5 }) }))).toEqual([]);
    expect(counterBreaks(snapshot({ statementsInfo: info({ dealloc: 1 }) }), snapshot({ statementsInfo: info({ dealloc: 1 }) }))).toEqual([]);
    expect(counterBreaks(snapshot({ statementsInfo: info({ dealloc: 1 }) }), snapshot({ statementsInfo: info({ dealloc: 2 }) })).map((b) => b.kind)).toEqual([
      'dealloc',
    ]);
  });

  it('a reset hides a dealloc change (one break only)', () => {
    const before = snapshot({ statementsInfo: { version: '1.10', dealloc: 3, statsReset: RESET, max: 5000, track: 'top' } });
    const after = snapshot({ statementsInfo: { version: '1.10', dealloc: 0, statsReset: LATER_RESET, max: 5000, track: 'top' } });
    expect(counterBreaks(before, after).map((b) => b.kind)).toEqual(['reset']);
  });
});

describe('compareStatements: first report', () => {
  it('with no earlier snapshot: cumulative figures, from null, no break, regression or new statement', () => {
    const c = compareStatements(null, snapshot({ statements: [stmt({ calls: 40, totalExecMs: 8000 }), stmt({ queryid: '2', calls: 0 })] }), policy());
    expect(c.from).toBeNull();
    expect(c.breaks).toEqual([]);
    expect(c.regressions).toEqual([]);
    expect(c.newStatements).toEqual([]);
    expect(c.top).toEqual([expect.objectContaining({ queryid: '1', calls: 40, totalMs: 8000, meanMs: 200, new: true, restarted: false })]);
    expect(c.totals).toEqual({ statements: 1, calls: 40, totalMs: 8000 });
  });
});
