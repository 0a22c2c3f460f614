import type { Client } from '../../infra/db/client.ts';
import { parseStatements } from '../migrations/index.ts';

/** One statement of a migration file and the relations it names (tables, indexes, sequences: resolved later). */
export interface StatementRefs {
  /** The parser's node type: AlterTableStmt, IndexStmt, UpdateStmt, … */
  kind: string;
  /** 1-based first and last line in the file. */
  line: number;
  endLine: number;
  /** Relation names as written (unqualified, or qualified with the target schema). */
  relations: string[];
}

type Node = Record<string, unknown>;

/** Every RangeVar (FROM items, ALTER TABLE targets, REFERENCES targets, …) and every name a DROP lists. */
function collect(node: unknown, schema: string, found: Set<string>): void {
  if (Array.isArray(node)) {
    for (const n of node) collect(n, schema, found);
    return;
  }
  if (!node || typeof node !== 'object') return;
  const o = node as Node;
  // A RangeVar appears both wrapped ({RangeVar: {...}}) and bare (relation:, pktable:); its relpersistence marks it.
  if (typeof o['relname'] === 'string' && typeof o['relpersistence'] === 'string') {
    const ns = o['schemaname'];
    if (ns === undefined || ns === schema) found.add(o['relname']);
  }
  const drop = o['DropStmt'] as Node | undefined;
  if (drop && ['OBJECT_TABLE', 'OBJECT_INDEX', 'OBJECT_VIEW', 'OBJECT_MATVIEW', 'OBJECT_SEQUENCE'].includes(drop['removeType'] as string)) {
    for (const obj of (drop['objects'] as Node[] | undefined) ?? []) {
      const parts =
        ((obj['List'] as Node | undefined)?.['items'] as Node[] | undefined)?.map((i) => (i['String'] as Node | undefined)?.['sval'] as string) ?? [];
      const name = parts.at(-1);
      if (name && (parts.length === 1 || parts[0] === schema)) found.add(name);
    }
  }
  for (const v of Object.values(o)) collect(v, schema, found);
}

/** The statements of a migration with the relations each names; [] when the parser rejects the file. */
export async function statementRefs(script: string, schema: string): Promise<StatementRefs[]> {
  const parsed = await parseStatements(script);
  if (!parsed) return [];
  return parsed.statements.map((s) => {
    const found = new Set<string>();
    collect(s.stmt, schema, found);
    const text = parsed.bytes.subarray(s.start, s.end).toString('utf8');
    const leading = parsed.bytes.subarray(0, s.start).toString('utf8');
    const startLine = leading.split('\n').length;
    return { kind: Object.keys(s.stmt)[0] ?? 'unknown', line: s.line, endLine: startLine + text.split('\n').length - 1, relations: [...found] };
  });
}

export interface ResolvedRelation {
  /** As named in the file. */
  name: string;
  /** The table it is, or the table of the index it is. */
  table: string;
}

/**
 * Maps names to existing tables of the schema: a table is itself, an index stands for its table.
 * Names that do not exist yet (created by the migration) and other kinds of relation drop out.
 */
export async function resolveTables(client: Client, schema: string, names: string[]): Promise<ResolvedRelation[]> {
  if (names.length === 0) return [];
  const { rows } = await client.query<ResolvedRelation>(
    `SELECT c.relname AS name, coalesce(t.relname, c.relname) AS table
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_index i ON i.indexrelid = c.oid LEFT JOIN pg_class t ON t.oid = i.indrelid
      WHERE n.nspname = $1 AND c.relname = ANY($2) AND (c.relkind IN ('r', 'p') OR (c.relkind IN ('i', 'I') AND t.relkind IN ('r', 'p')))`,
    [schema, names],
  );
  return rows;
}
