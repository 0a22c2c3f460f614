import type { Client } from '../../infra/db/client.ts';
import type { ObjectKind } from '../../policy/access.ts';
import { quoteIdent } from '../../infra/db/url.ts';

/**
 * Who may do what in one database, as plain data: roles and their attributes, memberships, every privilege on
 * the database, the managed schemas and their tables, sequences and functions (aclexplode over the ACL, or
 * over the built-in default when the ACL is still NULL), the owner's default privileges, ownership, row
 * security and SECURITY DEFINER functions. The audit (audit.ts) decides from this alone. Objects that belong
 * to an extension are the extension's, not the schema's, and are left out.
 */

export interface RoleFact {
  name: string;
  oid: number;
  login: boolean;
  superuser: boolean;
  createdb: boolean;
  createrole: boolean;
  replication: boolean;
  bypassrls: boolean;
  inherit: boolean;
  connectionLimit: number;
  /** VALID UNTIL, ISO 8601; null = never expires. */
  validUntil: string | null;
}

export interface MembershipFact {
  role: string;
  member: string;
  admin: boolean;
}

export interface PrivilegeFact {
  grantee: string;
  privilege: string;
  grantable: boolean;
}

export interface ObjectFact {
  kind: ObjectKind;
  /** null for the database. */
  schema: string | null;
  name: string;
  /** How a statement names it: `"public"."Ledger"`, `"public"."f"(integer)`, `"astro"`. */
  sql: string;
  /** TABLE, VIEW, MATERIALIZED VIEW, FOREIGN TABLE, SEQUENCE, FUNCTION, PROCEDURE, SCHEMA, DATABASE: the word ALTER … OWNER needs. */
  sqlKind: string;
  owner: string;
  privileges: PrivilegeFact[];
  /** Tables: row-level security enabled, and forced on the owner. */
  rowSecurity?: { enabled: boolean; forced: boolean };
  /** Functions: SECURITY DEFINER, and whether search_path is fixed in its configuration. */
  securityDefiner?: { searchPath: boolean };
  /** Sequences owned by a table column (serial, identity): their owner follows the table's. */
  ownedByTable?: string | null;
}

export interface DefaultPrivilegeFact {
  /** The role whose new objects get these privileges. */
  role: string;
  /** null: in every schema (a global entry, which replaces the built-in defaults). */
  schema: string | null;
  kind: 'tables' | 'sequences' | 'functions' | 'types' | 'schemas';
  privileges: PrivilegeFact[];
}

export interface AccessFacts {
  database: string;
  serverVersion: number;
  /** The role dbops connected as, and whether it is a superuser (what apply can change depends on it). */
  user: string;
  superuser: boolean;
  roles: RoleFact[];
  memberships: MembershipFact[];
  objects: ObjectFact[];
  defaults: DefaultPrivilegeFact[];
}

// PUBLIC is grantee 0 in an ACL.
const GRANTEE = `CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END`;
const ACL = (expr: string) =>
  `(SELECT coalesce(json_agg(json_build_object('grantee', ${GRANTEE}, 'privilege', a.privilege_type, 'grantable', a.is_grantable) ORDER BY 1), '[]') FROM aclexplode(${expr}) a)`;
const NOT_EXTENSION = (classId: string, oid: string) =>
  `NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = '${classId}'::regclass AND d.objid = ${oid} AND d.deptype = 'e')`;

const ROLES = `
SELECT rolname AS name, oid::int8 AS oid, rolcanlogin AS login, rolsuper AS superuser, rolcreatedb AS createdb, rolcreaterole AS createrole,
       rolreplication AS replication, rolbypassrls AS bypassrls, rolinherit AS inherit, rolconnlimit AS connection_limit, rolvaliduntil AS valid_until
  FROM pg_roles ORDER BY rolname`;

const MEMBERSHIPS = `
SELECT r.rolname AS role, m.rolname AS member, am.admin_option AS admin
  FROM pg_auth_members am JOIN pg_roles r ON r.oid = am.roleid JOIN pg_roles m ON m.oid = am.member
 ORDER BY 1, 2`;

const RELATIONS = `
SELECT n.nspname AS schema, c.relname AS name, c.relkind::text AS relkind, pg_get_userbyid(c.relowner) AS owner,
       c.relrowsecurity AS rls, c.relforcerowsecurity AS force_rls,
       ${ACL(`coalesce(c.relacl, acldefault(CASE WHEN c.relkind = 'S' THEN 's'::"char" ELSE 'r'::"char" END, c.relowner))`)} AS acl,
       (SELECT t.relname FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid
         WHERE c.relkind = 'S' AND d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') LIMIT 1) AS owned_by
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND ${NOT_EXTENSION('pg_class', 'c.oid')}
 ORDER BY 1, 2`;

const FUNCTIONS = `
SELECT n.nspname AS schema, p.proname AS name, pg_get_function_identity_arguments(p.oid) AS args, p.prokind::text AS prokind,
       pg_get_userbyid(p.proowner) AS owner, p.prosecdef AS definer,
       coalesce(EXISTS (SELECT FROM unnest(p.proconfig) cfg WHERE cfg LIKE 'search_path=%'), false) AS search_path,
       ${ACL(`coalesce(p.proacl, acldefault('f'::"char", p.proowner))`)} AS acl
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = ANY($1) AND p.prokind IN ('f', 'p') AND ${NOT_EXTENSION('pg_proc', 'p.oid')}
 ORDER BY 1, 2, 3`;

const SCHEMAS = `
SELECT n.nspname AS name, pg_get_userbyid(n.nspowner) AS owner, ${ACL(`coalesce(n.nspacl, acldefault('n'::"char", n.nspowner))`)} AS acl
  FROM pg_namespace n WHERE n.nspname = ANY($1) ORDER BY 1`;

const DATABASE = `
SELECT d.datname AS name, pg_get_userbyid(d.datdba) AS owner, ${ACL(`coalesce(d.datacl, acldefault('d'::"char", d.datdba))`)} AS acl
  FROM pg_database d WHERE d.datname = current_database()`;

const DEFAULTS = `
SELECT pg_get_userbyid(d.defaclrole) AS role, n.nspname AS schema, d.defaclobjtype::text AS objtype, ${ACL('d.defaclacl')} AS acl
  FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace
 ORDER BY 1, 2, 3`;

/** The catalog queries of an audit, as sent (`npm run bench access` runs the same ones in psql). */
export const ACCESS_CATALOG_QUERIES = {
  roles: ROLES,
  memberships: MEMBERSHIPS,
  relations: RELATIONS,
  functions: FUNCTIONS,
  schemas: SCHEMAS,
  database: DATABASE,
  defaults: DEFAULTS,
} as const;

const RELKIND: Record<string, string> = { r: 'TABLE', p: 'TABLE', v: 'VIEW', m: 'MATERIALIZED VIEW', f: 'FOREIGN TABLE', S: 'SEQUENCE' };
const OBJTYPE: Record<string, DefaultPrivilegeFact['kind']> = { r: 'tables', S: 'sequences', f: 'functions', T: 'types', n: 'schemas' };

/** Reads everything an audit needs, in one read-only session. */
export async function readAccessFacts(client: Client, schemas: string[]): Promise<AccessFacts> {
  await client.query(`SET default_transaction_read_only = on; SET statement_timeout = '5min'`);
  const head = (
    await client.query<{ database: string; version: number; user: string; superuser: boolean }>(
      `SELECT current_database() AS database, current_setting('server_version_num')::int AS version, current_user AS "user",
              (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser`,
    )
  ).rows[0]!;
  const roles = (await client.query<Record<string, any>>(ROLES)).rows.map((r): RoleFact => ({
    name: r['name'],
    oid: Number(r['oid']),
    login: r['login'],
    superuser: r['superuser'],
    createdb: r['createdb'],
    createrole: r['createrole'],
    replication: r['replication'],
    bypassrls: r['bypassrls'],
    inherit: r['inherit'],
    connectionLimit: r['connection_limit'],
    validUntil: r['valid_until'] ? (r['valid_until'] as Date).toISOString() : null,
  }));
  const memberships = (await client.query<MembershipFact>(MEMBERSHIPS)).rows;
  const objects: ObjectFact[] = [];
  const db = (await client.query<Record<string, any>>(DATABASE)).rows[0]!;
  objects.push({
    kind: 'database',
    schema: null,
    name: db['name'],
    sql: quoteIdent(db['name']),
    sqlKind: 'DATABASE',
    owner: db['owner'],
    privileges: db['acl'],
  });
  for (const r of (await client.query<Record<string, any>>(SCHEMAS, [schemas])).rows)
    objects.push({
      kind: 'schema',
      schema: r['name'],
      name: r['name'],
      sql: quoteIdent(r['name']),
      sqlKind: 'SCHEMA',
      owner: r['owner'],
      privileges: r['acl'],
    });
  for (const r of (await client.query<Record<string, any>>(RELATIONS, [schemas])).rows) {
    const sequence = r['relkind'] === 'S';
    objects.push({
      kind: sequence ? 'sequences' : 'tables',
      schema: r['schema'],
      name: r['name'],
      sql: `${quoteIdent(r['schema'])}.${quoteIdent(r['name'])}`,
      sqlKind: RELKIND[r['relkind']] ?? 'TABLE',
      owner: r['owner'],
      privileges: r['acl'],
      ...(sequence ? { ownedByTable: r['owned_by'] } : { rowSecurity: { enabled: r['rls'], forced: r['force_rls'] } }),
    });
  }
  for (const r of (await client.query<Record<string, any>>(FUNCTIONS, [schemas])).rows)
    objects.push({
      kind: 'functions',
      schema: r['schema'],
      name: r['name'],
      sql: `${quoteIdent(r['schema'])}.${quoteIdent(r['name'])}(${r['args']})`,
      sqlKind: r['prokind'] === 'p' ? 'PROCEDURE' : 'FUNCTION',
      owner: r['owner'],
      privileges: r['acl'],
      ...(r['definer'] ? { securityDefiner: { searchPath: r['search_path'] } } : {}),
    });
  const defaults = (await client.query<Record<string, any>>(DEFAULTS)).rows
    .filter((r) => OBJTYPE[r['objtype']])
    .map((r): DefaultPrivilegeFact => ({ role: r['role'], schema: r['schema'] ?? null, kind: OBJTYPE[r['objtype']]!, privileges: r['acl'] }));
  return { database: head.database, serverVersion: head.version, user: head.user, superuser: head.superuser, roles, memberships, objects, defaults };
}
