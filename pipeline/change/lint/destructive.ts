/**
 * Statements that lose data, found in libpg-query's AST (PostgreSQL's own parser): DROP TABLE / COLUMN /
 * SCHEMA, TRUNCATE, and type changes that narrow a column. Narrowing needs the column's type before the
 * statement, so a small column model is replayed from the earlier migrations (CREATE TABLE, ADD / DROP /
 * RENAME COLUMN, ALTER COLUMN TYPE, RENAME / DROP TABLE). Objects created in the same file hold no data
 * yet and are never reported.
 */

type Node = Record<string, any>;

export interface ParsedStatement {
  stmt: Node;
  /** Byte offset of the statement in the file. */
  location: number;
  length: number;
}

export interface Hit {
  rule: 'destructive/drop-table' | 'destructive/drop-column' | 'destructive/drop-schema' | 'destructive/truncate' | 'destructive/narrow-type';
  message: string;
  /** Byte offset the finding points at. */
  offset: number;
  /** The previous type was not known (table created outside the migrations): reported as a notice. */
  uncertain?: boolean;
}

export interface TypeSpec {
  name: string;
  mods: number[];
  array: boolean;
}

const ALIASES: Record<string, string> = {
  smallint: 'int2',
  smallserial: 'int2',
  serial2: 'int2',
  int: 'int4',
  integer: 'int4',
  serial: 'int4',
  serial4: 'int4',
  bigint: 'int8',
  bigserial: 'int8',
  serial8: 'int8',
  decimal: 'numeric',
  real: 'float4',
  'double precision': 'float8',
  'character varying': 'varchar',
  character: 'bpchar',
  char: 'bpchar',
};

export function typeSpec(typeName: Node | undefined): TypeSpec | undefined {
  const names = (typeName?.['names'] as Node[] | undefined)?.map((n) => n['String']?.sval as string);
  const last = names?.at(-1);
  if (!last) return undefined;
  const mods = ((typeName!['typmods'] as Node[] | undefined) ?? []).map((m) => Number(m['A_Const']?.ival?.ival ?? 0));
  return { name: ALIASES[last] ?? last, mods, array: Array.isArray(typeName!['arrayBounds']) };
}

export const formatType = (t: TypeSpec): string => {
  const label: Record<string, string> = { int2: 'smallint', int4: 'integer', int8: 'bigint', bpchar: 'char', float4: 'real', float8: 'double precision' };
  return `${label[t.name] ?? t.name}${t.mods.length > 0 ? `(${t.mods.join(',')})` : t.name === 'bpchar' ? '(1)' : ''}${t.array ? '[]' : ''}`;
};

const INT_RANK: Record<string, number> = { int2: 1, int4: 2, int8: 3 };
const INT_DIGITS: Record<string, number> = { int2: 5, int4: 10, int8: 19 };
const TEXTUAL = new Set(['text', 'varchar', 'bpchar']);
const TIMES = new Set(['timestamp', 'timestamptz', 'time', 'timetz']);

const charLength = (t: TypeSpec): number => (t.name === 'text' ? Infinity : t.name === 'varchar' ? (t.mods[0] ?? Infinity) : (t.mods[0] ?? 1));
const numericShape = (t: TypeSpec): { precision: number; scale: number } =>
  t.mods.length === 0 ? { precision: Infinity, scale: Infinity } : { precision: t.mods[0]!, scale: t.mods[1] ?? 0 };

/** Why changing a column from `from` to `to` can lose data or fail on existing values; undefined if it cannot. */
export function narrowing(from: TypeSpec, to: TypeSpec): string | undefined {
  if (from.array !== to.array) return undefined;
  if (TEXTUAL.has(from.name) && (to.name === 'varchar' || to.name === 'bpchar')) {
    const a = charLength(from);
    const b = charLength(to);
    return b < a ? `values longer than ${b} characters no longer fit` : undefined;
  }
  if (from.name === 'numeric' && to.name === 'numeric') {
    const a = numericShape(from);
    const b = numericShape(to);
    if (b.scale < a.scale) return b.scale === 0 ? 'fractions are rounded away' : `values are rounded to ${b.scale} decimal places`;
    if (b.precision - b.scale < a.precision - a.scale) return `values with more than ${b.precision - b.scale} digits before the decimal point no longer fit`;
    return undefined;
  }
  if (from.name === 'numeric' && INT_RANK[to.name]) return 'fractions are rounded away and large values no longer fit';
  if (INT_RANK[from.name] && INT_RANK[to.name]) return INT_RANK[to.name]! < INT_RANK[from.name]! ? 'values outside the smaller range no longer fit' : undefined;
  if (INT_RANK[from.name] && to.name === 'numeric' && to.mods.length > 0) {
    const b = numericShape(to);
    return b.precision - b.scale < INT_DIGITS[from.name]! ? `values with more than ${b.precision - b.scale} digits no longer fit` : undefined;
  }
  if (from.name === 'float8' && to.name === 'float4') return 'precision drops from 15 to 6 significant digits';
  if ((from.name === 'float4' || from.name === 'float8') && INT_RANK[to.name]) return 'fractions are rounded away and large values no longer fit';
  if (TIMES.has(from.name) && TIMES.has(to.name) && from.name.replace(/tz$/, '') === to.name.replace(/tz$/, '')) {
    const a = from.mods[0] ?? 6;
    const b = to.mods[0] ?? 6;
    return b < a ? `fractional seconds beyond ${b} digits are rounded away` : undefined;
  }
  return undefined;
}

/** A type some wider type could narrow into (used when the previous type is unknown). */
const bounded = (t: TypeSpec): boolean =>
  t.name === 'bpchar' ||
  t.name === 'int2' ||
  t.name === 'int4' ||
  t.name === 'float4' ||
  (t.mods.length > 0 && (t.name === 'varchar' || t.name === 'numeric' || TIMES.has(t.name)));

/** Column types per table, as the migrations so far leave them. Tables are keyed by name (schemas ignored). */
export class ColumnModel {
  private readonly tables = new Map<string, Map<string, TypeSpec>>();

  type(table: string, column: string): TypeSpec | undefined {
    return this.tables.get(table)?.get(column);
  }

  apply(stmt: Node): void {
    const [kind, node] = Object.entries(stmt)[0] as [string, Node];
    if (kind === 'CreateStmt') {
      const columns = new Map<string, TypeSpec>();
      for (const elt of (node['tableElts'] as Node[] | undefined) ?? []) {
        const def = elt['ColumnDef'] as Node | undefined;
        const t = typeSpec(def?.['typeName']);
        if (def && t) columns.set(def['colname'] as string, t);
      }
      this.tables.set(node['relation']?.relname as string, columns);
    } else if (kind === 'AlterTableStmt') {
      const table = node['relation']?.relname as string;
      for (const c of (node['cmds'] as Node[] | undefined) ?? []) {
        const cmd = c['AlterTableCmd'] as Node | undefined;
        if (!cmd) continue;
        if (cmd['subtype'] === 'AT_AddColumn') {
          const def = cmd['def']?.ColumnDef as Node | undefined;
          const t = typeSpec(def?.['typeName']);
          if (def && t) this.columnsOf(table).set(def['colname'] as string, t);
        } else if (cmd['subtype'] === 'AT_AlterColumnType') {
          const t = typeSpec(cmd['def']?.ColumnDef?.typeName);
          if (t) this.columnsOf(table).set(cmd['name'] as string, t);
        } else if (cmd['subtype'] === 'AT_DropColumn') this.tables.get(table)?.delete(cmd['name'] as string);
      }
    } else if (kind === 'RenameStmt') {
      const table = node['relation']?.relname as string | undefined;
      if (!table) return;
      if (node['renameType'] === 'OBJECT_TABLE') {
        const columns = this.tables.get(table);
        this.tables.delete(table);
        if (columns) this.tables.set(node['newname'] as string, columns);
      } else if (node['renameType'] === 'OBJECT_COLUMN') {
        const columns = this.tables.get(table);
        const t = columns?.get(node['subname'] as string);
        if (columns && t) {
          columns.delete(node['subname'] as string);
          columns.set(node['newname'] as string, t);
        }
      }
    } else if (kind === 'DropStmt' && node['removeType'] === 'OBJECT_TABLE') {
      for (const obj of (node['objects'] as Node[] | undefined) ?? []) this.tables.delete(qualifiedName(obj).at(-1)!);
    }
  }

  private columnsOf(table: string): Map<string, TypeSpec> {
    let columns = this.tables.get(table);
    if (!columns) this.tables.set(table, (columns = new Map()));
    return columns;
  }
}

const qualifiedName = (obj: Node): string[] => ((obj['List']?.items as Node[] | undefined) ?? [obj]).map((i) => i['String']?.sval as string);
const quote = (name: string) => `"${name}"`;

/** Whether a statement changes a column's type (only then is the column model worth building). */
export const altersType = (stmt: Node): boolean =>
  ((stmt['AlterTableStmt']?.cmds as Node[] | undefined) ?? []).some((c) => c['AlterTableCmd']?.subtype === 'AT_AlterColumnType');

/** Byte offset of `DROP [COLUMN] [IF EXISTS] <name>` inside the statement, from the scanner's tokens. */
export type DropColumnLocator = (statement: ParsedStatement, column: string) => number | undefined;

/**
 * Data-losing statements of one migration file, in order. `model` holds the column types left by the
 * earlier migrations and is advanced past this file.
 */
export function findDestructive(statements: ParsedStatement[], model: ColumnModel, locateDropColumn: DropColumnLocator): Hit[] {
  const hits: Hit[] = [];
  const createdTables = new Set<string>();
  const addedColumns = new Set<string>();
  const fresh = (table: string, column?: string) => createdTables.has(table) || (column !== undefined && addedColumns.has(`${table}.${column}`));
  for (const s of statements) {
    const [kind, node] = Object.entries(s.stmt)[0] as [string, Node];
    if (kind === 'CreateStmt') createdTables.add(node['relation']?.relname as string);
    else if (kind === 'DropStmt' && node['removeType'] === 'OBJECT_TABLE') {
      for (const obj of (node['objects'] as Node[] | undefined) ?? []) {
        const name = qualifiedName(obj);
        if (fresh(name.at(-1)!)) continue;
        hits.push({
          rule: 'destructive/drop-table',
          offset: s.location,
          message: `DROP TABLE ${name.map(quote).join('.')} deletes the table and every row in it.`,
        });
      }
    } else if (kind === 'DropStmt' && node['removeType'] === 'OBJECT_SCHEMA') {
      for (const obj of (node['objects'] as Node[] | undefined) ?? []) {
        const cascade = node['behavior'] === 'DROP_CASCADE' ? ' with CASCADE, every object in it' : '';
        hits.push({
          rule: 'destructive/drop-schema',
          offset: s.location,
          message: `DROP SCHEMA ${quote(qualifiedName(obj).join('.'))} deletes the schema${cascade}.`,
        });
      }
    } else if (kind === 'TruncateStmt') {
      const relations = ((node['relations'] as Node[] | undefined) ?? []).map((r) => r['RangeVar'] as Node);
      const cascade = node['behavior'] === 'DROP_CASCADE' ? ', and with CASCADE also every table that references them' : '';
      hits.push({
        rule: 'destructive/truncate',
        offset: relations[0]?.['location'] ?? s.location,
        message: `TRUNCATE ${relations.map((r) => quote(r['relname'] as string)).join(', ')} deletes every row${cascade}.`,
      });
    } else if (kind === 'AlterTableStmt') {
      const table = node['relation']?.relname as string;
      for (const c of (node['cmds'] as Node[] | undefined) ?? []) {
        const cmd = c['AlterTableCmd'] as Node | undefined;
        if (!cmd) continue;
        const column = cmd['name'] as string;
        if (cmd['subtype'] === 'AT_AddColumn') addedColumns.add(`${table}.${cmd['def']?.ColumnDef?.colname as string}`);
        else if (cmd['subtype'] === 'AT_DropColumn' && !fresh(table, column)) {
          hits.push({
            rule: 'destructive/drop-column',
            offset: locateDropColumn(s, column) ?? s.location,
            message: `Dropping column ${quote(column)} of ${quote(table)} deletes its data.`,
          });
        } else if (cmd['subtype'] === 'AT_AlterColumnType' && !fresh(table, column)) {
          const def = cmd['def']?.ColumnDef as Node | undefined;
          const to = typeSpec(def?.['typeName']);
          const offset = (def?.['location'] as number | undefined) ?? s.location;
          const from = model.type(table, column);
          if (!to) continue;
          if (!from) {
            if (bounded(to)) {
              hits.push({
                rule: 'destructive/narrow-type',
                offset,
                uncertain: true,
                message: `${quote(table)}.${quote(column)} becomes ${formatType(to)}; its previous type is unknown (not created by these migrations), so dbops cannot tell whether this narrows it.`,
              });
            }
          } else {
            const why = narrowing(from, to);
            if (why)
              hits.push({
                rule: 'destructive/narrow-type',
                offset,
                message: `${quote(table)}.${quote(column)} narrows from ${formatType(from)} to ${formatType(to)}: ${why} (the statement fails on them, or a USING clause cuts them).`,
              });
          }
        }
      }
    }
    model.apply(s.stmt);
  }
  return hits;
}
