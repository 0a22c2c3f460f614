import type { Client } from '../../infra/db/client.ts';
import { quoteIdent } from '../../infra/db/url.ts';

export interface TableStat {
  oid: number;
  name: string;
  /** Changes when the table's data files are rewritten (ALTER TABLE rewrite, TRUNCATE, VACUUM FULL, CLUSTER). 0 for partitioned tables. */
  relfilenode: number;
  /** Table, indexes and TOAST. */
  bytes: number;
  /** pg_class.reltuples, or null when the table was never analyzed. */
  estimate: number | null;
}

/** Tables above this estimate are not counted exactly (count(*) would dominate the rehearsal); their estimate stands. */
export const EXACT_COUNT_LIMIT = 2_000_000;

/** Every table of the schema but Prisma's bookkeeping, by oid. */
export async function tableStats(client: Client, schema: string): Promise<Map<number, TableStat>> {
  const { rows } = await client.query<{ oid: string; name: string; relfilenode: string; bytes: string; reltuples: number }>(
    `SELECT c.oid::bigint AS oid, c.relname AS name, c.relfilenode::bigint AS relfilenode, pg_total_relation_size(c.oid) AS bytes, c.reltuples
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'm') AND c.relname <> '_prisma_migrations'`,
    [schema],
  );
  return new Map(
    rows.map((r) => [
      Number(r.oid),
      {
        oid: Number(r.oid),
        name: r.name,
        relfilenode: Number(r.relfilenode),
        bytes: Number(r.bytes),
        estimate: r.reltuples >= 0 ? Math.round(r.reltuples) : null,
      },
    ]),
  );
}

/** Exact row counts of the named tables (those whose estimate is not above EXACT_COUNT_LIMIT); others keep their estimate. */
export async function rowCounts(client: Client, schema: string, tables: TableStat[]): Promise<Map<string, number | null>> {
  const out = new Map<string, number | null>();
  const exact = tables.filter((t) => t.estimate === null || t.estimate <= EXACT_COUNT_LIMIT);
  for (const t of tables) out.set(t.name, t.estimate);
  if (exact.length === 0) return out;
  const { rows } = await client.query<{ name: string; n: string }>(
    exact.map((t, i) => `SELECT $${i + 1}::text AS name, count(*) AS n FROM ${quoteIdent(schema)}.${quoteIdent(t.name)}`).join(' UNION ALL '),
    exact.map((t) => t.name),
  );
  for (const r of rows) out.set(r.name, Number(r.n));
  return out;
}
