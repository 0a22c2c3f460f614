import type { Client } from '../../infra/db/client.ts';
import { quoteIdent } from '../../infra/db/url.ts';
import type { TableManifest } from './manifest.ts';

/**
 * `row::text` depends on these settings, so the source (inside the dump's snapshot) and a restored copy
 * must compute the manifest under the same ones, whatever the server or role defaults are.
 */
export const MANIFEST_SETTINGS = [
  "SET TimeZone = 'UTC'",
  "SET DateStyle = 'ISO, YMD'",
  "SET IntervalStyle = 'postgres'",
  'SET extra_float_digits = 3',
  "SET bytea_output = 'hex'",
] as const;

/** Relations (`c`, schema `n`) that belong to the application: not in a system schema, not an extension's. */
export const USER_RELATION = `
     n.nspname NOT IN ('pg_catalog', 'information_schema')
     AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
     AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`;

/** Every table whose rows pg_dump dumps: ordinary tables and leaf partitions outside the system schemas. */
const TABLES_SQL = `
  SELECT c.oid::int8::text AS oid, n.nspname AS schema, c.relname AS name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind = 'r' AND ${USER_RELATION}
   ORDER BY n.nspname, c.relname`;

/**
 * Built-in types whose extended hash depends only on the value, and arrays of them. Everything else is hashed
 * through its text form: enums hash their label's OID, which differs in every restored copy, and json, xml,
 * point, money, tsvector … have no extended hash at all. Domains and composites go through text too.
 */
const VALUE_HASHED = [
  'int2',
  'int4',
  'int8',
  'numeric',
  'float4',
  'float8',
  'bool',
  'text',
  'varchar',
  'bpchar',
  'name',
  'char',
  'uuid',
  'date',
  'time',
  'timestamp',
  'timestamptz',
  'interval',
  'bytea',
  'jsonb',
  'inet',
  'cidr',
  'macaddr',
];

const COLUMNS_SQL = `
  SELECT a.attname AS name,
         EXISTS (SELECT 1 FROM pg_type t
                  WHERE t.typnamespace = 'pg_catalog'::regnamespace AND t.typname = ANY($2::text[])
                    AND a.atttypid IN (t.oid, t.typarray)) AS by_value
    FROM pg_attribute a
   WHERE a.attrelid = $1::int8::oid AND a.attnum > 0 AND NOT a.attisdropped
   ORDER BY a.attnum`;

const sumOf = (expr: string, rel: string) => `SELECT count(*)::text AS rows, coalesce(sum(${expr}::numeric), 0)::text AS hash FROM ONLY ${rel} AS r`;

/**
 * Row count and an order-independent content hash per table: the sum, as numeric so it cannot overflow, of a
 * 64-bit hash of every row. The row hash is `hash_record_extended` over the stored values (about 5× cheaper
 * than md5(row::text), which cost more CPU than pg_dump itself), with every column whose type is not in
 * VALUE_HASHED hashed as its text (every type has a text form, so no table needs another method). Extended
 * hash functions are what hash partitioning stores rows by, so PostgreSQL keeps them stable across major
 * versions and a restore test on a newer server computes the same values. Runs on whatever snapshot the
 * client's transaction has; the caller sets MANIFEST_SETTINGS first (text forms depend on them).
 */
export async function computeTableManifest(client: Client): Promise<TableManifest[]> {
  const tables = (await client.query<{ oid: string; schema: string; name: string }>(TABLES_SQL)).rows;
  const out: TableManifest[] = [];
  for (const t of tables) {
    const columns = (await client.query<{ name: string; by_value: boolean }>(COLUMNS_SQL, [t.oid, VALUE_HASHED])).rows;
    const row = `ROW(${columns.map((c) => `r.${quoteIdent(c.name)}${c.by_value ? '' : '::text'}`).join(', ')})`;
    const result = (
      await client.query<{ rows: string; hash: string }>(sumOf(`hash_record_extended(${row}, 0)`, `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`))
    ).rows[0]!;
    out.push({ schema: t.schema, name: t.name, rows: result.rows, hash: result.hash });
  }
  return out;
}

export interface ManifestDifference {
  table: string;
  problem: 'missing' | 'unexpected' | 'rows' | 'content';
  expected?: string;
  actual?: string;
}

/** Exact comparison; every difference is named (table, what differs, expected vs actual). */
export function compareTableManifests(expected: readonly TableManifest[], actual: readonly TableManifest[]): ManifestDifference[] {
  const key = (t: TableManifest) => `${t.schema}.${t.name}`;
  const got = new Map(actual.map((t) => [key(t), t]));
  const diffs: ManifestDifference[] = [];
  for (const e of expected) {
    const a = got.get(key(e));
    got.delete(key(e));
    if (!a) diffs.push({ table: key(e), problem: 'missing', expected: `${e.rows} rows` });
    else if (a.rows !== e.rows) diffs.push({ table: key(e), problem: 'rows', expected: e.rows, actual: a.rows });
    else if (a.hash !== e.hash) diffs.push({ table: key(e), problem: 'content', expected: e.hash, actual: a.hash });
  }
  for (const [table, a] of got) diffs.push({ table, problem: 'unexpected', actual: `${a.rows} rows` });
  return diffs;
}
