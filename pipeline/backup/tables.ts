import { isPgError, type Client } from '../db/client.ts';
import { quoteIdent } from '../db/url.ts';
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

/** Every table whose rows pg_dump dumps: ordinary tables and leaf partitions outside the system schemas. */
const TABLES_SQL = `
  SELECT n.nspname AS schema, c.relname AS name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind = 'r'
     AND n.nspname NOT IN ('pg_catalog', 'information_schema')
     AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
     AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
   ORDER BY n.nspname, c.relname`;

const sumOf = (expr: string, rel: string) =>
  `SELECT count(*)::text AS rows, coalesce(sum(${expr}::numeric), 0)::text AS hash FROM ONLY ${rel} AS r`;

/**
 * Row count and an order-independent content hash per table: the sum, as numeric so it cannot overflow, of a
 * 64-bit hash of every row. The hash is `hash_record_extended(row, 0)`, which hashes the stored values
 * without turning them into text (about 5× cheaper than md5(row::text), which cost more CPU than pg_dump
 * itself); a table with a column type that has no extended hash function (json, xml, point, money, tsvector,
 * bit varying …) falls back to `hashtextextended(row::text, 0)`. The prefix (`rec:` / `txt:`) records which.
 * Extended hash functions are what hash partitioning stores rows by, so PostgreSQL keeps them stable across
 * major versions and a restore test on a newer server computes the same values.
 * Runs on whatever snapshot the client's transaction has (a savepoint keeps the fallback from aborting it);
 * the caller sets MANIFEST_SETTINGS first.
 */
export async function computeTableManifest(client: Client): Promise<TableManifest[]> {
  const tables = (await client.query<{ schema: string; name: string }>(TABLES_SQL)).rows;
  const out: TableManifest[] = [];
  for (const t of tables) {
    const { rows, hash } = await hashTable(client, `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`);
    out.push({ schema: t.schema, name: t.name, rows, hash });
  }
  return out;
}

async function hashTable(client: Client, rel: string): Promise<{ rows: string; hash: string }> {
  // Outside a transaction block SAVEPOINT fails harmlessly (25P01) and the fallback needs no savepoint.
  const inTransaction = await client.query('SAVEPOINT dbops_manifest').then(
    () => true,
    (e: unknown) => {
      if (isPgError(e) && e.code === '25P01') return false;
      throw e;
    },
  );
  try {
    const row = (await client.query<{ rows: string; hash: string }>(sumOf('hash_record_extended(r, 0)', rel))).rows[0]!;
    if (inTransaction) await client.query('RELEASE SAVEPOINT dbops_manifest');
    return { rows: row.rows, hash: `rec:${row.hash}` };
  } catch (e) {
    if (!(isPgError(e) && e.code === '42883')) throw e;
    if (inTransaction) await client.query('ROLLBACK TO SAVEPOINT dbops_manifest; RELEASE SAVEPOINT dbops_manifest');
    const row = (await client.query<{ rows: string; hash: string }>(sumOf('hashtextextended(r::text, 0)', rel))).rows[0]!;
    return { rows: row.rows, hash: `txt:${row.hash}` };
  }
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
