import type { Client } from '../../infra/db/client.ts';
import { quoteIdent, quoteLiteral } from '../../infra/db/url.ts';
import { columnName, type Haystack, type MaskPlan } from './plan.ts';

/**
 * The proof after masking: the original values of the masked and personal-looking columns, collected
 * before the UPDATEs into a temporary table of the masking session, are searched for in every text-like
 * column of the masked database: whole values, each word of free text, every string inside JSON, every
 * element of an array. Set-based: a hashed semi-join against the originals, one pass per table. Nothing
 * here ever returns an original value; a hit is reported by table, column and count.
 */

const ORIGINALS = 'pg_temp.dbops_originals';
/** What separates words in free text; `.`, `@`, `-`, `+` and `/` do not, so e-mail addresses, IPs and ids stay whole. */
const SEPARATORS = `[[:space:],;:()<>"'\\[\\]{}|]+`;

/** Collects the distinct original values (run before masking, in the session that masks and scans). */
export async function collectOriginals(client: Client, plan: MaskPlan): Promise<number> {
  await client.query(`CREATE TEMPORARY TABLE dbops_originals (v text NOT NULL, src text NOT NULL)`);
  for (const n of plan.needles) {
    await client.query(`INSERT INTO ${ORIGINALS} (v, src) SELECT x, ${quoteLiteral(columnName(n.fact))} FROM (${n.sql}) AS o(x)`);
  }
  await client.query(`CREATE INDEX ON ${ORIGINALS} (v)`);
  await client.query(`ANALYZE ${ORIGINALS}`);
  const { rows } = await client.query<{ n: string }>(`SELECT count(DISTINCT v) AS n FROM ${ORIGINALS}`);
  return Number(rows[0]!.n);
}

const isOriginal = (text: string) => `${text} IN (SELECT v FROM ${ORIGINALS})`;
/** The value itself, or (when it has separators) one of its words, is an original value. */
const leaks = (text: string) =>
  `(${isOriginal(text)} OR (${text} ~ ${quoteLiteral(SEPARATORS)} AND EXISTS (SELECT 1 FROM regexp_split_to_table(${text}, ${quoteLiteral(SEPARATORS)}) AS w(x) WHERE ${isOriginal('w.x')})))`;

function cellLeaks(ident: string, kind: Haystack): string {
  switch (kind) {
    case 'text':
      return leaks(`${ident}::text`);
    case 'network':
      return isOriginal(`host(${ident})`);
    case 'json':
      return `EXISTS (SELECT 1 FROM jsonb_path_query(${ident}::jsonb, 'strict $.** ? (@.type() == "string")') AS j(x) WHERE ${leaks(`(j.x #>> '{}')`)})`;
    case 'array':
      return `EXISTS (SELECT 1 FROM unnest(${ident}) AS e(x) WHERE ${leaks('e.x::text')})`;
  }
}

/** Every string a cell is searched as (the value, its words, its JSON strings, its elements), as a subquery of x. */
function cellValues(ident: string, kind: Haystack): string {
  const withWords = (text: string) => `SELECT ${text} UNION ALL SELECT regexp_split_to_table(${text}, ${quoteLiteral(SEPARATORS)})`;
  switch (kind) {
    case 'text':
      return `(${withWords(`${ident}::text`)})`;
    case 'network':
      return `(SELECT host(${ident}))`;
    case 'json':
      return `(SELECT s.x FROM jsonb_path_query(${ident}::jsonb, 'strict $.** ? (@.type() == "string")') AS j(v), LATERAL (${withWords(`(j.v #>> '{}')`)}) AS s(x))`;
    case 'array':
      return `(SELECT s.x FROM unnest(${ident}) AS e(v), LATERAL (${withWords('e.v::text')}) AS s(x))`;
  }
}

export interface Leak {
  table: string;
  column: string;
  cells: number;
  from: string[];
}

/** Searches every haystack column; returns the columns still holding an original value. */
export async function scanForOriginals(client: Client, plan: MaskPlan, onTable?: (table: string) => void): Promise<Leak[]> {
  const byTable = new Map<string, MaskPlan['haystack']>();
  for (const h of plan.haystack) byTable.set(`${h.fact.schema}.${h.fact.table}`, [...(byTable.get(`${h.fact.schema}.${h.fact.table}`) ?? []), h]);
  const found: Leak[] = [];
  for (const [table, columns] of byTable) {
    onTable?.(table);
    const { schema, table: name } = columns[0]!.fact;
    const counts = columns.map((c, i) => `count(*) FILTER (WHERE ${cellLeaks(quoteIdent(c.fact.column), c.kind)}) AS c${i}`);
    const {
      rows: [r],
    } = await client.query<Record<string, string>>(`SELECT ${counts.join(', ')} FROM ${quoteIdent(schema)}.${quoteIdent(name)}`);
    for (const [i, c] of columns.entries()) {
      const cells = Number(r?.[`c${i}`] ?? 0);
      if (cells === 0) continue;
      // Which columns the values came from: only for the (rare) columns that hold some, and never the values.
      const { rows } = await client.query<{ src: string }>(
        `SELECT DISTINCT o.src FROM ${quoteIdent(schema)}.${quoteIdent(name)} AS t
           CROSS JOIN LATERAL ${cellValues(`t.${quoteIdent(c.fact.column)}`, c.kind)} AS s(x)
           JOIN ${ORIGINALS} AS o ON o.v = s.x ORDER BY 1`,
      );
      found.push({ table: `${schema}.${name}`, column: c.fact.column, cells, from: rows.map((x) => x.src) });
    }
  }
  return found;
}
