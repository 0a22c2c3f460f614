/**
 * Personal data a migration adds without a masking rule, found in libpg-query's AST. The masked snapshot
 * (`dbops snapshot mask`) masks only the columns policies/masking.yaml names: a new column that looks like
 * an e-mail address, a person's name, a phone number … and has no rule there would reach every rehearsal
 * and non-production environment as it is. Which columns look personal is the masking domain's judgement
 * (personalColumn), the same one its scan after masking uses.
 */
import type { ColumnRule, MaskingPolicy } from '../../policy/masking.ts';
import { keepsPersonalData, personalColumn, ruleFor, ruleSnippet } from '../../protection/masking/index.ts';
import type { ParsedStatement } from './destructive.ts';

type Node = Record<string, any>;

export type MaskingRule = 'masking/personal-data-unmasked';

export interface MaskingHit {
  rule: MaskingRule;
  message: string;
  help: string;
  /** Byte offset the finding points at (the column definition, else the statement). */
  offset: number;
}

export interface MaskingContext {
  /** policies/masking.yaml; undefined when the file does not exist (the rule then does nothing). */
  policy?: MaskingPolicy | undefined;
  /** How the policy file is named in messages. */
  policyFile: string;
  /** Schema of unqualified names: the migration's schema (--schema, the URL's ?schema=), else public. */
  schema: string;
}

// Cheap pre-filter over the text (a superset of what personalColumn recognises, by name or by type, in a
// statement on a table); the verdict always comes from the AST.
const PERSONAL_WORDS =
  /(mail|ip|iban|bank|birth|dob|tax|vat|ssn|social|national|passport|tin|phone|mobile|msisdn|fax|tel|street|address|post|zip|name|inet|cidr)/i;
export const maybePersonalColumn = (script: string): boolean => /\btable\b/i.test(script) && PERSONAL_WORDS.test(script);

/** The type's own name, without its schema (`pg_catalog.varchar` → `varchar`). */
const typeOf = (def: Node): string | undefined => {
  const names = (def['typeName']?.names as Node[] | undefined) ?? [];
  return names.at(-1)?.['String']?.sval as string | undefined;
};

interface Column {
  schema: string;
  table: string;
  column: string;
  /** undefined: not known (a column renamed that an earlier migration created). */
  type: string | undefined;
  offset: number;
}

/**
 * Columns one migration file adds (CREATE TABLE, ALTER TABLE … ADD COLUMN) or renames (RENAME COLUMN, by
 * the new name) that look personal while policies/masking.yaml has no rule masking them. Each column is
 * judged by its final name in the file: one renamed again is judged once, one dropped again not at all.
 * Without a masking policy the rule does nothing.
 */
export function findUnmaskedColumns(statements: ParsedStatement[], ctx: MaskingContext): MaskingHit[] {
  const policy = ctx.policy;
  if (!policy) return [];
  let schema = ctx.schema;
  const made = new Map<string, Column>();
  const key = (s: string, t: string, c: string) => `${s}\u0000${t}\u0000${c}`;
  const add = (rel: Node, def: Node | undefined, fallback: number) => {
    if (!def?.['colname']) return;
    const c: Column = {
      schema: (rel['schemaname'] as string | undefined) ?? schema,
      table: String(rel['relname']),
      column: String(def['colname']),
      type: typeOf(def),
      offset: typeof def['location'] === 'number' ? def['location'] : fallback,
    };
    made.set(key(c.schema, c.table, c.column), c);
  };
  const tableOf = (rel: Node | undefined) => ({ schema: (rel?.['schemaname'] as string | undefined) ?? schema, table: String(rel?.['relname']) });
  for (const s of statements) {
    const [kind, node] = Object.entries(s.stmt)[0] as [string, Node];
    if (kind === 'CreateStmt') {
      if (node['relation']?.relpersistence === 't') continue;
      for (const e of (node['tableElts'] as Node[] | undefined) ?? []) add(node['relation'], e['ColumnDef'], s.location);
    } else if (kind === 'AlterTableStmt') {
      if ((node['objtype'] ?? 'OBJECT_TABLE') !== 'OBJECT_TABLE') continue;
      const t = tableOf(node['relation']);
      for (const c of (node['cmds'] as Node[] | undefined) ?? []) {
        const cmd = c['AlterTableCmd'] as Node | undefined;
        if (cmd?.['subtype'] === 'AT_AddColumn') add(node['relation'], cmd['def']?.ColumnDef, s.location);
        else if (cmd?.['subtype'] === 'AT_DropColumn') made.delete(key(t.schema, t.table, String(cmd['name'])));
      }
    } else if (kind === 'RenameStmt' && node['renameType'] === 'OBJECT_COLUMN' && node['relationType'] === 'OBJECT_TABLE') {
      const t = tableOf(node['relation']);
      const from = key(t.schema, t.table, String(node['subname']));
      const before = made.get(from);
      made.delete(from);
      const column = String(node['newname']);
      made.set(key(t.schema, t.table, column), { ...t, column, type: before?.type, offset: s.location });
    } else if (kind === 'RenameStmt' && node['renameType'] === 'OBJECT_TABLE') {
      const t = tableOf(node['relation']);
      for (const [k, c] of [...made]) {
        if (c.schema !== t.schema || c.table !== t.table) continue;
        made.delete(k);
        const table = String(node['newname']);
        made.set(key(c.schema, table, c.column), { ...c, table });
      }
    } else if (kind === 'DropStmt' && node['removeType'] === 'OBJECT_TABLE') {
      for (const obj of (node['objects'] as Node[] | undefined) ?? []) {
        const name = ((obj['List']?.items as Node[] | undefined) ?? [obj]).map((i) => i['String']?.sval as string);
        const t = { schema: name.length > 1 ? name.at(-2)! : schema, table: name.at(-1)! };
        for (const [k, c] of [...made]) if (c.schema === t.schema && c.table === t.table) made.delete(k);
      }
    } else if (kind === 'VariableSetStmt' && node['name'] === 'search_path' && !node['is_local']) {
      // SET search_path TO x, …: unqualified names afterwards are in its first schema.
      const first = (node['args'] as Node[] | undefined)?.[0]?.A_Const?.sval?.sval as string | undefined;
      if (first && !first.startsWith('$')) schema = first;
    }
  }
  const hits: MaskingHit[] = [];
  for (const c of made.values()) {
    const personal = personalColumn(c.column, c.type);
    if (!personal) continue;
    const rule: ColumnRule | undefined = ruleFor(policy, c.schema, c.table, c.column);
    if (!keepsPersonalData(rule)) continue;
    // Tables of the policy's own schema are keyed by name alone, the others as schema.Table.
    const table = c.schema === policy.schema ? c.table : `${c.schema}.${c.table}`;
    const name = `${table}.${c.column}`;
    const snippet = ruleSnippet(table, c.column, personal.suggested);
    const notPersonal = '`{ rule: keep, not_personal: "why" }`';
    hits.push({
      rule: 'masking/personal-data-unmasked',
      offset: c.offset,
      message:
        rule === undefined
          ? `${name} looks like ${personal.label}, and ${ctx.policyFile} has no masking rule for it: the masked snapshot would carry it unmasked.`
          : `${name} looks like ${personal.label}, and ${ctx.policyFile} keeps it as it is (\`rule: keep\` without not_personal): the masked snapshot would carry it unmasked.`,
      help:
        rule === undefined
          ? `Add a masking rule to ${ctx.policyFile}:\n${snippet}\nor ${notPersonal} when it holds no personal data.`
          : `Replace its rule in ${ctx.policyFile} with a masking one:\n${snippet}\nor give the keep a reason, ${notPersonal}, when it holds no personal data.`,
    });
  }
  return hits.sort((a, b) => a.offset - b.offset);
}
