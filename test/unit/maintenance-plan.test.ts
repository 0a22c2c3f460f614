// The maintenance planner on facts built by hand: each rule at its boundary, the index judged after VACUUM,
// the leftovers of REINDEX CONCURRENTLY, the warnings, exclusions and the order of the plan.
import { describe, expect, it } from 'vitest';
import {
  maintenanceWindowOf,
  planMaintenance,
  stopReason,
  windowStatus,
  type IndexFacts,
  type MaintenanceFacts,
  type TableFacts,
} from '../../pipeline/operations/maintenance/index.ts';
import { EnvironmentsPolicy } from '../../pipeline/policy/environments.ts';
import { MaintenancePolicy } from '../../pipeline/policy/maintenance.ts';

const NOW = new Date('2026-12-07T12:00:00Z');
const DAY = 86_400_000;
const MB = 1024 * 1024;
const policy = (over: Record<string, unknown> = {}) => MaintenancePolicy.parse({ version: 1, ...over });

function table(over: Partial<TableFacts> = {}): TableFacts {
  return {
    schema: 'public',
    name: 't',
    liveTuples: 100_000,
    deadTuples: 0,
    modifiedSinceAnalyze: 0,
    lastVacuum: null,
    lastAutovacuum: null,
    lastAnalyze: new Date(NOW.getTime() - DAY).toISOString(),
    lastAutoanalyze: null,
    heapBytes: 100 * MB,
    totalBytes: 150 * MB,
    estimatedRows: 100_000,
    xidAge: 1000,
    multixactAge: 5,
    allVisibleShare: 0.9,
    exact: null,
    notRead: null,
    ...over,
  };
}

function index(over: Partial<IndexFacts> = {}): IndexFacts {
  return {
    schema: 'public',
    name: 't_pkey',
    table: 't',
    method: 'btree',
    valid: true,
    ready: true,
    unique: true,
    bytes: 20 * MB,
    fillfactor: 90,
    exact: { leafPages: 2500, internalPages: 10, emptyPages: 0, deletedPages: 0, avgLeafDensity: 90 },
    keyWidth: 4,
    ...over,
  };
}

function facts(over: Partial<MaintenanceFacts> = {}): MaintenanceFacts {
  return {
    at: NOW.toISOString(),
    database: 'ledger',
    serverVersion: 150000,
    blockSize: 8192,
    pgstattuple: true,
    tables: [table()],
    indexes: [],
    transactions: [],
    buildsInProgress: [],
    ...over,
  };
}

const plan = (f: Partial<MaintenanceFacts>, p = policy()) => planMaintenance(facts(f), p, NOW);
const kinds = (f: Partial<MaintenanceFacts>, p = policy()) => plan(f, p).actions.map((a) => `${a.kind} ${a.target}`);

describe('planMaintenance: tables', () => {
  it('vacuums at exactly dead_tuple_ratio and min_dead_tuples, not one tuple below either', () => {
    // 25,000 dead of 125,000 = 0.2 exactly.
    expect(kinds({ tables: [table({ liveTuples: 100_000, deadTuples: 25_000 })] })).toEqual(['vacuum-analyze public.t']);
    expect(kinds({ tables: [table({ liveTuples: 100_001, deadTuples: 25_000 })] })).toEqual([]);
    // 1000 dead of 1000 rows: ratio 0.5, exactly min_dead_tuples; 999 is too few.
    expect(kinds({ tables: [table({ liveTuples: 1000, deadTuples: 1000 })] })).toEqual(['vacuum-analyze public.t']);
    expect(kinds({ tables: [table({ liveTuples: 999, deadTuples: 999 })] })).toEqual([]);
  });

  it('prefers pgstattuple_approx over the counters, and its dead bytes are the expected gain', () => {
    const t = table({
      liveTuples: 100_000,
      deadTuples: 0,
      exact: { liveTuples: 10_000, deadTuples: 90_000, deadBytes: 9 * MB, freeBytes: MB, scannedPercent: 100 },
    });
    const [a] = plan({ tables: [t] }).actions;
    expect(a).toMatchObject({ kind: 'vacuum-analyze', method: 'pgstattuple', expectedGainBytes: 9 * MB, sql: 'VACUUM (ANALYZE) "public"."t"' });
    expect(a!.measurement).toMatchObject({ liveTuples: 10_000, deadTuples: 90_000, deadRatio: 0.9, deadBytes: 9 * MB });
    expect(a!.reason).toContain('90.0 %');
  });

  it('judges a table pgstattuple_approx did not read by its counters, and says why', () => {
    const why = 'the visibility map marks 0 % of the heap all-visible: pgstattuple_approx would read nearly all of it';
    const [a] = plan({ tables: [table({ liveTuples: 60_000, deadTuples: 40_000, allVisibleShare: 0, notRead: why })] }).actions;
    expect(a).toMatchObject({ kind: 'vacuum-analyze', method: 'statistics', expectedGainBytes: 40 * MB });
    expect(a!.measurement).toMatchObject({ deadTuples: 40_000, measuredDeadTuples: null, allVisibleRatio: 0 });
    expect(a!.reason).toContain(`counted by statistics: ${why}`);
  });

  it('counts the dead tuples pruning hid from pgstattuple: the counter still has them, VACUUM still has to clear them', () => {
    const pruned = table({
      liveTuples: 10_000,
      deadTuples: 90_000,
      exact: { liveTuples: 10_000, deadTuples: 0, deadBytes: 0, freeBytes: 80 * MB, scannedPercent: 100 },
    });
    const [a] = plan({ tables: [pruned] }).actions;
    expect(a).toMatchObject({ kind: 'vacuum-analyze', method: 'pgstattuple', expectedGainBytes: 0 });
    expect(a!.measurement).toMatchObject({ deadTuples: 90_000, countedDeadTuples: 90_000, measuredDeadTuples: 0, freeBytes: 80 * MB });
    expect(a!.reason).toContain('most already pruned (their space is free), VACUUM still clears their index entries');
  });

  it('without pgstattuple, the heap times the dead share stands for the dead bytes', () => {
    const [a] = plan({ pgstattuple: false, tables: [table({ liveTuples: 50_000, deadTuples: 50_000 })] }).actions;
    expect(a).toMatchObject({ method: 'statistics', expectedGainBytes: 50 * MB });
  });

  it('analyzes at modified_since_analyze_ratio, never analyzed tables with rows, and stale statistics only when rows changed', () => {
    expect(kinds({ tables: [table({ modifiedSinceAnalyze: 10_000 })] })).toEqual(['analyze public.t']);
    expect(kinds({ tables: [table({ modifiedSinceAnalyze: 9_999 })] })).toEqual([]);
    expect(kinds({ tables: [table({ lastAnalyze: null })] })).toEqual(['analyze public.t']);
    expect(kinds({ tables: [table({ lastAnalyze: null, liveTuples: 0 })] })).toEqual([]);
    const old = new Date(NOW.getTime() - 7 * DAY).toISOString();
    expect(kinds({ tables: [table({ lastAnalyze: old, modifiedSinceAnalyze: 1 })] })).toEqual(['analyze public.t']);
    expect(kinds({ tables: [table({ lastAnalyze: new Date(NOW.getTime() - 7 * DAY + 60_000).toISOString(), modifiedSinceAnalyze: 1 })] })).toEqual([]);
    // Old statistics of a table nobody changed are still right.
    expect(kinds({ tables: [table({ lastAnalyze: old, modifiedSinceAnalyze: 0 })] })).toEqual([]);
    // The newer of analyze and autoanalyze counts.
    expect(kinds({ tables: [table({ lastAnalyze: old, lastAutoanalyze: NOW.toISOString(), modifiedSinceAnalyze: 1 })] })).toEqual([]);
    const [a] = plan({ tables: [table({ lastAnalyze: old, modifiedSinceAnalyze: 1 })] }).actions;
    expect(a).toMatchObject({ expectedGainBytes: 0, sql: 'ANALYZE "public"."t"' });
    expect(a!.measurement['daysSinceAnalyze']).toBe(7);
  });

  it('a vacuumed table is not analyzed separately (VACUUM (ANALYZE) does both)', () => {
    expect(kinds({ tables: [table({ deadTuples: 100_000, modifiedSinceAnalyze: 100_000 })] })).toEqual(['vacuum-analyze public.t']);
  });

  it('exclude_tables matches table, schema.table and * patterns, and leaves their indexes alone', () => {
    const t = table({ name: 'audit_2026', deadTuples: 100_000 });
    const i = index({
      name: 'audit_2026_pkey',
      table: 'audit_2026',
      exact: { leafPages: 2500, internalPages: 10, emptyPages: 0, deletedPages: 0, avgLeafDensity: 30 },
    });
    for (const pattern of ['audit_2026', 'public.audit_2026', 'audit_*', '*.audit_*']) {
      const p = plan({ tables: [t], indexes: [i] }, policy({ exclude_tables: [pattern] }));
      expect(p.actions, pattern).toEqual([]);
      expect(p.excluded).toEqual(['public.audit_2026']);
    }
    expect(kinds({ tables: [t] }, policy({ exclude_tables: ['audit'] }))).toEqual(['vacuum-analyze public.audit_2026']);
  });
});

describe('planMaintenance: indexes', () => {
  const pages = (bytes: number) => bytes / 8192;

  it('rebuilds a btree of at least min_size with at least reclaimable_ratio reclaimable, from pgstatindex', () => {
    // 2560 pages; 2500 leaves at 60 % density with fillfactor 90 → 1667 leaves + 7 internal + meta = 1675 pages: 34.6 % reclaimable.
    const i = index({ exact: { leafPages: 2500, internalPages: 10, emptyPages: 0, deletedPages: 50, avgLeafDensity: 60 } });
    const [a] = plan({ indexes: [i] }).actions;
    expect(a).toMatchObject({
      kind: 'reindex',
      target: 'public.t_pkey',
      table: 'public.t',
      method: 'pgstatindex',
      sql: 'REINDEX INDEX CONCURRENTLY "public"."t_pkey"',
    });
    expect(a!.measurement).toMatchObject({ bytes: 20 * MB, expectedBytes: 1675 * 8192, avgLeafDensity: 0.6, tableDeadRatio: 0, fillfactor: 90 });
    expect(a!.expectedGainBytes).toBe(20 * MB - 1675 * 8192);
    expect(a!.measurement['reclaimableRatio']).toBeCloseTo(1 - 1675 / pages(20 * MB), 4);
    // Denser leaves: 65 % → 1806 + 8 + 1 = 1815 pages, 29.1 %: below 0.3.
    expect(kinds({ indexes: [index({ exact: { leafPages: 2500, internalPages: 10, emptyPages: 0, deletedPages: 0, avgLeafDensity: 65 } })] })).toEqual([]);
  });

  it('never rebuilds below min_size, and min_size is inclusive', () => {
    const sparse = { leafPages: 1000, internalPages: 5, emptyPages: 0, deletedPages: 0, avgLeafDensity: 20 };
    expect(kinds({ indexes: [index({ bytes: 10 * MB - 8192, exact: sparse })] })).toEqual([]);
    expect(kinds({ indexes: [index({ bytes: 10 * MB, exact: sparse })] })).toEqual(['reindex public.t_pkey']);
    expect(kinds({ indexes: [index({ bytes: 5 * MB, exact: sparse })] }, policy({ indexes: { min_size: '4MB' } }))).toEqual(['reindex public.t_pkey']);
  });

  it('judges the index as it will be after the planned VACUUM: a dense index of a table of mostly dead rows is bloated', () => {
    const dense = index({ exact: { leafPages: 2550, internalPages: 10, emptyPages: 0, deletedPages: 0, avgLeafDensity: 90 } });
    expect(kinds({ indexes: [dense] })).toEqual([]);
    const dead = table({ liveTuples: 20_000, deadTuples: 80_000 });
    const p = plan({ tables: [dead], indexes: [dense] });
    expect(p.actions.map((a) => a.kind)).toEqual(['vacuum-analyze', 'reindex']);
    expect(p.actions[1]!.measurement).toMatchObject({ tableDeadRatio: 0.8, leafDensityAfterVacuum: 0.18 });
  });

  it('without pgstattuple, estimates from the live rows and key width and says so', () => {
    // 100,000 live rows of a 4-byte key: 16 B + 4 B per entry, 366 in 90 % of (8192 − 40) B → 274 leaves + 1 internal + meta.
    const i = index({ exact: null, keyWidth: 4 });
    const [a] = plan({ pgstattuple: false, indexes: [i] }).actions;
    expect(a).toMatchObject({ kind: 'reindex', method: 'estimated' });
    expect(a!.reason).toContain('estimated');
    expect(a!.measurement).toMatchObject({ liveTuples: 100_000, keyWidth: 4, tuplesPerLeafPage: 366, expectedBytes: 276 * 8192 });
  });

  it('an index neither measured nor estimable is a warning, not an action', () => {
    const p = plan({ pgstattuple: false, indexes: [index({ exact: null, keyWidth: null })] });
    expect(p.actions).toEqual([]);
    expect(p.warnings).toMatchObject([{ kind: 'unmeasured-index', subject: 'public.t_pkey' }]);
    // A table neither vacuumed nor analyzed has no row count to estimate from.
    const q = plan({ pgstattuple: false, tables: [table({ estimatedRows: null })], indexes: [index({ exact: null })] });
    expect(q.warnings).toMatchObject([{ kind: 'unmeasured-index', subject: 'public.t_pkey' }]);
  });

  it('does not judge non-btree indexes', () => {
    expect(kinds({ indexes: [index({ method: 'gin', exact: null, keyWidth: null })] })).toEqual([]);
  });

  it('drops _ccnew, _ccnewN, _ccold and _ccoldN leftovers; other invalid indexes are only warned about', () => {
    const invalid = (name: string, ready = true) => index({ name, valid: false, ready, bytes: 3 * MB, exact: null });
    const p = plan({
      indexes: [
        invalid('t_pkey_ccnew'),
        invalid('t_pkey_ccnew1', false),
        invalid('t_code_idx_ccold'),
        invalid('t_code_idx_ccold12'),
        invalid('t_half_built_idx'),
      ],
    });
    expect(p.actions.map((a) => `${a.kind} ${a.target}`)).toEqual([
      'drop-invalid public.t_code_idx_ccold',
      'drop-invalid public.t_code_idx_ccold12',
      'drop-invalid public.t_pkey_ccnew',
      'drop-invalid public.t_pkey_ccnew1',
    ]);
    const ccnew = p.actions.find((a) => a.target === 'public.t_pkey_ccnew')!;
    expect(ccnew).toMatchObject({ expectedGainBytes: 3 * MB, method: 'catalog', sql: 'DROP INDEX CONCURRENTLY IF EXISTS "public"."t_pkey_ccnew"' });
    expect(ccnew.reason).toMatch(/cancelled REINDEX CONCURRENTLY of public\.t_pkey, still updated by every write; drop it, then rebuild public\.t_pkey/);
    expect(p.actions.find((a) => a.target === 'public.t_pkey_ccnew1')!.reason).not.toContain('still updated');
    expect(p.actions.find((a) => a.target === 'public.t_code_idx_ccold')!.reason).toContain('the rebuild succeeded');
    expect(p.warnings).toMatchObject([{ kind: 'invalid-index', subject: 'public.t_half_built_idx' }]);
  });

  it('a _ccnew index of a table with a build running now is work in progress, not a leftover', () => {
    const p = plan({
      indexes: [index({ name: 't_pkey_ccnew', valid: false, exact: null })],
      buildsInProgress: [{ pid: 77, schema: 'public', table: 't', command: 'REINDEX CONCURRENTLY' }],
    });
    expect(p.actions).toEqual([]);
    expect(p.warnings).toMatchObject([{ kind: 'build-in-progress', subject: 'public.t_pkey_ccnew', measurement: { pid: 77 } }]);
  });
});

describe('planMaintenance: warnings', () => {
  it('warns at exactly xid_age_warning, also on excluded tables', () => {
    expect(plan({ tables: [table({ xidAge: 999_999_999 })] }).warnings).toEqual([]);
    const p = plan({ tables: [table({ xidAge: 1_000_000_000 })] }, policy({ exclude_tables: ['t'] }));
    expect(p.warnings).toMatchObject([{ kind: 'xid-age', subject: 'public.t', measurement: { xidAge: 1_000_000_000 } }]);
    expect(p.warnings[0]!.message).toContain('46.6 %');
  });

  it('warns at exactly multixact_age_warning, also on excluded tables, after the xid warnings', () => {
    expect(plan({ tables: [table({ multixactAge: 999_999_999 })] }).warnings).toEqual([]);
    const p = plan(
      { tables: [table({ multixactAge: 1_500_000_000, xidAge: 1_000_000_000 })] },
      policy({ exclude_tables: ['t'], multixact_age_warning: 1_500_000_000 }),
    );
    expect(p.warnings.map((w) => w.kind)).toEqual(['xid-age', 'multixact-age']);
    expect(p.warnings[1]).toMatchObject({ subject: 'public.t', measurement: { multixactAge: 1_500_000_000, threshold: 1_500_000_000 } });
    expect(p.warnings[1]!.message).toContain('mxid_age(relminmxid) 1500000000 (≥ 1500000000), 69.8 % of the way to multixact wraparound');
  });

  it('names a transaction open at least long_transaction by pid, user, application and age', () => {
    const x = (ageMs: number, pid: number) => ({
      pid,
      user: 'app',
      application: 'psql',
      state: 'idle in transaction',
      xactStart: new Date(NOW.getTime() - ageMs).toISOString(),
      query: 'SELECT 1',
    });
    const p = plan({ transactions: [x(5 * 60_000, 4711), x(5 * 60_000 - 1, 4712)] });
    expect(p.warnings).toHaveLength(1);
    expect(p.warnings[0]).toMatchObject({
      kind: 'long-transaction',
      subject: 'pid 4711',
      measurement: { pid: 4711, user: 'app', application: 'psql', ageSeconds: 300 },
    });
    expect(p.warnings[0]!.message).toMatch(/pid 4711 \(user app, application psql, idle in transaction\) has had a transaction open for 300 s/);
    expect(p.warnings[0]!.message).toContain('a REINDEX … CONCURRENTLY would wait for it');
    const withRebuild = plan({
      transactions: [x(10 * 60_000, 4711)],
      indexes: [index({ exact: { leafPages: 2500, internalPages: 10, emptyPages: 0, deletedPages: 0, avgLeafDensity: 30 } })],
    });
    expect(withRebuild.warnings[0]!.message).toContain('the 1 planned REINDEX … CONCURRENTLY would wait for it');
  });
});

describe('planMaintenance: the plan', () => {
  it('orders by expected gain, then name, and totals the gain; the same facts give the same plan', () => {
    const f = {
      tables: [
        table({ name: 'b', deadTuples: 100_000 }),
        table({ name: 'a', deadTuples: 100_000 }),
        table({ name: 'c', modifiedSinceAnalyze: 50_000 }),
        table({ name: 'big', heapBytes: 400 * MB, deadTuples: 100_000 }),
      ],
      indexes: [index({ name: 'x_ccnew', table: 'a', valid: false, bytes: 60 * MB, exact: null })],
    };
    const p = plan(f);
    expect(p.actions.map((a) => `${a.kind} ${a.target}`)).toEqual([
      'vacuum-analyze public.big',
      'drop-invalid public.x_ccnew',
      'vacuum-analyze public.a',
      'vacuum-analyze public.b',
      'analyze public.c',
    ]);
    expect(p.expectedGainBytes).toBe(200 * MB + 60 * MB + 50 * MB + 50 * MB);
    expect(plan({ ...f, tables: [...f.tables].reverse() })).toEqual(p);
    expect(p).toMatchObject({ at: NOW.toISOString(), database: 'ledger', pgstattuple: true, measured: { tables: 4, indexes: 1 } });
  });
});

describe('planMaintenance: --only', () => {
  // One table of each table action, a bloated index of the vacuumed table and a leftover: every kind once.
  const f = {
    tables: [table({ name: 'a', liveTuples: 20_000, deadTuples: 80_000 }), table({ name: 'c', modifiedSinceAnalyze: 50_000 })],
    indexes: [
      index({ name: 'a_pkey', table: 'a' }),
      index({ name: 'c_pkey_ccnew', table: 'c', valid: false, exact: null }),
      index({ name: 'c_half_built_idx', table: 'c', valid: false, exact: null }),
    ],
    transactions: [
      {
        pid: 42,
        user: 'app',
        application: 'psql',
        state: 'idle in transaction',
        xactStart: new Date(NOW.getTime() - 3 * 3_600_000).toISOString(),
        query: 'SELECT 1',
      },
    ],
  };
  const only = (scope: 'all' | 'tables' | 'indexes') => planMaintenance(facts(f), policy(), NOW, scope);

  it('tables keeps vacuum-analyze and analyze, indexes keeps reindex and drop-invalid, all (the default) keeps both', () => {
    const sorted = (scope: 'all' | 'tables' | 'indexes') =>
      only(scope)
        .actions.map((a) => `${a.kind} ${a.target}`)
        .sort();
    expect(sorted('all')).toEqual(['analyze public.c', 'drop-invalid public.c_pkey_ccnew', 'reindex public.a_pkey', 'vacuum-analyze public.a']);
    expect(plan(f)).toEqual(only('all'));
    expect(sorted('tables')).toEqual(['analyze public.c', 'vacuum-analyze public.a']);
    expect(sorted('indexes')).toEqual(['drop-invalid public.c_pkey_ccnew', 'reindex public.a_pkey']);
  });

  it('an index is still judged as after the VACUUM its table needs, and the total gain is of the kept actions only', () => {
    const all = only('all');
    const indexes = only('indexes');
    expect(indexes.actions.find((a) => a.kind === 'reindex')).toEqual(all.actions.find((a) => a.kind === 'reindex'));
    expect(indexes.expectedGainBytes).toBe(indexes.actions.reduce((n, a) => n + a.expectedGainBytes, 0));
    expect(only('tables').expectedGainBytes + indexes.expectedGainBytes).toBe(all.expectedGainBytes);
    expect([all.scope, only('tables').scope, indexes.scope]).toEqual(['all', 'tables', 'indexes']);
  });

  it('keeps every warning whatever the scope: they describe the database, not the chosen actions', () => {
    const warnings = (scope: 'all' | 'tables' | 'indexes') => only(scope).warnings.map((w) => `${w.kind} ${w.subject}`);
    expect(warnings('tables')).toEqual(['long-transaction pid 42', 'invalid-index public.c_half_built_idx']);
    expect(warnings('indexes')).toEqual(warnings('tables'));
    expect(warnings('all')).toEqual(warnings('tables'));
  });
});

describe('maintain run limits: window and budget', () => {
  const window = { environment: 'production', zone: 'Europe/Berlin', open: [{ days: ['sun' as const], from: '05:00', to: '12:00' }] };
  const start = new Date('2026-12-06T05:00:00Z'); // Sunday 06:00 in Berlin

  it('the window as judged at the start: open until when, or closed until when', () => {
    expect(windowStatus(window, start)).toEqual({
      environment: 'production',
      zone: 'Europe/Berlin',
      open: true,
      window: 'sun 05:00–12:00 (Europe/Berlin)',
      closesAt: '2026-12-06T11:00:00.000Z',
      summary: 'the maintenance window of production is open (sun 05:00–12:00 (Europe/Berlin), closes Sun 2026-12-06 12:00 Europe/Berlin)',
    });
    // Tuesday 1 December 05:30 UTC, 06:30 in Berlin (a monthly run on a weekday): closed until Sunday.
    expect(windowStatus(window, new Date('2026-12-01T05:30:00Z'))).toEqual({
      environment: 'production',
      zone: 'Europe/Berlin',
      open: false,
      nextOpen: '2026-12-06T04:00:00.000Z',
      summary: 'the maintenance window of production is closed (it is Tue 2026-12-01 06:30 Europe/Berlin); it next opens Sun 2026-12-06 05:00 Europe/Berlin',
    });
  });

  it('stops at the window’s end and once the budget is spent, the window named first', () => {
    const limits = { window, closesAt: new Date('2026-12-06T11:00:00Z'), budget: '3h', budgetMs: 3 * 3_600_000, startedAt: start };
    expect(stopReason(limits, new Date('2026-12-06T07:59:59Z'))).toBeUndefined();
    expect(stopReason(limits, new Date('2026-12-06T08:00:00Z'))).toBe('the budget of 3h is spent (the run started Sun 2026-12-06 05:00 UTC)');
    expect(stopReason({ ...limits, budgetMs: 0 }, new Date('2026-12-06T10:59:00Z'))).toBeUndefined();
    expect(stopReason(limits, new Date('2026-12-06T11:00:00Z'))).toBe('the maintenance window of production closed at Sun 2026-12-06 12:00 Europe/Berlin');
    // No window: only the budget.
    expect(stopReason({ budget: '0', budgetMs: 0, startedAt: start }, new Date('2027-01-01T00:00:00Z'))).toBeUndefined();
  });

  it('a window key that names no environment is a policy error naming the key and the likely one', () => {
    const environments = EnvironmentsPolicy.parse({ version: 1, environments: { production: { database_url_env: 'P' }, staging: { database_url_env: 'S' } } });
    const p = policy({ windows: { production: { zone: 'UTC', open: [{ days: ['sun'], from: '05:00', to: '09:00' }] } } });
    expect(maintenanceWindowOf(p, environments, 'production')).toEqual({ environment: 'production', zone: 'UTC', open: p.windows['production']!.open });
    expect(maintenanceWindowOf(p, environments, 'staging')).toBeUndefined();
    expect(() => maintenanceWindowOf(policy({ windows: { prodution: {} } }), environments, 'staging')).toThrow(
      'policies/maintenance.yaml: windows.prodution names no environment of policies/environments.yaml (it defines "production", "staging"). Did you mean "production"?',
    );
  });

  it('the policy keys: windows reuse the environments’ schema; budget, throttle and create_pgstattuple have defaults', () => {
    expect(policy()).toMatchObject({
      windows: {},
      budget: '3h',
      throttle: { cost_delay: 2, cost_limit: 200 },
      create_pgstattuple: false,
      multixact_age_warning: 1_000_000_000,
    });
    expect(policy({ windows: { production: {} } }).windows['production']).toEqual({ zone: 'UTC', open: [] });
    expect(() => policy({ windows: { production: { zone: 'Mars/Olympus' } } })).toThrow(/IANA time zone/);
    // outside_window belongs to deploys' change windows only.
    expect(() => policy({ windows: { production: { outside_window: { allowed: true } } } })).toThrow();
    expect(() => policy({ throttle: { cost_delay: 101 } })).toThrow();
  });
});
