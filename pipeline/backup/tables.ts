import type { Client } from '../db/client.ts';
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

/**
 * Row count and an order-independent content hash per table: the sum of the first 64 bits of md5(row::text),
 * as numeric so it cannot overflow. md5 rather than hashtext because hashtext is not promised to stay the same
 * across major versions, and a restore test may run on a newer server than the backup came from.
 * Runs on whatever snapshot the client's transaction has; the caller sets MANIFEST_SETTINGS first.
 */
export async function computeTableManifest(client: Client): Promise<TableManifest[]> {
  const tables = (await client.query<{ schema: string; name: string }>(TABLES_SQL)).rows;
  const out: TableManifest[] = [];
  for (const t of tables) {
    const rel = `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`;
    const { rows } = await client.query<{ rows: string; hash: string }>(
      `SELECT count(*)::text AS rows, coalesce(sum(('x' || left(md5(r::text), 16))::bit(64)::bigint::numeric), 0)::text AS hash FROM ONLY ${rel} AS r`,
    );
    out.push({ schema: t.schema, name: t.name, rows: rows[0]!.rows, hash: rows[0]!.hash });
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
