import type { z } from 'zod';
import { diffFingerprints, type Fact, type SchemaFacts } from '../../infra/db/fingerprint.ts';
import type { DriftItemData } from './model.ts';

/** One difference and its repair: the report's DriftItemData (model.ts), where each field is described. */
export type DriftItem = z.output<typeof DriftItemData>;

interface Side {
  facts: SchemaFacts['facts'];
  /** Every fact of one key with its line, in line order. */
  byKey: Map<string, Array<{ line: string; fact: Fact }>>;
}

function side({ facts, fingerprint }: SchemaFacts): Side {
  const byKey = new Map<string, Array<{ line: string; fact: Fact }>>();
  for (const line of fingerprint.lines) {
    const fact = facts.get(line);
    if (!fact) continue;
    const list = byKey.get(fact.key) ?? [];
    list.push({ line, fact });
    byKey.set(fact.key, list);
  }
  return { facts, byKey };
}

const unique = (statements: Array<string | null | undefined>): string[] => [...new Set(statements.filter((s): s is string => !!s))];
const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The line without its owner suffix, so an owner-only difference can be told from a definition difference. */
const bare = ({ line, fact }: { line: string; fact: Fact }): string =>
  fact.owner && line.endsWith(fact.owner.part) ? line.slice(0, -fact.owner.part.length) : line;

type Column = NonNullable<Fact['column']>;

/** ALTER COLUMN statements for the parts that differ; null when the difference cannot be altered in place. */
function alterColumn(want: Column, have: Column): string[] | null {
  if (want.generated !== have.generated) return null;
  const at = `ALTER TABLE ${want.table} ALTER COLUMN ${want.name}`;
  const out: string[] = [];
  const typeDiffers = want.type !== have.type || want.collation !== have.collation;
  const defaultDiffers = want.default !== have.default;
  // The old default goes first when the type changes: PostgreSQL would otherwise try to cast it to the new type.
  if (defaultDiffers && have.default !== null && (typeDiffers || want.default === null)) out.push(`${at} DROP DEFAULT;`);
  if (want.identity !== have.identity && have.identity !== '' && want.identity === '') out.push(`${at} DROP IDENTITY;`);
  if (typeDiffers) out.push(`${at} TYPE ${want.type}${want.collation ? ` COLLATE ${want.collation}` : ''} USING ${want.name}::${want.type};`);
  if (defaultDiffers && want.default !== null) out.push(`${at} SET DEFAULT ${want.default};`);
  if (want.notNull !== have.notNull) out.push(`${at} ${want.notNull ? 'SET' : 'DROP'} NOT NULL;`);
  if (want.identity !== have.identity && want.identity !== '') {
    const how = want.identity === 'a' ? 'ALWAYS' : 'BY DEFAULT';
    out.push(have.identity === '' ? `${at} ADD GENERATED ${how} AS IDENTITY;` : `${at} SET GENERATED ${how};`);
  }
  return out.length ? out : null;
}

interface Raw {
  key: string;
  change: DriftItem['change'];
  want: Array<{ line: string; fact: Fact }>;
  have: Array<{ line: string; fact: Fact }>;
  missingLines: string[];
  unexpectedLines: string[];
}

function statementsFor(r: Raw): { restore: string[]; manual?: string } {
  if (r.change === 'missing') {
    const restore = unique(r.want.map((w) => w.fact.restore));
    return restore.length
      ? { restore }
      : {
          restore,
          manual: `${r.key} is missing and no statement can re-create it: re-create it as the migrations do (restore it from a backup, or rebuild the database from the migrations).`,
        };
  }
  if (r.change === 'unexpected') {
    const restore = unique(r.have.map((h) => h.fact.remove));
    return restore.length
      ? { restore }
      : { restore, manual: `${r.key} is not in the migrations and no statement can remove it: remove it by hand, or add it to the migrations.` };
  }
  const ownerStatements = unique(
    r.want.filter((w) => w.fact.owner && !r.have.some((h) => h.fact.owner?.part === w.fact.owner?.part)).map((w) => w.fact.owner?.restore),
  );
  const sameDefinition = (a: typeof r.want, b: typeof r.have) => {
    const x = new Set(a.map(bare));
    return x.size === new Set(b.map(bare)).size && b.every((h) => x.has(bare(h)));
  };
  if (sameDefinition(r.want, r.have) && ownerStatements.length) return { restore: ownerStatements };

  const wantColumn = r.want.find((w) => w.fact.column)?.fact.column;
  const haveColumn = r.have.find((h) => h.fact.column)?.fact.column;
  if (wantColumn && haveColumn) {
    const altered = alterColumn(wantColumn, haveColumn);
    return altered
      ? { restore: altered }
      : {
          restore: [],
          manual: `${r.key} differs in a way ALTER COLUMN cannot change (a generated expression): re-create the column as the migrations define it, copying its data.`,
        };
  }
  if (r.want.some((w) => w.fact.kind === 'column order')) {
    return {
      restore: [],
      manual: `${r.key.replace(/^columns of /, '')} has its columns in another order than the migrations, which PostgreSQL cannot change in place: re-create the table (restore it, or rebuild it from the migrations and copy the rows) if the order matters.`,
    };
  }
  const alters = unique(r.want.map((w) => w.fact.alter));
  const removes = unique(r.have.map((h) => h.fact.remove));
  const restores = unique(r.want.map((w) => w.fact.restore));
  const restore = alters.length ? alters : removes.length && restores.length ? [...removes, ...restores] : [];
  if (!restore.length) {
    return {
      restore,
      manual: `${r.key} differs from the migrations and cannot be re-created by a statement: change it by hand (ALTER) to match the expected definition.`,
    };
  }
  return { restore: [...restore, ...ownerStatements] };
}

/**
 * Where an object's creation falls among the others: what something may depend on comes first (an
 * extension's operator classes before the index using them, an enum before the column of that type, a
 * referenced key before the foreign key). Kinds the fingerprint adds later rank with columns.
 */
const CREATION_RANK: Record<string, number> = {
  schema: 0,
  extension: 1,
  enum: 2,
  domain: 2,
  type: 2,
  'composite type': 2,
  'range type': 2,
  sequence: 3,
  function: 4,
  procedure: 4,
  aggregate: 4,
  table: 5,
  'foreign table': 5,
  column: 6,
  'column order': 6,
  constraint: 7,
  index: 7,
  view: 9,
  'materialized view': 9,
  trigger: 10,
  rule: 10,
  policy: 10,
  statistics: 10,
  comment: 11,
  grant: 12,
  'default privileges': 12,
};
const FOREIGN_KEY_RANK = 8;
const UNKNOWN_KIND_RANK = 6;

function creationRank(item: DriftItem): number {
  if (item.kind === 'constraint' && [...item.restore, item.expected ?? '', item.actual ?? ''].some((s) => s.includes('FOREIGN KEY'))) {
    return FOREIGN_KEY_RANK;
  }
  return CREATION_RANK[item.kind] ?? UNKNOWN_KIND_RANK;
}

/**
 * The order in which the items' statements can run one after the other: first what was added by hand is
 * removed, dependents before what they depend on (the index before the extension its operator class comes
 * from); then what is changed or missing is brought back, what others depend on first. Ties go by key.
 */
function repairOrder(a: DriftItem, b: DriftItem): number {
  const phase = (i: DriftItem) => (i.change === 'unexpected' ? 0 : 1);
  const rank = (i: DriftItem) => (i.change === 'unexpected' ? -creationRank(i) : creationRank(i));
  return phase(a) - phase(b) || rank(a) - rank(b) || compare(a.key, b.key);
}

/**
 * What differs between the schema built from the migrations (`expected`) and the live one (`actual`), one
 * item per object, with the statements that repair it, in the order they can run. Both sides should be read with the same options
 * (usually `ownership: false` when they live on different servers).
 */
export function driftItems(expected: SchemaFacts, actual: SchemaFacts, ignore: (key: string) => boolean): DriftItem[] {
  const want = side(expected);
  const have = side(actual);
  const { missing, unexpected } = diffFingerprints(expected.fingerprint, actual.fingerprint);

  const raws = new Map<string, Raw>();
  const rawFor = (key: string): Raw => {
    let r = raws.get(key);
    if (!r) {
      const w = want.byKey.get(key) ?? [];
      const h = have.byKey.get(key) ?? [];
      r = { key, change: !h.length ? 'missing' : !w.length ? 'unexpected' : 'changed', want: w, have: h, missingLines: [], unexpectedLines: [] };
      raws.set(key, r);
    }
    return r;
  };
  for (const line of missing) rawFor(want.facts.get(line)?.key ?? line).missingLines.push(line);
  for (const line of unexpected) rawFor(have.facts.get(line)?.key ?? line).unexpectedLines.push(line);

  const whole = new Set([...raws.values()].filter((r) => r.change !== 'changed').map((r) => r.key));
  const dependsOn = (key: string): string | undefined => (want.byKey.get(key) ?? have.byKey.get(key))?.find((x) => x.fact.dependsOn)?.fact.dependsOn;
  // A table added or dropped as a whole is one repair: its columns, indexes, constraints, triggers and owned sequences go with it.
  const coveredByParent = (key: string): boolean => {
    const seen = new Set([key]);
    for (let parent = dependsOn(key); parent && !seen.has(parent); parent = dependsOn(parent)) {
      if (whole.has(parent)) return true;
      seen.add(parent);
    }
    return false;
  };
  // A column added or dropped moves the others: that order change is its consequence, not drift of its own.
  const tablesWithColumnChange = new Set(
    [...raws.values()]
      .filter((r) => r.change !== 'changed' && [...r.want, ...r.have].some((x) => x.fact.kind === 'column'))
      .map((r) => dependsOn(r.key))
      .filter((k): k is string => !!k),
  );

  const items: DriftItem[] = [];
  for (const r of raws.values()) {
    if (coveredByParent(r.key)) continue;
    const first = (r.want[0] ?? r.have[0])?.fact;
    const kind = first?.kind ?? 'unknown';
    if (kind === 'column order' && r.change === 'changed' && tablesWithColumnChange.has(first?.dependsOn ?? '')) continue;
    if (ignore(r.key)) continue;
    const { restore, manual } = statementsFor(r);
    items.push({
      key: r.key,
      kind,
      change: r.change,
      expected: r.missingLines.length ? r.missingLines.join('\n') : null,
      actual: r.unexpectedLines.length ? r.unexpectedLines.join('\n') : null,
      restore,
      ...(manual ? { manual } : {}),
    });
  }
  return items.sort(repairOrder);
}
