import { quoteIdent } from '../../infra/db/url.ts';
import { parseStatements } from '../migrations/index.ts';

/**
 * The rollback of a generated migration, from Prisma's reverse diff (the schema after the migration →
 * the schema before it). Two things a reverse diff cannot know are added here:
 * - what the migration destroys comes back empty: a dropped column or table is re-created without its
 *   data, so the file starts with the `-- dbops:irreversible <reason>` marker for the author to confirm
 *   (or to replace with a data-preserving rollback);
 * - a dropped NOT NULL column without a default cannot be added back NOT NULL to a table that has rows:
 *   it comes back nullable.
 */
export interface GeneratedRollback {
  script: string;
  /** The marker's reason, when the migration destroys data. */
  irreversible: string | null;
  /** Columns re-added nullable although they were NOT NULL (`"Table"."column"`). */
  nullable: string[];
}

type Node = Record<string, any>;

/** What the forward migration destroys, in PostgreSQL's own parse: dropped tables and columns. */
async function destroyed(forward: string): Promise<{ tables: string[]; columns: Array<{ table: string; column: string }> }> {
  const parsed = await parseStatements(forward);
  const tables: string[] = [];
  const columns: Array<{ table: string; column: string }> = [];
  if (!parsed) return { tables, columns };
  // A diff between two schemas never creates and drops the same object, so every drop is of existing data.
  for (const s of parsed.statements) {
    const [kind, node] = Object.entries(s.stmt)[0] as [string, Node];
    if (kind === 'DropStmt' && node['removeType'] === 'OBJECT_TABLE')
      for (const obj of (node['objects'] as Node[] | undefined) ?? []) {
        const names = ((obj['List']?.items as Node[] | undefined) ?? [obj]).map((i) => i['String']?.sval as string);
        tables.push(names.at(-1)!);
      }
    if (kind === 'AlterTableStmt')
      for (const c of (node['cmds'] as Node[] | undefined) ?? []) {
        const cmd = c['AlterTableCmd'] as Node | undefined;
        if (cmd?.['subtype'] === 'AT_DropColumn') columns.push({ table: node['relation']?.relname as string, column: cmd['name'] as string });
      }
  }
  return { tables, columns };
}

/** Byte ranges of the `NOT NULL` of re-added columns that were dropped (and have no default). */
async function notNullRanges(reverse: string, dropped: Set<string>): Promise<{ ranges: Array<[number, number]>; columns: string[] }> {
  const parsed = await parseStatements(reverse);
  const ranges: Array<[number, number]> = [];
  const columns: string[] = [];
  if (!parsed) return { ranges, columns };
  for (const s of parsed.statements) {
    const [kind, node] = Object.entries(s.stmt)[0] as [string, Node];
    if (kind !== 'AlterTableStmt') continue;
    const table = node['relation']?.relname as string;
    for (const c of (node['cmds'] as Node[] | undefined) ?? []) {
      const cmd = c['AlterTableCmd'] as Node | undefined;
      const def = cmd?.['def']?.ColumnDef as Node | undefined;
      if (cmd?.['subtype'] !== 'AT_AddColumn' || !def || !dropped.has(`${table}.${def['colname'] as string}`)) continue;
      const constraints = ((def['constraints'] as Node[] | undefined) ?? []).map((x) => x['Constraint'] as Node);
      if (constraints.some((x) => x['contype'] === 'CONSTR_DEFAULT')) continue;
      const notNull = constraints.find((x) => x['contype'] === 'CONSTR_NOTNULL');
      if (!notNull || typeof notNull['location'] !== 'number') continue;
      const at = notNull['location'] as number;
      if (
        parsed.bytes
          .subarray(at, at + 8)
          .toString('utf8')
          .toUpperCase() !== 'NOT NULL'
      )
        continue;
      ranges.push([at, at + 8]);
      columns.push(`${quoteIdent(table)}.${quoteIdent(def['colname'] as string)}`);
    }
  }
  return { ranges, columns };
}

/**
 * A reverse diff between two migration histories names objects as the replayed databases hold them,
 * `"public"."Organization"`: the qualifier goes, so the rollback runs in the schema the migrations run in
 * (dbops sets search_path to the target's schema) as the forward migration does. String literals are
 * left alone.
 */
export function unqualify(script: string, schema = 'public'): string {
  const qualifier = `${quoteIdent(schema)}.`;
  return script
    .split(/('(?:[^']|'')*')/)
    .map((part, i) => (i % 2 === 1 ? part : part.split(qualifier).join('')))
    .join('');
}

export async function generateRollback(migration: string, forward: string, reverseDiff: string): Promise<GeneratedRollback> {
  reverseDiff = unqualify(reverseDiff);
  const lost = await destroyed(forward);
  const { ranges, columns } = await notNullRanges(reverseDiff, new Set(lost.columns.map((c) => `${c.table}.${c.column}`)));
  let body = Buffer.from(reverseDiff, 'utf8');
  for (const [from, to] of [...ranges].reverse()) {
    // " NOT NULL" with the space before it, so the line reads as Prisma would have written a nullable column.
    const start = from > 0 && body[from - 1] === 0x20 ? from - 1 : from;
    body = Buffer.concat([body.subarray(0, start), body.subarray(to)]);
  }
  const reasons = [
    ...lost.tables.map((t) => `drops table ${quoteIdent(t)} with its rows`),
    ...lost.columns.map((c) => `drops column ${quoteIdent(c.table)}.${quoteIdent(c.column)} with its data`),
  ];
  const irreversible = reasons.length > 0 ? `${migration} ${reasons.join(', ')}; this rollback re-creates ${reasons.length === 1 ? 'it' : 'them'} empty` : null;
  const header = [
    ...(irreversible ? [`-- dbops:irreversible ${irreversible}`] : []),
    `-- Rollback of ${migration}, generated by \`dbops migrate new\` from Prisma's reverse diff (schema after → schema before).`,
    ...(irreversible ? ['-- Confirm the marker above, or replace this file with a rollback that keeps the data and delete the marker.'] : []),
    ...columns.map((c) => `-- ${c} was NOT NULL: it comes back empty, so it is re-added nullable.`),
    '-- Hand-written SQL added to the migration needs its inverse added here by hand.',
    '',
  ];
  return { script: `${header.join('\n')}\n${body.toString('utf8')}`, irreversible, nullable: columns };
}
