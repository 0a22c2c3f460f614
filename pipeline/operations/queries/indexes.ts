import { parseDuration } from '../../core/duration.ts';
import { formatBytes, plural } from '../../core/format.ts';
import { parseSize } from '../../core/size.ts';
import { quoteIdent } from '../../infra/db/url.ts';
import type { QueriesPolicy } from '../../policy/queries.ts';
import type { IndexStat, TableStat } from './facts.ts';
import type { QuerySnapshot } from './snapshot.ts';

/**
 * Index usage, judged from snapshots alone. An index is unused only when no node scanned it over the whole
 * window: statistics are per node, so the scans of the primary and of every replica of
 * policies/environments.yaml are summed, and a replica that could not be read leaves the index unjudged.
 */

export type IndexFindingKind = 'unused' | 'duplicate' | 'overlapping' | 'unindexed-foreign-key' | 'seq-scan-heavy';

export interface IndexFinding {
  kind: IndexFindingKind;
  /** `schema.name` of the index, or of the table for unindexed-foreign-key and seq-scan-heavy. */
  subject: string;
  table: string;
  message: string;
  /** The statement that acts on it (DROP INDEX CONCURRENTLY …, CREATE INDEX CONCURRENTLY …), to review before running. */
  fix: string;
  measurement: Record<string, number | string | null>;
  /** For a suggested index: its what-if cost with hypopg (whatif.ts), or why there is none. */
  whatIf?: WhatIf;
}

export type WhatIf = { measured: true; query: string; costBefore: number; costAfter: number; usesIndex: boolean } | { measured: false; reason: string };

export interface IndexReview {
  findings: IndexFinding[];
  /** Indexes with no scan on any node whose statistics do not cover the window yet, and why. */
  notJudged: Array<{ index: string; reason: string }>;
  /** The nodes whose scans were summed. */
  nodes: string[];
}

const qualified = (schema: string, name: string) => `${schema}.${name}`;
const sqlName = (schema: string, name: string) => `${quoteIdent(schema)}.${quoteIdent(name)}`;
/** pg_get_indexdef quotes a column name where SQL needs it; the catalog's attname does not. */
const bare = (column: string) => (/^"(.*)"$/s.test(column) ? column.slice(1, -1).replaceAll('""', '"') : column);
/** pg_get_indexdef without `CREATE [UNIQUE] INDEX <name> ON`: two indexes with the same shape are the same index twice. */
const shape = (i: IndexStat) => i.definition.replace(/^CREATE (?:UNIQUE )?INDEX .*? ON (?:ONLY )?/, '');
/** An index PostgreSQL needs whether or not it is scanned: it enforces uniqueness or backs a constraint. */
const enforces = (i: IndexStat) => i.unique || i.primary || i.constraint !== null;
const DAY_MS = 86_400_000;
// Rounded down: a window 1 ms short must not read as covered.
const days = (ms: number) => `${Math.floor((ms / DAY_MS) * 10) / 10} days`;

function scansOn(snapshot: QuerySnapshot, index: string): Map<string, number> {
  return new Map(snapshot.nodes.map((n) => [n.node, n.indexScans[index] ?? 0]));
}

/**
 * Whether `index` had no scan on any node for the window: by each node's counters when they started (stats_reset)
 * at least a window ago, or by a snapshot at least a window old whose counters on every node are still the same.
 */
function unusedOver(
  index: string,
  now: QuerySnapshot,
  baseline: QuerySnapshot | null,
  windowMs: number,
): { unused: boolean; since: string | null; why: string } {
  const scans = scansOn(now, index);
  const total = [...scans.values()].reduce((a, b) => a + b, 0);
  if (total > 0) return { unused: false, since: null, why: '' };
  const nowMs = Date.parse(now.at);
  const covered = now.nodes.every((n) => windowMs === 0 || (n.statsReset !== null && nowMs - Date.parse(n.statsReset) >= windowMs));
  if (covered) {
    const starts = now.nodes.map((n) => n.statsReset).filter((s): s is string => s !== null);
    return { unused: true, since: starts.sort().at(-1) ?? null, why: '' };
  }
  if (baseline && nowMs - Date.parse(baseline.at) >= windowMs) {
    const before = scansOn(baseline, index);
    const same = now.nodes.every((n) => {
      const b = baseline.nodes.find((x) => x.node === n.node);
      return b !== undefined && b.statsReset === n.statsReset && before.get(n.node) === scans.get(n.node);
    });
    if (same) return { unused: true, since: baseline.at, why: '' };
  }
  const youngest = now.nodes
    .map((n) => (n.statsReset === null ? null : nowMs - Date.parse(n.statsReset)))
    .reduce<number | null>((min, v) => (v === null || min === null ? null : Math.min(min, v)), Infinity);
  return {
    unused: false,
    since: null,
    why:
      youngest === null || youngest === Infinity
        ? `no scan on ${plural(now.nodes.length, 'node')}, but no snapshot is a window old yet and a node's statistics have no reset time to count from`
        : `no scan on ${plural(now.nodes.length, 'node')}, but the statistics cover ${days(youngest)} of the window`,
  };
}

function unusedIndexes(now: QuerySnapshot, baseline: QuerySnapshot | null, policy: QueriesPolicy, review: IndexReview): void {
  const windowMs = parseDuration(policy.indexes.unused_window) ?? 30 * DAY_MS;
  const minBytes = parseSize(policy.indexes.unused_min_size) ?? 0;
  for (const i of now.indexes) {
    if (!i.valid || enforces(i) || i.bytes < minBytes) continue;
    const name = qualified(i.schema, i.name);
    if (now.unreachable.length > 0) {
      if ([...scansOn(now, name).values()].every((n) => n === 0))
        review.notJudged.push({
          index: name,
          reason: `no scan on the nodes read, but ${now.unreachable.map((u) => `replica ${u.node} could not be read (${u.reason})`).join('; ')}`,
        });
      continue;
    }
    const verdict = unusedOver(name, now, baseline, windowMs);
    if (verdict.unused)
      review.findings.push({
        kind: 'unused',
        subject: name,
        table: qualified(i.schema, i.table),
        message: `${name} (${formatBytes(i.bytes)}) was not scanned on ${review.nodes.join(', ')}${verdict.since ? ` since ${verdict.since}` : ''}: every write still updates it`,
        fix: `DROP INDEX CONCURRENTLY ${sqlName(i.schema, i.name)};`,
        measurement: { bytes: i.bytes, scans: 0, nodes: review.nodes.length, since: verdict.since },
      });
    else if (verdict.why) review.notJudged.push({ index: name, reason: verdict.why });
  }
}

/** Same table, method and predicate: identical keys are duplicates; a non-unique btree whose keys lead another's is covered by it. */
function redundantIndexes(indexes: IndexStat[], review: IndexReview): void {
  const valid = indexes.filter((i) => i.valid);
  const seen = new Set<string>();
  for (const a of valid) {
    for (const b of valid) {
      if (a === b || a.schema !== b.schema || a.table !== b.table || a.method !== b.method || a.predicate !== b.predicate) continue;
      const table = qualified(a.schema, a.table);
      // The whole definition but the name (opclasses, collations, order, INCLUDE, WHERE) and UNIQUE.
      const same = shape(a) === shape(b);
      if (same) {
        // Report each pair once, proposing to drop the one that enforces nothing (the later name when neither does).
        const pair = [a.name, b.name].sort().join('\0');
        if (seen.has(pair)) continue;
        seen.add(pair);
        const [drop, keep] = enforces(a) && !enforces(b) ? [b, a] : enforces(b) && !enforces(a) ? [a, b] : a.name < b.name ? [b, a] : [a, b];
        if (enforces(drop)) continue;
        review.findings.push({
          kind: 'duplicate',
          subject: qualified(drop.schema, drop.name),
          table,
          message: `${qualified(drop.schema, drop.name)} duplicates ${qualified(keep.schema, keep.name)} (${drop.columns.join(', ')}): ${formatBytes(drop.bytes)} written twice on every change`,
          fix: `DROP INDEX CONCURRENTLY ${sqlName(drop.schema, drop.name)};`,
          measurement: { bytes: drop.bytes, duplicateOf: qualified(keep.schema, keep.name) },
        });
      } else if (a.method === 'btree' && !enforces(a) && a.columns.length < b.columns.length && a.columns.every((c, k) => c === b.columns[k])) {
        review.findings.push({
          kind: 'overlapping',
          subject: qualified(a.schema, a.name),
          table,
          message: `${qualified(a.schema, a.name)} (${a.columns.join(', ')}) is the leading part of ${qualified(b.schema, b.name)} (${b.columns.join(', ')}), which serves the same lookups`,
          fix: `DROP INDEX CONCURRENTLY ${sqlName(a.schema, a.name)};`,
          measurement: { bytes: a.bytes, coveredBy: qualified(b.schema, b.name) },
        });
      }
    }
  }
}

/** A foreign key whose columns do not lead any valid, non-partial btree: deleting or updating a referenced row scans the whole table. */
function unindexedForeignKeys(now: QuerySnapshot, review: IndexReview): void {
  for (const fk of now.foreignKeys) {
    const wanted = new Set(fk.columns);
    const covered = now.indexes.some(
      (i) =>
        i.valid &&
        i.method === 'btree' &&
        i.predicate === null &&
        i.schema === fk.schema &&
        i.table === fk.table &&
        i.columns.length >= fk.columns.length &&
        i.columns.slice(0, fk.columns.length).every((c) => wanted.has(bare(c))),
    );
    if (covered) continue;
    const table = now.tables.find((t) => t.schema === fk.schema && t.name === fk.table);
    const subject = qualified(fk.schema, fk.table);
    review.findings.push({
      kind: 'unindexed-foreign-key',
      subject,
      table: subject,
      message: `foreign key ${fk.name} of ${subject} (${fk.columns.join(', ')}) → ${fk.references} has no index: every delete or key update in ${fk.references} scans ${subject}${
        table ? ` (${formatBytes(table.bytes)})` : ''
      }, and joins on it cannot use an index`,
      fix: `CREATE INDEX CONCURRENTLY ON ${sqlName(fk.schema, fk.table)} (${fk.columns.map(quoteIdent).join(', ')});`,
      measurement: { constraint: fk.name, columns: fk.columns.join(', '), references: fk.references, bytes: table?.bytes ?? null },
    });
  }
}

/** Large tables read mostly by sequential scans over the interval (since the previous snapshot, else since the counters started). */
function seqScanHeavy(now: QuerySnapshot, previous: QuerySnapshot | null, policy: QueriesPolicy, review: IndexReview): void {
  const rules = policy.indexes;
  const minBytes = parseSize(rules.seq_scan_min_size) ?? 0;
  const sameEpoch = previous !== null && previous.database === now.database && previous.statsReset === now.statsReset;
  for (const t of now.tables) {
    if (t.bytes < minBytes) continue;
    const p: TableStat | undefined = sameEpoch ? previous!.tables.find((x) => x.schema === t.schema && x.name === t.name) : undefined;
    const continues = p !== undefined && t.seqScan >= p.seqScan && t.seqTupRead >= p.seqTupRead && (t.idxScan ?? 0) >= (p.idxScan ?? 0);
    const seq = t.seqScan - (continues ? p.seqScan : 0);
    const idx = (t.idxScan ?? 0) - (continues ? (p.idxScan ?? 0) : 0);
    const rows = t.seqTupRead - (continues ? p.seqTupRead : 0);
    const share = seq + idx > 0 ? seq / (seq + idx) : 0;
    if (seq === 0 || share < rules.seq_scan_ratio || rows < rules.seq_scan_min_rows) continue;
    const subject = qualified(t.schema, t.name);
    review.findings.push({
      kind: 'seq-scan-heavy',
      subject,
      table: subject,
      message: `${subject} (${formatBytes(t.bytes)}) was read by ${plural(seq, 'sequential scan')} (${Math.round(share * 100)} % of its scans, ${rows} rows read)${
        continues ? ' since the previous snapshot' : ' since its statistics started'
      }: find the statements among the top ones and index their filter columns`,
      fix: `-- the statements that read ${subject}: see the top statements; then CREATE INDEX CONCURRENTLY ON ${sqlName(t.schema, t.name)} (<their filter columns>);`,
      measurement: { bytes: t.bytes, seqScans: seq, indexScans: idx, seqShare: Math.round(share * 1000) / 1000, rowsRead: rows },
    });
  }
}

/**
 * `now`: the snapshot just taken; `previous`: the one before it (intervals); `baseline`: the newest one at least
 * indexes.unused_window old (the unused judgement), if any.
 */
export function reviewIndexes(now: QuerySnapshot, previous: QuerySnapshot | null, baseline: QuerySnapshot | null, policy: QueriesPolicy): IndexReview {
  const review: IndexReview = { findings: [], notJudged: [], nodes: now.nodes.map((n) => n.node) };
  unusedIndexes(now, baseline, policy, review);
  redundantIndexes(now.indexes, review);
  unindexedForeignKeys(now, review);
  seqScanHeavy(now, previous, policy, review);
  return review;
}
