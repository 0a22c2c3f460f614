// The index review on snapshots built by hand: unused indexes across the primary and the replicas (coverage of
// the window, baselines, unreachable replicas), duplicates, overlaps, foreign keys without an index, sequential scans.
import { describe, expect, it } from 'vitest';
import type { ForeignKeyStat, IndexStat, NodeUsage, TableStat } from '../../pipeline/operations/queries/facts.ts';
import { reviewIndexes, type IndexFindingKind } from '../../pipeline/operations/queries/indexes.ts';
import type { QuerySnapshot } from '../../pipeline/operations/queries/snapshot.ts';
import { QueriesPolicy } from '../../pipeline/policy/queries.ts';
import { querySnapshot } from '../helpers/queries.ts';

const NOW = new Date('2026-12-07T12:00:00Z');
const DAY = 86_400_000;
const MB = 1024 * 1024;
const ago = (ms: number) => new Date(NOW.getTime() - ms).toISOString();
const policy = (over: Record<string, unknown> = {}) => QueriesPolicy.parse({ version: 1, ...over });

/** The definition pg_get_indexdef would print for these fields (the duplicate check compares definitions). */
function index(over: Partial<IndexStat> = {}): IndexStat {
  const i = indexFields(over);
  return {
    ...i,
    definition:
      over.definition ??
      `CREATE ${i.unique ? 'UNIQUE ' : ''}INDEX ${i.name} ON ${i.schema}.${i.table} USING ${i.method} (${i.columns.join(', ')})${i.predicate ? ` WHERE ${i.predicate}` : ''}`,
  };
}

function indexFields(over: Partial<IndexStat>): IndexStat {
  return {
    schema: 'public',
    name: 't_a_idx',
    table: 't',
    method: 'btree',
    idxScan: 0,
    bytes: 8 * MB,
    valid: true,
    unique: false,
    primary: false,
    constraint: null,
    columns: ['a'],
    predicate: null,
    definition: 'CREATE INDEX t_a_idx ON public.t USING btree (a)',
    ...over,
  };
}

function node(name: string, over: Partial<NodeUsage> = {}): NodeUsage {
  return { node: name, at: NOW.toISOString(), statsReset: ago(60 * DAY), indexScans: {}, ...over };
}

function table(over: Partial<TableStat> = {}): TableStat {
  return { schema: 'public', name: 't', seqScan: 50, seqTupRead: 100_000, idxScan: 50, liveTuples: 100_000, bytes: 10 * MB, ...over };
}

function fk(over: Partial<ForeignKeyStat> = {}): ForeignKeyStat {
  return { schema: 's', table: 't', name: 't_fk', columns: ['x', 'y'], references: 's.parent', ...over };
}

function snapshot(over: Partial<QuerySnapshot> = {}): QuerySnapshot {
  return querySnapshot({ at: NOW.toISOString(), statsReset: ago(60 * DAY), nodes: [node('primary'), node('r1')], ...over });
}

const review = (now: Partial<QuerySnapshot>, p = policy(), previous: QuerySnapshot | null = null, baseline: QuerySnapshot | null = null) =>
  reviewIndexes(snapshot(now), previous, baseline, p);
const of = (r: ReturnType<typeof reviewIndexes>, kind: IndexFindingKind) => r.findings.filter((f) => f.kind === kind);
const unused = (now: Partial<QuerySnapshot>, p = policy(), baseline: QuerySnapshot | null = null) => of(review(now, p, null, baseline), 'unused');

describe('reviewIndexes: unused', () => {
  it('reports an index with no scan on the primary nor the replicas, every node covering the window', () => {
    const r = review({ indexes: [index()], nodes: [node('primary', { statsReset: ago(60 * DAY) }), node('r1', { statsReset: ago(40 * DAY) })] });
    expect(r.nodes).toEqual(['primary', 'r1']);
    expect(r.notJudged).toEqual([]);
    expect(r.findings).toEqual([
      {
        kind: 'unused',
        subject: 'public.t_a_idx',
        table: 'public.t',
        message: `public.t_a_idx (8.0 MiB) was not scanned on primary, r1 since ${ago(40 * DAY)}: every write still updates it`,
        fix: 'DROP INDEX CONCURRENTLY "public"."t_a_idx";',
        measurement: { bytes: 8 * MB, scans: 0, nodes: 2, since: ago(40 * DAY) },
      },
    ]);
  });

  it('quotes names in the fix', () => {
    expect(unused({ indexes: [index({ schema: 'App', name: 'a"b' })] })[0]!.fix).toBe('DROP INDEX CONCURRENTLY "App"."a""b";');
  });

  it('is not unused when a replica scanned it (primary 0), nor when the primary did', () => {
    const replica = review({ indexes: [index()], nodes: [node('primary'), node('r1', { indexScans: { 'public.t_a_idx': 1 } })] });
    expect(replica.findings).toEqual([]);
    expect(replica.notJudged).toEqual([]);
    expect(unused({ indexes: [index()], nodes: [node('primary', { indexScans: { 'public.t_a_idx': 1 } }), node('r1')] })).toEqual([]);
  });

  it('never reports unique, primary, constraint-backing or invalid indexes', () => {
    for (const over of [{ unique: true }, { primary: true, unique: true }, { constraint: 't_excl' }, { valid: false }]) {
      const r = review({ indexes: [index(over)] });
      expect(of(r, 'unused')).toEqual([]);
      expect(r.notJudged).toEqual([]);
    }
  });

  it('reports from unused_min_size (1MB) on, not one byte below', () => {
    expect(unused({ indexes: [index({ bytes: MB })] })).toHaveLength(1);
    expect(unused({ indexes: [index({ bytes: MB - 1 })] })).toEqual([]);
    expect(unused({ indexes: [index({ bytes: 2 * MB - 1 })] }, policy({ indexes: { unused_min_size: '2MB' } }))).toEqual([]);
  });

  it('leaves the index not judged when a replica could not be read, naming it', () => {
    const r = review({ indexes: [index()], unreachable: [{ node: 'r2', reason: 'connection refused' }] });
    expect(r.findings).toEqual([]);
    expect(r.notJudged).toEqual([{ index: 'public.t_a_idx', reason: 'no scan on the nodes read, but replica r2 could not be read (connection refused)' }]);
  });

  it('an index scanned on the primary is neither unused nor unjudged when a replica could not be read', () => {
    const r = review({
      indexes: [index()],
      nodes: [node('primary', { indexScans: { 'public.t_a_idx': 3 } })],
      unreachable: [{ node: 'r2', reason: 'timeout' }],
    });
    expect(r.findings).toEqual([]);
    expect(r.notJudged).toEqual([]);
  });

  // Bug: indexes.ts:97 looks at the primary's scans only; an index scanned on a replica that was read is used,
  // yet it lands in notJudged with "no scan on the nodes read".
  it('an index scanned on a replica that was read is not "not judged" when another replica could not be read', () => {
    const r = review({
      indexes: [index()],
      nodes: [node('primary'), node('r1', { indexScans: { 'public.t_a_idx': 5 } })],
      unreachable: [{ node: 'r2', reason: 'timeout' }],
    });
    expect(r.notJudged).toEqual([]);
  });

  it('judges at exactly a window of coverage, not 1 ms short of it', () => {
    expect(unused({ indexes: [index()], nodes: [node('primary'), node('r1', { statsReset: ago(30 * DAY) })] })).toHaveLength(1);
    const r = review({ indexes: [index()], nodes: [node('primary'), node('r1', { statsReset: ago(30 * DAY - 1) })] });
    expect(of(r, 'unused')).toEqual([]);
    expect(r.notJudged.map((n) => n.index)).toEqual(['public.t_a_idx']);
  });

  it('is not judged when a node covers only 10 days of a 30-day window', () => {
    const r = review({ indexes: [index()], nodes: [node('primary'), node('r1', { statsReset: ago(10 * DAY) })] });
    expect(r.findings).toEqual([]);
    expect(r.notJudged).toEqual([{ index: 'public.t_a_idx', reason: 'no scan on 2 nodes, but the statistics cover 10 days of the window' }]);
  });

  it('is not judged when a node has no stats_reset and no baseline is a window old', () => {
    const r = review({ indexes: [index()], nodes: [node('primary'), node('r1', { statsReset: null })] });
    expect(r.findings).toEqual([]);
    expect(r.notJudged).toHaveLength(1);
    expect(r.notJudged[0]!.reason).toContain('no reset time to count from');
  });

  describe('with a baseline snapshot', () => {
    const young = [node('primary', { statsReset: ago(10 * DAY) }), node('r1', { statsReset: null })];
    const baseline = (at: number, nodes: NodeUsage[] = young) => snapshot({ at: ago(at), label: 'snapshot', nodes });

    it('is unused since the baseline when it is a window old with the same counters and stats_reset on every node', () => {
      const found = unused({ indexes: [index()], nodes: young }, policy(), baseline(30 * DAY));
      expect(found).toHaveLength(1);
      expect(found[0]!.measurement['since']).toBe(ago(30 * DAY));
      expect(found[0]!.message).toContain(`since ${ago(30 * DAY)}`);
    });

    it('is not judged on a baseline 1 ms younger than the window', () => {
      const r = review({ indexes: [index()], nodes: young }, policy(), null, baseline(30 * DAY - 1));
      expect(of(r, 'unused')).toEqual([]);
      expect(r.notJudged).toHaveLength(1);
    });

    it('is not unused when a node counted differently in the baseline', () => {
      const other = [node('primary', { statsReset: ago(10 * DAY), indexScans: { 'public.t_a_idx': 3 } }), node('r1', { statsReset: null })];
      const r = review({ indexes: [index()], nodes: young }, policy(), null, baseline(40 * DAY, other));
      expect(of(r, 'unused')).toEqual([]);
      expect(r.notJudged).toHaveLength(1);
    });

    it('is not unused when a node was reset since the baseline, or is missing from it', () => {
      const reset = [node('primary', { statsReset: ago(20 * DAY) }), node('r1', { statsReset: null })];
      expect(unused({ indexes: [index()], nodes: young }, policy(), baseline(40 * DAY, reset))).toEqual([]);
      expect(unused({ indexes: [index()], nodes: young }, policy(), baseline(40 * DAY, [young[0]!]))).toEqual([]);
    });
  });

  it("judges at once with unused_window '0', even with no stats_reset", () => {
    const found = unused(
      { indexes: [index()], nodes: [node('primary', { statsReset: null }), node('r1', { statsReset: null })] },
      policy({ indexes: { unused_window: '0' } }),
    );
    expect(found).toHaveLength(1);
    expect(found[0]!.measurement['since']).toBeNull();
  });
});

describe('reviewIndexes: duplicate and overlapping', () => {
  const scanned = (names: string[]) => [node('primary', { indexScans: Object.fromEntries(names.map((n) => [`public.${n}`, 1])) })];

  it('reports identical indexes once, proposing the later name when neither enforces anything', () => {
    const r = review({ indexes: [index({ name: 'a1' }), index({ name: 'a2' })], nodes: scanned(['a1', 'a2']) });
    expect(r.findings).toEqual([
      {
        kind: 'duplicate',
        subject: 'public.a2',
        table: 'public.t',
        message: expect.stringContaining('public.a2 duplicates public.a1 (a)'),
        fix: 'DROP INDEX CONCURRENTLY "public"."a2";',
        measurement: { bytes: 8 * MB, duplicateOf: 'public.a1' },
      },
    ]);
  });

  it('the same columns with another operator class or INCLUDE list are not duplicates (their definitions differ)', () => {
    const patterns = index({ name: 'a2', definition: 'CREATE INDEX a2 ON public.t USING btree (a text_pattern_ops)' });
    const covering = index({ name: 'a3', definition: 'CREATE INDEX a3 ON public.t USING btree (a) INCLUDE (b)' });
    const r = review({ indexes: [index({ name: 'a1' }), patterns, covering], nodes: scanned(['a1', 'a2', 'a3']) });
    expect(of(r, 'duplicate')).toEqual([]);
  });

  it('proposes to drop the non-enforcing one of a pair', () => {
    const r = review({ indexes: [index({ name: 'z_key', unique: true }), index({ name: 'a_idx' })], nodes: scanned(['z_key', 'a_idx']) });
    expect(of(r, 'duplicate').map((f) => [f.subject, f.measurement['duplicateOf']])).toEqual([['public.a_idx', 'public.z_key']]);
  });

  it('no duplicate with a different predicate, method or table, nor when both enforce', () => {
    const pairs: IndexStat[][] = [
      [index({ name: 'a1' }), index({ name: 'a2', predicate: '(deleted_at IS NULL)' })],
      [index({ name: 'a1' }), index({ name: 'a2', method: 'hash' })],
      [index({ name: 'a1' }), index({ name: 'a2', table: 'u' })],
      [index({ name: 'a1', unique: true }), index({ name: 'a2', constraint: 't_a_key' })],
      [index({ name: 'a1' }), index({ name: 'a2', valid: false })],
    ];
    for (const indexes of pairs) expect(review({ indexes, nodes: scanned(['a1', 'a2']) }).findings).toEqual([]);
  });

  it('reports a non-unique btree (a) covered by (a, b)', () => {
    const r = review({ indexes: [index({ name: 'ab', columns: ['a', 'b'] }), index({ name: 'a1' })], nodes: scanned(['ab', 'a1']) });
    expect(r.findings).toEqual([
      {
        kind: 'overlapping',
        subject: 'public.a1',
        table: 'public.t',
        message: 'public.a1 (a) is the leading part of public.ab (a, b), which serves the same lookups',
        fix: 'DROP INDEX CONCURRENTLY "public"."a1";',
        measurement: { bytes: 8 * MB, coveredBy: 'public.ab' },
      },
    ]);
  });

  it('no overlap for a unique (a), for (b) against (a, b), or for a non-btree', () => {
    const cases: IndexStat[][] = [
      [index({ name: 'ab', columns: ['a', 'b'] }), index({ name: 'a1', unique: true })],
      [index({ name: 'ab', columns: ['a', 'b'] }), index({ name: 'a1', columns: ['b'] })],
      [index({ name: 'ab', columns: ['a', 'b'], method: 'gist' }), index({ name: 'a1', method: 'gist' })],
    ];
    for (const indexes of cases) expect(review({ indexes, nodes: scanned(['ab', 'a1']) }).findings).toEqual([]);
  });
});

describe('reviewIndexes: unindexed foreign keys', () => {
  const withFk = (indexes: IndexStat[], over: Partial<ForeignKeyStat> = {}) =>
    of(
      review({
        foreignKeys: [fk(over)],
        indexes,
        nodes: [node('primary', { indexScans: Object.fromEntries(indexes.map((i) => [`${i.schema}.${i.name}`, 1])) })],
      }),
      'unindexed-foreign-key',
    );
  const sIndex = (over: Partial<IndexStat>) => index({ schema: 's', table: 't', ...over });

  it('is covered by an index leading with its columns in any order', () => {
    expect(withFk([sIndex({ columns: ['y', 'x', 'z'] })])).toEqual([]);
    expect(withFk([sIndex({ columns: ['x', 'y'] })])).toEqual([]);
  });

  it('reports a foreign key whose columns do not lead an index', () => {
    const r = review({
      foreignKeys: [fk()],
      indexes: [sIndex({ columns: ['x'] })],
      tables: [table({ schema: 's', name: 't', bytes: 3 * MB, seqScan: 0 })],
      nodes: [node('primary', { indexScans: { 's.t_a_idx': 1 } })],
    });
    expect(r.findings).toEqual([
      {
        kind: 'unindexed-foreign-key',
        subject: 's.t',
        table: 's.t',
        message: expect.stringContaining('foreign key t_fk of s.t (x, y) → s.parent has no index'),
        fix: 'CREATE INDEX CONCURRENTLY ON "s"."t" ("x", "y");',
        measurement: { constraint: 't_fk', columns: 'x, y', references: 's.parent', bytes: 3 * MB },
      },
    ]);
    expect(withFk([sIndex({ columns: ['z', 'x', 'y'] })])).toHaveLength(1);
    expect(withFk([])[0]!.measurement['bytes']).toBeNull();
  });

  it('a partial, invalid or other table index does not cover', () => {
    expect(withFk([sIndex({ columns: ['x', 'y'], predicate: '(x > 0)' })])).toHaveLength(1);
    expect(withFk([sIndex({ columns: ['x', 'y'], valid: false })])).toHaveLength(1);
    expect(withFk([sIndex({ columns: ['x', 'y'], table: 'u' })])).toHaveLength(1);
    expect(withFk([sIndex({ columns: ['x', 'y'], schema: 'public' })])).toHaveLength(1);
    // Only a btree serves the equality lookups a foreign key needs.
    expect(withFk([sIndex({ columns: ['x', 'y'], method: 'gin' })])).toHaveLength(1);
  });

  it('a quoted index column ("accountId") covers the column accountId', () => {
    expect(withFk([sIndex({ columns: ['"accountId"'] })], { columns: ['accountId'] })).toEqual([]);
    expect(withFk([sIndex({ columns: ['accountid'] })], { columns: ['accountId'] })).toHaveLength(1);
    expect(withFk([], { columns: ['accountId'] })[0]!.fix).toBe('CREATE INDEX CONCURRENTLY ON "s"."t" ("accountId");');
  });
});

describe('reviewIndexes: seq-scan-heavy', () => {
  const heavy = (over: Partial<TableStat>, p = policy(), previous: QuerySnapshot | null = null) =>
    of(review({ tables: [table(over)] }, p, previous), 'seq-scan-heavy');

  it('reports at exactly 10MB, a 0.5 share and 100 000 rows (cumulative without a previous snapshot)', () => {
    const found = heavy({});
    expect(found).toEqual([
      {
        kind: 'seq-scan-heavy',
        subject: 'public.t',
        table: 'public.t',
        message: expect.stringContaining('since its statistics started'),
        fix: expect.stringContaining('CREATE INDEX CONCURRENTLY ON "public"."t" (<their filter columns>);'),
        measurement: { bytes: 10 * MB, seqScans: 50, indexScans: 50, seqShare: 0.5, rowsRead: 100_000 },
      },
    ]);
  });

  it('not one unit below each threshold', () => {
    expect(heavy({ bytes: 10 * MB - 1 })).toEqual([]);
    expect(heavy({ seqScan: 49, idxScan: 51 })).toEqual([]);
    expect(heavy({ seqTupRead: 99_999 })).toEqual([]);
    expect(heavy({ seqScan: 0, idxScan: 0 }, policy({ indexes: { seq_scan_ratio: 0 } }))).toEqual([]);
  });

  it('honours the policy thresholds; a table with no index counts every scan as sequential', () => {
    expect(
      heavy({ seqScan: 1, idxScan: 3, seqTupRead: 10 }, policy({ indexes: { seq_scan_ratio: 0.25, seq_scan_min_rows: 10, seq_scan_min_size: '1MB' } })),
    ).toHaveLength(1);
    expect(
      heavy({ seqScan: 1, idxScan: 3, seqTupRead: 9 }, policy({ indexes: { seq_scan_ratio: 0.25, seq_scan_min_rows: 10, seq_scan_min_size: '1MB' } })),
    ).toEqual([]);
    expect(heavy({ idxScan: null })[0]!.measurement).toMatchObject({ seqScans: 50, indexScans: 0, seqShare: 1 });
  });

  it('uses the deltas since the previous snapshot when its stats_reset is the same', () => {
    const previous = snapshot({ at: ago(DAY), tables: [table({ seqScan: 100, idxScan: 0, seqTupRead: 1_000_000 })] });
    const found = heavy({ seqScan: 150, idxScan: 50, seqTupRead: 1_100_000 }, policy(), previous);
    expect(found).toHaveLength(1);
    expect(found[0]!.measurement).toEqual({ bytes: 10 * MB, seqScans: 50, indexScans: 50, seqShare: 0.5, rowsRead: 100_000 });
    expect(found[0]!.message).toContain('since the previous snapshot');
    expect(heavy({ seqScan: 150, idxScan: 50, seqTupRead: 1_099_999 }, policy(), previous)).toEqual([]);
    expect(heavy({ seqScan: 149, idxScan: 51, seqTupRead: 2_000_000 }, policy(), previous)).toEqual([]);
  });

  it('uses the cumulative counters when the previous snapshot has another stats_reset, or its counters went down', () => {
    const previous = snapshot({ at: ago(DAY), statsReset: ago(90 * DAY), tables: [table({ seqScan: 100, idxScan: 0, seqTupRead: 1_000_000 })] });
    const found = heavy({ seqScan: 150, idxScan: 50, seqTupRead: 1_100_000 }, policy(), previous);
    expect(found[0]!.measurement).toMatchObject({ seqScans: 150, indexScans: 50, rowsRead: 1_100_000 });
    const higher = snapshot({ at: ago(DAY), tables: [table({ seqScan: 200, idxScan: 0, seqTupRead: 1_000_000 })] });
    expect(heavy({ seqScan: 150, idxScan: 50, seqTupRead: 1_100_000 }, policy(), higher)[0]!.measurement).toMatchObject({ seqScans: 150, rowsRead: 1_100_000 });
  });
});
