/**
 * Access in migrations, found in libpg-query's AST. Roles, privileges and ownership are declared in
 * policies/access.yaml and made so by `dbops access apply`; a migration that grants, revokes, creates or
 * alters roles, sets default privileges or changes ownership bypasses that (it runs on every environment,
 * unreviewed by the access audit). And a table a migration creates must be covered by the policy: no
 * table reachable only by its owner. The coverage rule itself is the access audit's (uncoveredTables of
 * operations/access), handed in by the command: operations/access reaches change/release, which lints,
 * so importing it here would close a cycle.
 */
import type { AccessPolicy } from '../../policy/access.ts';
import type { ParsedStatement } from './destructive.ts';
import { oneLine } from '../../core/format.ts';
import { quoteIdent } from '../../infra/db/url.ts';

type Node = Record<string, any>;

export type AccessRule = 'access/in-migration' | 'access/grant-to-public' | 'access/table-not-covered';

export interface AccessHit {
  rule: AccessRule;
  message: string;
  help: string;
  /** Byte offset the finding points at (the statement). */
  offset: number;
}

type Table = { schema: string; name: string };

/** policies/access.yaml and the access audit's coverage rule (`uncoveredTables` of operations/access). */
export interface AccessCoverage {
  policy: AccessPolicy;
  /** The tables of managed schemas no declared role other than the owner may read. */
  uncoveredTables: (policy: AccessPolicy, tables: Table[]) => Table[];
}

export interface AccessContext {
  /** Undefined when the caller has no access policy (the coverage rule then does nothing). */
  coverage?: AccessCoverage | undefined;
  /** How the policy file is named in messages. */
  policyFile: string;
  /** Schema of unqualified names: the migration's schema (--schema, the URL's ?schema=), else public. */
  schema: string;
}

// Cheap pre-filters over the text; the verdict always comes from the AST.
export const maybeAccessStatement = (script: string): boolean => /\b(grant|revoke|role|user|owner|owned|privileges)\b/i.test(script);
export const maybeCreatesTable = (script: string): boolean => /\b(table|view|into)\b/i.test(script);

/** Whether the coverage rule applies at all: without a policy or without declared roles there is nothing to cover. */
export const coverageActive = (coverage: AccessCoverage | undefined): coverage is AccessCoverage =>
  coverage !== undefined && Object.keys(coverage.policy.roles).length > 0;

const ROLE_SPECS: Record<string, string> = {
  ROLESPEC_PUBLIC: 'PUBLIC',
  ROLESPEC_CURRENT_USER: 'CURRENT_USER',
  ROLESPEC_SESSION_USER: 'SESSION_USER',
  ROLESPEC_CURRENT_ROLE: 'CURRENT_ROLE',
};
const roleName = (r: Node | undefined): string => ROLE_SPECS[String(r?.['roletype'])] ?? quoteIdent(String(r?.['rolename']));
const toPublic = (grantees: Node[] | undefined): boolean => (grantees ?? []).some((g) => g['RoleSpec']?.roletype === 'ROLESPEC_PUBLIC');

/** The statement's text on one line, shortened: the finding names the statement as written. */
const snippet = (script: string, s: ParsedStatement): string =>
  oneLine(
    Buffer.from(script, 'utf8')
      .subarray(s.location, s.location + s.length)
      .toString('utf8'),
    120,
  );

/** What an access statement does, as a short label; undefined when the statement is not one. */
function accessLabel(stmt: Node): { label: string; toPublic: boolean } | undefined {
  const [kind, node] = Object.entries(stmt)[0] as [string, Node];
  switch (kind) {
    case 'GrantStmt':
      return { label: node['is_grant'] ? 'GRANT' : 'REVOKE', toPublic: node['is_grant'] === true && toPublic(node['grantees']) };
    case 'GrantRoleStmt':
      return {
        label: node['is_grant'] ? 'GRANT of role membership' : 'REVOKE of role membership',
        toPublic: node['is_grant'] === true && toPublic(node['grantee_roles']),
      };
    case 'CreateRoleStmt':
      return {
        label: `CREATE ${node['stmt_type'] === 'ROLESTMT_USER' ? 'USER' : node['stmt_type'] === 'ROLESTMT_GROUP' ? 'GROUP' : 'ROLE'} ${quoteIdent(String(node['role']))}`,
        toPublic: false,
      };
    case 'AlterRoleStmt':
    case 'AlterRoleSetStmt':
      return { label: `ALTER ROLE ${roleName(node['role'])}`, toPublic: false };
    case 'DropRoleStmt':
      return { label: `DROP ROLE ${((node['roles'] as Node[] | undefined) ?? []).map((r) => roleName(r['RoleSpec'])).join(', ')}`, toPublic: false };
    case 'RenameStmt':
      return node['renameType'] === 'OBJECT_ROLE' ? { label: `ALTER ROLE ${quoteIdent(String(node['subname']))} RENAME`, toPublic: false } : undefined;
    case 'AlterDefaultPrivilegesStmt': {
      const action = node['action'] as Node | undefined;
      return { label: 'ALTER DEFAULT PRIVILEGES', toPublic: action?.['is_grant'] === true && toPublic(action['grantees']) };
    }
    case 'AlterOwnerStmt':
      return {
        label: `ALTER ${String(node['objectType'])
          .replace(/^OBJECT_/, '')
          .replace(/_/g, ' ')} … OWNER TO ${roleName(node['newowner'])}`,
        toPublic: false,
      };
    case 'AlterTableStmt': {
      const owner = ((node['cmds'] as Node[] | undefined) ?? []).find((c) => c['AlterTableCmd']?.subtype === 'AT_ChangeOwner')?.['AlterTableCmd'] as
        Node | undefined;
      if (!owner) return undefined;
      const what = String(node['objtype'] ?? 'OBJECT_TABLE')
        .replace(/^OBJECT_/, '')
        .replace('MATVIEW', 'MATERIALIZED VIEW');
      return { label: `ALTER ${what} ${quoteIdent(String(node['relation']?.relname))} OWNER TO ${roleName(owner['newowner'])}`, toPublic: false };
    }
    case 'ReassignOwnedStmt':
      return { label: 'REASSIGN OWNED', toPublic: false };
    case 'DropOwnedStmt':
      return { label: 'DROP OWNED', toPublic: false };
    default:
      return undefined;
  }
}

/** Statements of one migration file that grant, revoke, manage roles, set default privileges or change ownership. */
export function findAccessStatements(statements: ParsedStatement[], script: string, ctx: Pick<AccessContext, 'policyFile'>): AccessHit[] {
  const hits: AccessHit[] = [];
  const apply = `\`dbops access apply\` makes it so, through the gate with --environment`;
  for (const s of statements) {
    const found = accessLabel(s.stmt);
    if (!found) continue;
    const text = snippet(script, s);
    if (found.toPublic) {
      hits.push({
        rule: 'access/grant-to-public',
        offset: s.location,
        message: `${found.label} to PUBLIC in a migration gives the privilege to every role of the database, present and future: \`${text}\`.`,
        help: `Remove it; grant to a declared role instead: declare it in ${ctx.policyFile} (roles.<name>.grants, or public.grants only if truly every role may have it); ${apply}.`,
      });
    } else {
      hits.push({
        rule: 'access/in-migration',
        offset: s.location,
        message: `${found.label} in a migration: \`${text}\`. Roles, privileges and ownership are declared in the access policy, not changed by migrations.`,
        help: `Remove it from the migration and declare it in ${ctx.policyFile}; ${apply}.`,
      });
    }
  }
  return hits;
}

/** The relation a statement creates (tables, CREATE TABLE … AS, SELECT INTO, views, materialized views); temporary ones are not. */
function created(stmt: Node): { rel: Node; what: string } | undefined {
  const [kind, node] = Object.entries(stmt)[0] as [string, Node];
  const pick = (rel: Node | undefined, what: string) => (rel && rel['relpersistence'] !== 't' ? { rel, what } : undefined);
  if (kind === 'CreateStmt') return pick(node['relation'], 'table');
  if (kind === 'CreateForeignTableStmt') return pick(node['base']?.relation, 'foreign table');
  if (kind === 'CreateTableAsStmt') return pick(node['into']?.rel, node['objtype'] === 'OBJECT_MATVIEW' ? 'materialized view' : 'table');
  if (kind === 'SelectStmt') return pick(node['intoClause']?.rel, 'table');
  if (kind === 'ViewStmt') return pick(node['view'], 'view');
  return undefined;
}

/**
 * Tables (and views) one migration file creates in a managed schema that policies/access.yaml leaves
 * reachable only by their owner. When the policy is absent or declares no roles the rule does nothing:
 * there is no access policy to cover anything yet. Relations dropped again in the same file are left
 * out; one renamed in the same file is judged by its final name.
 */
export function findUncoveredTables(statements: ParsedStatement[], ctx: AccessContext): AccessHit[] {
  const coverage = ctx.coverage;
  if (!coverageActive(coverage)) return [];
  const { policy } = coverage;
  let schema = ctx.schema;
  /** schema.name → the relation created in this file. */
  const made = new Map<string, { schema: string; name: string; what: string; offset: number }>();
  const key = (s: string, n: string) => `${s}\u0000${n}`;
  for (const s of statements) {
    const [kind, node] = Object.entries(s.stmt)[0] as [string, Node];
    const c = created(s.stmt);
    if (c) {
      const t = { schema: (c.rel['schemaname'] as string | undefined) ?? schema, name: String(c.rel['relname']), what: c.what, offset: s.location };
      made.set(key(t.schema, t.name), t);
    } else if (kind === 'VariableSetStmt' && node['name'] === 'search_path' && !node['is_local']) {
      // SET search_path TO x, …: unqualified names created afterwards land in its first schema.
      const first = (node['args'] as Node[] | undefined)?.[0]?.A_Const?.sval?.sval as string | undefined;
      if (first && !first.startsWith('$')) schema = first;
    } else if (kind === 'RenameStmt' && ['OBJECT_TABLE', 'OBJECT_VIEW', 'OBJECT_MATVIEW', 'OBJECT_FOREIGN_TABLE'].includes(node['renameType'])) {
      const from = key((node['relation']?.schemaname as string | undefined) ?? schema, String(node['relation']?.relname));
      const t = made.get(from);
      if (t) {
        made.delete(from);
        made.set(key(t.schema, String(node['newname'])), { ...t, name: String(node['newname']) });
      }
    } else if (kind === 'DropStmt' && ['OBJECT_TABLE', 'OBJECT_VIEW', 'OBJECT_MATVIEW', 'OBJECT_FOREIGN_TABLE'].includes(node['removeType'])) {
      for (const obj of (node['objects'] as Node[] | undefined) ?? []) {
        const name = ((obj['List']?.items as Node[] | undefined) ?? [obj]).map((i) => i['String']?.sval as string);
        made.delete(key(name.length > 1 ? name.at(-2)! : schema, name.at(-1)!));
      }
    }
  }
  const tables = [...made.values()];
  const uncovered = new Set(coverage.uncoveredTables(policy, tables).map((t) => key(t.schema, t.name)));
  return tables
    .filter((t) => uncovered.has(key(t.schema, t.name)))
    .map((t) => ({
      rule: 'access/table-not-covered' as const,
      offset: t.offset,
      message: `The new ${t.what} ${quoteIdent(t.schema)}.${quoteIdent(t.name)} is not covered by ${ctx.policyFile}: no declared role other than the owner${policy.owner ? ` ${policy.owner}` : ''} may read it, so only its owner can reach it.`,
      help: `Add it to a role's grants in ${ctx.policyFile} (roles.<name>.grants with on: tables, schema: ${t.schema}), or widen an objects pattern (or narrow an except pattern) so that one covers it; \`dbops access apply\` then grants it.`,
    }));
}
