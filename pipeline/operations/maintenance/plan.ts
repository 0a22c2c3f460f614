import { wildcard } from '../../core/pattern.ts';
import { parseDuration } from '../../core/duration.ts';
import { formatBytes } from '../../core/format.ts';
import { parseSize } from '../../core/size.ts';
import { quoteIdent } from '../../infra/db/url.ts';
import type { MaintenancePolicy } from '../../policy/maintenance.ts';
import type { IndexFacts, MaintenanceFacts, TableFacts } from './facts.ts';

/**
 * The maintenance planner: pure, from measured facts, a policy and a clock to the actions `maintain run` would
 * take and the warnings an operator should read first. Nothing here talks to a database.
 */

export type ActionKind = 'vacuum-analyze' | 'analyze' | 'reindex' | 'drop-invalid';

/**
 * Which actions a plan holds: `tables` the VACUUM (ANALYZE) and ANALYZE ones, `indexes` the REINDEX and the drops
 * of leftovers, `all` both. Weekly statistics and monthly rebuilds run on different schedules; everything is
 * still measured and every warning kept, because they describe the database, not the chosen actions.
 */
export type MaintenanceScope = 'all' | 'tables' | 'indexes';

export const SCOPE_KINDS: Readonly<Record<MaintenanceScope, ReadonlySet<ActionKind>>> = {
  all: new Set(['vacuum-analyze', 'analyze', 'reindex', 'drop-invalid']),
  tables: new Set(['vacuum-analyze', 'analyze']),
  indexes: new Set(['reindex', 'drop-invalid']),
};

/**
 * Where the numbers of an action come from: `pgstattuple` (pgstattuple_approx of the table), `pgstatindex`
 * (the index's pages read), `statistics` (pg_stat_user_tables counters), `estimated` (the btree size
 * estimate from the row count and key widths, used without pgstattuple), `catalog` (pg_index, sizes).
 */
export type Method = 'pgstattuple' | 'pgstatindex' | 'statistics' | 'estimated' | 'catalog';

export interface MaintenanceAction {
  kind: ActionKind;
  /** `schema.name` of the table or index acted on. */
  target: string;
  /** `schema.name` of the table it belongs to (the target itself for table actions). */
  table: string;
  reason: string;
  method: Method;
  /** The numbers the decision was taken on (counts, bytes, ratios 0–1). */
  measurement: Record<string, number | null>;
  /** Bytes made reusable (VACUUM) or returned (REINDEX, DROP); 0 for ANALYZE. */
  expectedGainBytes: number;
  /** The statement `maintain run` will execute. */
  sql: string;
}

export type WarningKind = 'xid-age' | 'multixact-age' | 'long-transaction' | 'invalid-index' | 'build-in-progress' | 'unmeasured-index';

export interface MaintenanceWarning {
  kind: WarningKind;
  /** The table, index or session (`pid 1234`) it is about. */
  subject: string;
  message: string;
  measurement: Record<string, number | string | null>;
}

export interface MaintenancePlan {
  /** The server's clock the plan was judged at. */
  at: string;
  database: string;
  pgstattuple: boolean;
  /** The actions this plan was restricted to (`--only`). */
  scope: MaintenanceScope;
  /** Largest expected gain first, then by name. */
  actions: MaintenanceAction[];
  warnings: MaintenanceWarning[];
  expectedGainBytes: number;
  measured: { tables: number; indexes: number };
  excluded: string[];
}

const DAY_MS = 86_400_000;
/** Btree page overhead: the page header (24 B) and the btree special space (16 B). */
const BTREE_PAGE_OVERHEAD = 40;
/** An index tuple: its 8-byte header (heap TID and flags) before the key, and a 4-byte line pointer. */
const INDEX_TUPLE_HEADER = 8;
const LINE_POINTER = 4;
const MAXALIGN = 8;
/** Names a cancelled or finished `REINDEX … CONCURRENTLY` leaves: `<index>_ccnew`, `_ccnew1`, `_ccold`, `_ccold2`, … */
const CONCURRENT_LEFTOVER = /^(.*)_cc(new|old)\d*$/;

const qualified = (schema: string, name: string): string => `${schema}.${name}`;
const sqlName = (schema: string, name: string): string => `${quoteIdent(schema)}.${quoteIdent(name)}`;
const round = (n: number, digits = 4): number => Math.round(n * 10 ** digits) / 10 ** digits;
const pct = (ratio: number): string => `${(ratio * 100).toFixed(1)} %`;

/** `table` or `schema.table`, `*` for any run of characters. */
function excludedBy(patterns: readonly string[]): (schema: string, name: string) => boolean {
  const regexes = patterns.map(wildcard);
  return (schema, name) => regexes.some((r) => r.test(name) || r.test(qualified(schema, name)));
}

/**
 * Live tuples as pgstattuple_approx counted them when it ran, else the statistics counter. Dead tuples: the larger
 * of both. Any read of a page prunes it, turning dead tuples into dead line pointers that pgstattuple no longer
 * sees but that VACUUM still has to clear from every index; the counter keeps those, pgstattuple has the rest.
 */
function tuples(t: TableFacts): { live: number; dead: number; deadShare: number; method: Method } {
  const live = t.exact?.liveTuples ?? t.liveTuples;
  const dead = Math.max(t.deadTuples, t.exact?.deadTuples ?? 0);
  return { live, dead, deadShare: live + dead > 0 ? dead / (live + dead) : 0, method: t.exact ? 'pgstattuple' : 'statistics' };
}

function tableActions(t: TableFacts, policy: MaintenancePolicy, now: number): MaintenanceAction[] {
  const rules = policy.tables;
  const target = qualified(t.schema, t.name);
  const { live, dead, deadShare, method } = tuples(t);
  if (dead >= rules.min_dead_tuples && dead > 0 && deadShare >= rules.dead_tuple_ratio) {
    // VACUUM makes the dead tuples' space reusable (pruned ones are free space already); without pgstattuple their
    // share of the heap stands for their bytes.
    const deadBytes = t.exact ? t.exact.deadBytes : Math.round(t.heapBytes * deadShare);
    return [
      {
        kind: 'vacuum-analyze',
        target,
        table: target,
        reason: `${Math.round(dead)} dead tuples, ${pct(deadShare)} of the table (≥ ${pct(rules.dead_tuple_ratio)} and ≥ ${rules.min_dead_tuples})${
          t.exact && t.exact.deadTuples < dead / 2 ? '; most already pruned (their space is free), VACUUM still clears their index entries' : ''
        }${t.notRead ? `; counted by statistics: ${t.notRead}` : ''}`,
        method,
        measurement: {
          liveTuples: live,
          deadTuples: dead,
          countedDeadTuples: t.deadTuples,
          measuredDeadTuples: t.exact?.deadTuples ?? null,
          deadRatio: round(deadShare),
          heapBytes: t.heapBytes,
          deadBytes,
          freeBytes: t.exact?.freeBytes ?? null,
          allVisibleRatio: round(t.allVisibleShare),
          modifiedSinceAnalyze: t.modifiedSinceAnalyze,
        },
        expectedGainBytes: deadBytes,
        sql: `VACUUM (ANALYZE) ${sqlName(t.schema, t.name)}`,
      },
    ];
  }
  const last =
    [t.lastAnalyze, t.lastAutoanalyze]
      .filter((d): d is string => d !== null)
      .sort()
      .at(-1) ?? null;
  const days = last === null ? null : (now - Date.parse(last)) / DAY_MS;
  const modified = t.modifiedSinceAnalyze;
  const modifiedShare = live > 0 ? modified / live : modified > 0 ? Infinity : 0;
  const reasons: string[] = [];
  if (last === null && live + modified > 0) reasons.push('never analyzed');
  if (modified > 0 && modifiedShare >= rules.modified_since_analyze_ratio)
    reasons.push(
      `${Math.round(modified)} rows modified since the last analyze, ${live > 0 ? pct(modifiedShare) : 'all'} of the live rows (≥ ${pct(rules.modified_since_analyze_ratio)})`,
    );
  // Statistics of a table nobody changed are still right, however old.
  if (days !== null && modified > 0 && days >= rules.analyze_after_days)
    reasons.push(`last analyzed ${days.toFixed(1)} days ago (≥ ${rules.analyze_after_days}) with rows modified since`);
  if (reasons.length === 0) return [];
  return [
    {
      kind: 'analyze',
      target,
      table: target,
      reason: reasons.join('; '),
      method: 'statistics',
      measurement: {
        liveTuples: live,
        modifiedSinceAnalyze: modified,
        modifiedRatio: Number.isFinite(modifiedShare) ? round(modifiedShare) : null,
        daysSinceAnalyze: days === null ? null : round(days, 2),
      },
      expectedGainBytes: 0,
      sql: `ANALYZE ${sqlName(t.schema, t.name)}`,
    },
  ];
}

/**
 * An index as it will be after the planned VACUUM: the entries of the table's dead tuples are gone, so the leaf
 * density left is the measured one times the live share. An index looks dense until VACUUM has run.
 */
function indexAfterVacuum(
  i: IndexFacts,
  table: TableFacts | undefined,
  blockSize: number,
): { method: Method; expectedPages: number; measurement: Record<string, number | null> } | null {
  const ff = i.fillfactor / 100;
  const deadShare = table ? tuples(table).deadShare : 0;
  if (i.exact) {
    const density = Number.isFinite(i.exact.avgLeafDensity) ? i.exact.avgLeafDensity / 100 : 0;
    const after = density * (1 - deadShare);
    const leafAfter = Math.ceil((i.exact.leafPages * after) / ff);
    const internalAfter = i.exact.leafPages > 0 ? Math.ceil((i.exact.internalPages * leafAfter) / i.exact.leafPages) : 0;
    return {
      method: 'pgstatindex',
      expectedPages: leafAfter + internalAfter + 1,
      measurement: {
        leafPages: i.exact.leafPages,
        emptyOrDeletedPages: i.exact.emptyPages + i.exact.deletedPages,
        avgLeafDensity: round(density),
        tableDeadRatio: round(deadShare),
        leafDensityAfterVacuum: round(after),
        fillfactor: i.fillfactor,
      },
    };
  }
  // Without pgstattuple: the smallest btree that holds the live rows (as the last ANALYZE or VACUUM counted them,
  // so dead rows are already left out) at the fillfactor. It ignores deduplication, so it understates the bloat of
  // deduplicated indexes (it only screens; pgstatindex decides).
  const live = table?.exact?.liveTuples ?? table?.estimatedRows ?? null;
  if (i.keyWidth === null || live === null) return null;
  const tupleBytes = Math.ceil((INDEX_TUPLE_HEADER + i.keyWidth) / MAXALIGN) * MAXALIGN + LINE_POINTER;
  const perPage = Math.max(1, Math.floor(((blockSize - BTREE_PAGE_OVERHEAD) * ff) / tupleBytes));
  const leafAfter = Math.ceil(live / perPage);
  // One internal entry per leaf page, in pages of the same size: a small fraction of the leaves.
  const internalAfter = leafAfter > 1 ? Math.ceil(leafAfter / perPage) : 0;
  return {
    method: 'estimated',
    expectedPages: leafAfter + internalAfter + 1,
    measurement: { liveTuples: live, keyWidth: i.keyWidth, tuplesPerLeafPage: perPage, tableDeadRatio: round(deadShare), fillfactor: i.fillfactor },
  };
}

function indexFindings(
  i: IndexFacts,
  facts: MaintenanceFacts,
  table: TableFacts | undefined,
  policy: MaintenancePolicy,
  minSize: number,
): { action?: MaintenanceAction; warning?: MaintenanceWarning } {
  const target = qualified(i.schema, i.name);
  const tableName = qualified(i.schema, i.table);
  if (!i.valid) {
    const leftover = CONCURRENT_LEFTOVER.exec(i.name);
    if (!leftover) {
      return {
        warning: {
          kind: 'invalid-index',
          subject: target,
          message: `${target} is INVALID but not a REINDEX CONCURRENTLY leftover (a failed CREATE INDEX CONCURRENTLY?): dbops leaves it alone; rebuild it with REINDEX INDEX CONCURRENTLY or drop it`,
          measurement: { bytes: i.bytes },
        },
      };
    }
    const build = facts.buildsInProgress.find((b) => b.schema === i.schema && b.table === i.table);
    if (build) {
      return {
        warning: {
          kind: 'build-in-progress',
          subject: target,
          message: `${target} belongs to a ${build.command} of ${tableName} running now (pid ${build.pid}): not a leftover yet`,
          measurement: { pid: build.pid, bytes: i.bytes },
        },
      };
    }
    const original = `${i.schema}.${leftover[1]}`;
    const reason =
      leftover[2] === 'new'
        ? `INVALID copy left by a cancelled REINDEX CONCURRENTLY of ${original}${i.ready ? ', still updated by every write' : ''}; drop it, then rebuild ${original}`
        : `INVALID old copy left by a REINDEX CONCURRENTLY of ${original} that was interrupted after the swap (the rebuild succeeded); drop it`;
    return {
      action: {
        kind: 'drop-invalid',
        target,
        table: tableName,
        reason,
        method: 'catalog',
        measurement: { bytes: i.bytes, ready: i.ready ? 1 : 0 },
        expectedGainBytes: i.bytes,
        sql: `DROP INDEX CONCURRENTLY IF EXISTS ${sqlName(i.schema, i.name)}`,
      },
    };
  }
  if (i.method !== 'btree' || i.bytes < minSize) return {};
  const judged = indexAfterVacuum(i, table, facts.blockSize);
  if (!judged) {
    return {
      warning: {
        kind: 'unmeasured-index',
        subject: target,
        message: `${target} (${formatBytes(i.bytes)}) could not be judged: pgstattuple is not installed and ${tableName} has no statistics (ANALYZE it, or CREATE EXTENSION pgstattuple)`,
        measurement: { bytes: i.bytes },
      },
    };
  }
  const totalPages = Math.max(1, Math.round(i.bytes / facts.blockSize));
  const reclaimable = Math.max(0, 1 - judged.expectedPages / totalPages);
  const expectedBytes = Math.min(i.bytes, judged.expectedPages * facts.blockSize);
  if (reclaimable < policy.indexes.reclaimable_ratio) return {};
  const estimated = judged.method === 'estimated' ? ', estimated (pgstattuple is not installed)' : '';
  return {
    action: {
      kind: 'reindex',
      target,
      table: tableName,
      reason: `${pct(reclaimable)} reclaimable after VACUUM (≥ ${pct(policy.indexes.reclaimable_ratio)}), ${formatBytes(i.bytes)} (≥ ${policy.indexes.min_size})${estimated}`,
      method: judged.method,
      measurement: { bytes: i.bytes, expectedBytes, reclaimableRatio: round(reclaimable), ...judged.measurement },
      expectedGainBytes: i.bytes - expectedBytes,
      sql: `REINDEX INDEX CONCURRENTLY ${sqlName(i.schema, i.name)}`,
    },
  };
}

const WARNING_ORDER: Record<WarningKind, number> = {
  'xid-age': 0,
  'multixact-age': 1,
  'long-transaction': 2,
  'invalid-index': 3,
  'build-in-progress': 4,
  'unmeasured-index': 5,
};

/**
 * What maintenance the database needs now, by the policy; `now` is the clock ages are judged at (the server's).
 * `scope` keeps only the table or the index actions; indexes are still judged as after the VACUUM the table needs
 * (REINDEX leaves the entries of dead rows out as VACUUM would).
 */
export function planMaintenance(facts: MaintenanceFacts, policy: MaintenancePolicy, now: Date, scope: MaintenanceScope = 'all'): MaintenancePlan {
  const at = now.getTime();
  const kinds = SCOPE_KINDS[scope];
  const minSize = parseSize(policy.indexes.min_size) ?? 0;
  const longMs = parseDuration(policy.long_transaction) ?? 0;
  const isExcluded = excludedBy(policy.exclude_tables);
  const actions: MaintenanceAction[] = [];
  const warnings: MaintenanceWarning[] = [];
  const excluded = new Set<string>();
  const byName = new Map(facts.tables.map((t) => [qualified(t.schema, t.name), t]));

  for (const t of facts.tables) {
    // Wraparound (of xids and of multixacts) is warned about even on an excluded table: excluding it from
    // maintenance does not make it safe.
    if (t.xidAge >= policy.xid_age_warning) {
      warnings.push({
        kind: 'xid-age',
        subject: qualified(t.schema, t.name),
        message: `${qualified(t.schema, t.name)} has age(relfrozenxid) ${t.xidAge} (≥ ${policy.xid_age_warning}), ${pct(t.xidAge / 2 ** 31)} of the way to wraparound: autovacuum is not freezing it; VACUUM (FREEZE) it`,
        measurement: { xidAge: t.xidAge, threshold: policy.xid_age_warning },
      });
    }
    if (t.multixactAge >= policy.multixact_age_warning) {
      warnings.push({
        kind: 'multixact-age',
        subject: qualified(t.schema, t.name),
        message: `${qualified(t.schema, t.name)} has mxid_age(relminmxid) ${t.multixactAge} (≥ ${policy.multixact_age_warning}), ${pct(t.multixactAge / 2 ** 31)} of the way to multixact wraparound: autovacuum is not freezing its row locks; VACUUM (FREEZE) it`,
        measurement: { multixactAge: t.multixactAge, threshold: policy.multixact_age_warning },
      });
    }
    if (isExcluded(t.schema, t.name)) {
      excluded.add(qualified(t.schema, t.name));
      continue;
    }
    actions.push(...tableActions(t, policy, at).filter((a) => kinds.has(a.kind)));
  }
  for (const i of facts.indexes) {
    if (isExcluded(i.schema, i.table)) continue;
    const found = indexFindings(i, facts, byName.get(qualified(i.schema, i.table)), policy, minSize);
    if (found.action && kinds.has(found.action.kind)) actions.push(found.action);
    if (found.warning) warnings.push(found.warning);
  }

  const rebuilds = actions.filter((a) => a.kind === 'reindex').length;
  for (const x of facts.transactions) {
    const age = at - Date.parse(x.xactStart);
    if (age < longMs) continue;
    const who = `pid ${x.pid}`;
    const waits = rebuilds > 0 ? ` the ${rebuilds} planned REINDEX … CONCURRENTLY would wait for it;` : ' a REINDEX … CONCURRENTLY would wait for it;';
    warnings.push({
      kind: 'long-transaction',
      subject: who,
      message: `${who} (user ${x.user ?? '?'}, application ${x.application || '?'}, ${x.state ?? 'unknown state'}) has had a transaction open for ${Math.round(age / 1000)} s (≥ ${policy.long_transaction}):${waits} VACUUM cannot remove rows deleted after it began`,
      measurement: { pid: x.pid, user: x.user, application: x.application, state: x.state, ageSeconds: Math.round(age / 1000), xactStart: x.xactStart },
    });
  }

  actions.sort((a, b) => b.expectedGainBytes - a.expectedGainBytes || (a.target < b.target ? -1 : a.target > b.target ? 1 : 0) || (a.kind < b.kind ? -1 : 1));
  warnings.sort((a, b) => WARNING_ORDER[a.kind] - WARNING_ORDER[b.kind] || (a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : 0));
  return {
    at: now.toISOString(),
    database: facts.database,
    pgstattuple: facts.pgstattuple,
    scope,
    actions,
    warnings,
    expectedGainBytes: actions.reduce((n, a) => n + a.expectedGainBytes, 0),
    measured: { tables: facts.tables.length, indexes: facts.indexes.length },
    excluded: [...excluded].sort(),
  };
}
