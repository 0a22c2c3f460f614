import type { Client } from '../../infra/db/client.ts';
import { quoteIdent } from '../../infra/db/url.ts';
import type { ColumnRule, MaskingPolicy } from '../../policy/masking.ts';
import { didYouMean } from '../../core/suggest.ts';
import { keepsPersonalData, personalColumn, ruleFor, tableKey } from './detect.ts';
import { maskExpression, textOf } from './rules.ts';

/** One column of a user table as the catalog describes it. */
export interface ColumnFact {
  schema: string;
  table: string;
  column: string;
  /** format_type(atttypid, atttypmod). */
  type: string;
  /** The base type's name (through domains), e.g. varchar, text, inet, jsonb. */
  base: string;
  /** pg_type.typcategory of the base type: S = string, U = user (json …), I = network, A = array. */
  category: string;
  /** For arrays, the element's base type name. */
  element: string | null;
  notNull: boolean;
  /** varchar(n) / char(n): n. */
  maxLength: number | null;
  /** Generated or identity-always columns cannot be updated. */
  generated: boolean;
}

/** Every column of every ordinary or partitioned table outside the system schemas and extensions. */
export async function columnFacts(client: Client): Promise<ColumnFact[]> {
  const { rows } = await client.query<ColumnFact>(`
    SELECT n.nspname AS schema, c.relname AS "table", a.attname AS "column",
           format_type(a.atttypid, a.atttypmod) AS type,
           bt.typname AS base, bt.typcategory AS category,
           et.typname AS element,
           a.attnotnull AS "notNull",
           CASE WHEN bt.typname IN ('varchar', 'bpchar') AND a.atttypmod > 4 THEN a.atttypmod - 4 END AS "maxLength",
           (a.attgenerated <> '' OR a.attidentity = 'a') AS generated
      FROM pg_attribute a
      JOIN pg_class c ON c.oid = a.attrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_type t ON t.oid = a.atttypid
      JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
      LEFT JOIN pg_type et ON et.oid = bt.typelem AND bt.typcategory = 'A'
     WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
       AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
       AND NOT c.relispartition
     ORDER BY 1, 2, a.attnum`);
  return rows;
}

const TEXTUAL = new Set(['text', 'varchar', 'bpchar', 'citext', 'name']);
const JSON_TYPES = new Set(['json', 'jsonb']);
const NETWORK = new Set(['inet', 'cidr']);

/** How the scan reads a column: its text, the strings inside its JSON, or each element of an array. */
export type Haystack = 'text' | 'json' | 'network' | 'array';

export function haystackOf(c: ColumnFact): Haystack | undefined {
  if (NETWORK.has(c.base)) return 'network';
  if (JSON_TYPES.has(c.base)) return 'json';
  if (c.category === 'S' || TEXTUAL.has(c.base)) return 'text';
  if (c.category === 'A' && c.element !== null && (TEXTUAL.has(c.element) || NETWORK.has(c.element))) return 'array';
  return undefined;
}

export interface MaskedColumnPlan {
  fact: ColumnFact;
  rule: ColumnRule;
  /** The SET expression. */
  expression: string;
}

export interface TablePlan {
  schema: string;
  table: string;
  columns: MaskedColumnPlan[];
  /** The UPDATE: every masked column of the table in one pass. */
  sql: string;
}

/** A column whose original values are searched for after masking, as "schema.Table.column". */
export interface NeedleColumn {
  fact: ColumnFact;
  /** Why: it is masked, or it looks personal (and its rule keeps it). */
  reason: 'masked' | 'personal';
  /** The SELECT of its distinct original values as text. */
  sql: string;
}

export interface MaskPlan {
  tables: TablePlan[];
  needles: NeedleColumn[];
  haystack: Array<{ fact: ColumnFact; kind: Haystack }>;
}

const qualified = (schema: string, table: string) => `${quoteIdent(schema)}.${quoteIdent(table)}`;
export const columnName = (c: Pick<ColumnFact, 'schema' | 'table' | 'column'>) => `${c.schema}.${c.table}.${c.column}`;

/** Why a rule cannot apply to a column of this type, or undefined when it can. */
function unfit(rule: ColumnRule, c: ColumnFact): string | undefined {
  if (rule.rule === 'keep') return undefined;
  if (c.generated) return 'it is a generated column (computed from others: mask those)';
  if (rule.rule === 'null') return c.notNull ? 'it is NOT NULL' : undefined;
  const kind = haystackOf(c);
  if (rule.rule === 'fake' && rule.as === 'ip') return kind === 'network' || kind === 'text' ? undefined : `its type is ${c.type}, not inet, cidr or text`;
  if (rule.rule === 'fake' && rule.as === 'birth_date')
    return kind === 'text' || ['date', 'timestamp', 'timestamptz'].includes(c.base) ? undefined : `its type is ${c.type}, not a date or text`;
  return kind === 'text'
    ? undefined
    : `its type is ${c.type}; ${rule.rule}${rule.rule === 'fake' ? ` as ${rule.as}` : ''} makes text (use null, or a rule on a text column)`;
}

/**
 * Turns policies/masking.yaml and the restored database's columns into UPDATEs and the scan's inputs.
 * Every problem of the policy against this database is returned at once, each naming the key to fix.
 */
export function planMasking(policy: MaskingPolicy, facts: ColumnFact[], minLength: number): { plan: MaskPlan; problems: string[] } {
  const problems: string[] = [];
  const byTable = new Map<string, ColumnFact[]>();
  for (const f of facts) byTable.set(`${f.schema}.${f.table}`, [...(byTable.get(`${f.schema}.${f.table}`) ?? []), f]);
  const tables: TablePlan[] = [];
  for (const [key, rules] of Object.entries(policy.tables)) {
    const { schema, table } = tableKey(policy, key);
    const columns = byTable.get(`${schema}.${table}`);
    if (!columns) {
      const names = [...byTable.keys()].filter((k) => k.startsWith(`${schema}.`)).map((k) => k.slice(schema.length + 1));
      problems.push(`tables.${key}: the database has no table ${schema}.${table}.${didYouMean(table, names)}`);
      continue;
    }
    const planned: MaskedColumnPlan[] = [];
    for (const [column, rule] of Object.entries(rules)) {
      const fact = columns.find((c) => c.column === column);
      if (!fact) {
        problems.push(
          `tables.${key}.${column}: ${schema}.${table} has no column ${column}.${didYouMean(
            column,
            columns.map((c) => c.column),
          )}`,
        );
        continue;
      }
      const why = unfit(rule, fact);
      if (why) {
        problems.push(`tables.${key}.${column}: rule ${rule.rule} cannot mask ${table}.${column}: ${why}.`);
        continue;
      }
      const expression = maskExpression(rule, { ident: quoteIdent(column), type: fact.type, maxLength: fact.maxLength, network: NETWORK.has(fact.base) });
      if (expression !== undefined) planned.push({ fact, rule, expression });
    }
    if (planned.length === 0) continue;
    const set = planned.map((p) => `${quoteIdent(p.fact.column)} = ${p.expression}`).join(',\n       ');
    const where = planned.map((p) => `${quoteIdent(p.fact.column)} IS NOT NULL`).join(' OR ');
    tables.push({ schema, table, columns: planned, sql: `UPDATE ${qualified(schema, table)}\n   SET ${set}\n WHERE ${where}` });
  }

  const needles: NeedleColumn[] = [];
  const haystack: MaskPlan['haystack'] = [];
  for (const fact of facts) {
    const kind = haystackOf(fact);
    if (kind === undefined) continue;
    const rule = ruleFor(policy, fact.schema, fact.table, fact.column);
    const masked = rule !== undefined && rule.rule !== 'keep';
    // A masked column holds only what its rule wrote (every non-NULL value is rewritten): a fake birth date
    // equal to somebody's real one is the generator's coincidence, not a value left behind. Every other
    // column is searched.
    if (!masked) haystack.push({ fact, kind });
    if (kind === 'json' || kind === 'array') continue;
    const personal = !masked && personalColumn(fact.column, fact.type) !== undefined && keepsPersonalData(rule);
    if (!masked && !personal) continue;
    const text = textOf(quoteIdent(fact.column), kind === 'network');
    needles.push({
      fact,
      reason: masked ? 'masked' : 'personal',
      sql: `SELECT DISTINCT ${text} FROM ${qualified(fact.schema, fact.table)} WHERE ${quoteIdent(fact.column)} IS NOT NULL AND length(${text}) >= ${minLength}`,
    });
  }
  return { plan: { tables, needles, haystack }, problems };
}
