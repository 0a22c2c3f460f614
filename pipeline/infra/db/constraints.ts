import type { Client } from './client.ts';
import { quoteIdent } from './url.ts';

/** A foreign key as the catalog has it: child columns referencing parent columns, in key order. */
export interface ForeignKey {
  name: string;
  childSchema: string;
  child: string;
  parentSchema: string;
  parent: string;
  childColumns: string[];
  parentColumns: string[];
}

/** The foreign keys of the tables of `schemas` (every user schema when omitted), optionally only of some child tables. */
export async function foreignKeys(client: Client, options: { schema?: string; children?: readonly string[] } = {}): Promise<ForeignKey[]> {
  const { rows } = await client.query<ForeignKey>(
    `SELECT c.conname AS name, cn.nspname AS "childSchema", cr.relname AS child, pn.nspname AS "parentSchema", pr.relname AS parent,
            (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest(c.conkey) WITH ORDINALITY AS k(att, ord)
               JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.att) AS "childColumns",
            (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest(c.confkey) WITH ORDINALITY AS k(att, ord)
               JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.att) AS "parentColumns"
       FROM pg_constraint c
       JOIN pg_class cr ON cr.oid = c.conrelid JOIN pg_namespace cn ON cn.oid = cr.relnamespace
       JOIN pg_class pr ON pr.oid = c.confrelid JOIN pg_namespace pn ON pn.oid = pr.relnamespace
      WHERE c.contype = 'f' AND c.conparentid = 0
        AND ($1::text IS NULL OR cn.nspname = $1) AND ($2::text[] IS NULL OR cr.relname = ANY($2))
        AND cn.nspname NOT IN ('pg_catalog', 'information_schema')
      ORDER BY cn.nspname, cr.relname, c.conname`,
    [options.schema ?? null, options.children ?? null],
  );
  return rows;
}

/**
 * Rows whose foreign key finds no referenced row (MATCH SIMPLE: a key with a NULL column is not checked),
 * per constraint name. One scan per child table: a LEFT JOIN per constraint (referenced columns are
 * unique, so no row multiplies). Used where the constraints did not check the rows themselves (triggers
 * skipped while loading or masking).
 */
export async function orphanCounts(client: Client, keys: readonly ForeignKey[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  const byChild = new Map<string, ForeignKey[]>();
  for (const f of keys) byChild.set(`${f.childSchema}.${f.child}`, [...(byChild.get(`${f.childSchema}.${f.child}`) ?? []), f]);
  for (const list of byChild.values()) {
    const joins = list.map(
      (f, i) =>
        `LEFT JOIN ${quoteIdent(f.parentSchema)}.${quoteIdent(f.parent)} AS p${i} ON ${f.childColumns.map((c, j) => `p${i}.${quoteIdent(f.parentColumns[j]!)} = ch.${quoteIdent(c)}`).join(' AND ')}`,
    );
    const selects = list.map(
      (f, i) =>
        `count(*) FILTER (WHERE ${f.childColumns.map((c) => `ch.${quoteIdent(c)} IS NOT NULL`).join(' AND ')} AND p${i}.${quoteIdent(f.parentColumns[0]!)} IS NULL) AS c${i}`,
    );
    const first = list[0]!;
    const {
      rows: [r],
    } = await client.query<Record<string, string>>(
      `SELECT ${selects.join(', ')} FROM ${quoteIdent(first.childSchema)}.${quoteIdent(first.child)} AS ch ${joins.join(' ')}`,
    );
    list.forEach((f, i) => {
      counts[f.name] = Number(r?.[`c${i}`] ?? 0);
    });
  }
  return counts;
}
