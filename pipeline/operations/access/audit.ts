import { parseDuration } from '../../core/duration.ts';
import {
  grantCovers,
  patternRegExp,
  PRIVILEGES,
  ROLE_ATTRIBUTES,
  type AccessPolicy,
  type Grant,
  type ObjectKind,
  type RoleAttribute,
} from '../../policy/access.ts';
import type { AccessFacts, DefaultPrivilegeFact, ObjectFact, PrivilegeFact, RoleFact } from './facts.ts';
import { quoteIdent } from '../../infra/db/url.ts';

/**
 * The audit: the policy's desired state against the database's, as findings that each carry the statements
 * that fix them. Pure: facts and policy in, findings out, so every rule is tested on facts built by hand. The
 * bootstrap superuser (oid 10) and the predefined pg_* roles are shown, never drift; roles the policy does not
 * name are reported, and only `apply --prune` acts on them.
 */

export type AccessFindingKind =
  | 'missing-role'
  | 'role-attribute'
  | 'undeclared-role'
  | 'membership'
  | 'privilege'
  | 'public-grant'
  | 'default-privilege'
  | 'owner'
  | 'row-security'
  | 'security-definer'
  | 'password-expiry';

export interface AccessFinding {
  kind: AccessFindingKind;
  severity: 'error' | 'warning';
  /** The role, object or `role → object` it is about. */
  subject: string;
  message: string;
  /** The statements that fix it, in the order apply runs them (empty when only a person can fix it). */
  fix: string[];
  /** Acts on a role the policy does not name: applied only with `--prune`. */
  prune: boolean;
  /** apply's phase: roles first, then memberships, ownership, privileges, default privileges, row security, functions. */
  phase: number;
}

export interface RoleRow {
  name: string;
  status: 'declared' | 'missing' | 'undeclared' | 'bootstrap' | 'predefined' | 'ignored';
  attributes: string[];
}

export interface AccessAudit {
  database: string;
  user: string;
  roles: RoleRow[];
  findings: AccessFinding[];
  counts: { objects: number; privileges: number };
}

export const PUBLIC = 'PUBLIC';
const BOOTSTRAP_OID = 10;
const ident = (s: string) => (s === PUBLIC ? PUBLIC : quoteIdent(s));
const KIND_WORD: Record<Exclude<ObjectKind, 'database' | 'schema'>, string> = { tables: 'TABLES', sequences: 'SEQUENCES', functions: 'FUNCTIONS' };
const GRANT_ON: Record<ObjectKind, string> = { database: 'DATABASE', schema: 'SCHEMA', tables: 'TABLE', sequences: 'SEQUENCE', functions: 'FUNCTION' };

const expand = (kind: ObjectKind, privileges: string[]): string[] =>
  privileges.some((p) => p.toUpperCase() === 'ALL') ? [...PRIVILEGES[kind]] : privileges.map((p) => p.toUpperCase());

/** The object names a statement uses for a privilege: GRANT … ON TABLE x, ON FUNCTION f(int), ON SCHEMA s. */
const grantTarget = (o: ObjectFact) => `${o.kind === 'functions' ? (o.sqlKind === 'PROCEDURE' ? 'PROCEDURE' : 'FUNCTION') : GRANT_ON[o.kind]} ${o.sql}`;

function grantsOf(policy: AccessPolicy): Array<{ grantee: string; grant: Grant }> {
  return [
    ...Object.entries(policy.roles).flatMap(([name, r]) => r.grants.map((grant) => ({ grantee: name, grant }))),
    ...policy.public.grants.map((grant) => ({ grantee: PUBLIC, grant })),
  ];
}

/** What the policy grants on one object: grantee → privileges. */
function wanted(policy: AccessPolicy, o: ObjectFact): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const { grantee, grant } of grantsOf(policy)) {
    if (grant.on !== o.kind) continue;
    const applies = o.kind === 'database' || (grant.schema === o.schema && (o.kind === 'schema' || grantCovers(grant, o.name)));
    if (!applies) continue;
    const set = out.get(grantee) ?? new Set<string>();
    for (const p of expand(o.kind, grant.privileges)) set.add(p);
    out.set(grantee, set);
  }
  return out;
}

const byGrantee = (privileges: PrivilegeFact[]): Map<string, Set<string>> => {
  const out = new Map<string, Set<string>>();
  for (const p of privileges) out.set(p.grantee, (out.get(p.grantee) ?? new Set()).add(p.privilege));
  return out;
};

const attributesOf = (r: RoleFact): RoleAttribute[] => ROLE_ATTRIBUTES.filter((a) => r[a]);

interface Context {
  policy: AccessPolicy;
  facts: AccessFacts;
  now: Date;
  findings: AccessFinding[];
  /** Roles the audit passes over: the bootstrap superuser, predefined roles, ignore_roles. */
  leftAlone: (role: string) => boolean;
  declared: (role: string) => boolean;
}

function roleFindings(c: Context): RoleRow[] {
  const { policy, facts } = c;
  const actual = new Map(facts.roles.map((r) => [r.name, r]));
  const rows: RoleRow[] = [];
  for (const [name, want] of Object.entries(policy.roles)) {
    const r = actual.get(name);
    if (!r) {
      const attrs = [want.login ? 'LOGIN' : 'NOLOGIN', ...want.attributes.map((a) => a.toUpperCase()), want.inherit ? 'INHERIT' : 'NOINHERIT'];
      if (want.connection_limit !== -1) attrs.push(`CONNECTION LIMIT ${want.connection_limit}`);
      const maxAge = want.login && want.password_max_age ? parseDuration(want.password_max_age) : undefined;
      if (maxAge && maxAge > 0) attrs.push(`VALID UNTIL '${new Date(c.now.getTime() + maxAge).toISOString()}'`);
      c.findings.push({
        kind: 'missing-role',
        severity: 'error',
        subject: name,
        message: `role ${name} is declared but does not exist${want.login ? ' (a login role: set its password yourself, dbops never does)' : ''}`,
        fix: [`CREATE ROLE ${ident(name)} WITH ${attrs.join(' ')};`],
        prune: false,
        phase: 0,
      });
      rows.push({ name, status: 'missing', attributes: [] });
      continue;
    }
    rows.push({ name, status: 'declared', attributes: attributesOf(r) });
    const alter: string[] = [];
    const why: string[] = [];
    for (const a of ROLE_ATTRIBUTES) {
      const should = want.attributes.includes(a);
      if (r[a] !== should) {
        alter.push(`${should ? '' : 'NO'}${a.toUpperCase()}`);
        why.push(should ? `lacks ${a.toUpperCase()}` : `has ${a.toUpperCase()}, which the policy does not grant`);
      }
    }
    if (r.login !== want.login) (alter.push(want.login ? 'LOGIN' : 'NOLOGIN'), why.push(want.login ? 'cannot log in' : 'can log in'));
    if (r.inherit !== want.inherit) (alter.push(want.inherit ? 'INHERIT' : 'NOINHERIT'), why.push(want.inherit ? 'does not inherit' : 'inherits'));
    if (r.connectionLimit !== want.connection_limit)
      (alter.push(`CONNECTION LIMIT ${want.connection_limit}`), why.push(`has connection limit ${r.connectionLimit}, not ${want.connection_limit}`));
    if (alter.length > 0) {
      const dangerous = (['superuser', 'createrole', 'bypassrls'] as const).some((a) => r[a] && !want.attributes.includes(a));
      c.findings.push({
        kind: 'role-attribute',
        severity: dangerous ? 'error' : 'warning',
        subject: name,
        message: `role ${name} ${why.join(', ')}`,
        fix: [`ALTER ROLE ${ident(name)} WITH ${alter.join(' ')};`],
        prune: false,
        phase: 1,
      });
    }
    const maxAge = want.password_max_age ? parseDuration(want.password_max_age) : undefined;
    if (want.login && maxAge && maxAge > 0) {
      const limit = c.now.getTime() + maxAge;
      if (r.validUntil === null || Date.parse(r.validUntil) > limit) {
        const until = new Date(limit).toISOString();
        c.findings.push({
          kind: 'password-expiry',
          severity: 'warning',
          subject: name,
          message: `the password of ${name} ${r.validUntil === null ? 'never expires' : `expires ${r.validUntil}`}; password_max_age is ${want.password_max_age}`,
          fix: [`ALTER ROLE ${ident(name)} VALID UNTIL '${until}';`],
          prune: false,
          phase: 1,
        });
      }
    }
  }
  for (const r of facts.roles) {
    if (policy.roles[r.name]) continue;
    if (r.oid === BOOTSTRAP_OID) {
      rows.push({ name: r.name, status: 'bootstrap', attributes: attributesOf(r) });
      continue;
    }
    if (r.name.startsWith('pg_')) continue;
    if (c.leftAlone(r.name)) {
      rows.push({ name: r.name, status: 'ignored', attributes: attributesOf(r) });
      continue;
    }
    rows.push({ name: r.name, status: 'undeclared', attributes: attributesOf(r) });
    const owns = facts.objects.filter((o) => o.owner === r.name && o.kind !== 'database' && o.kind !== 'schema');
    const powerful = attributesOf(r).filter((a) => a === 'superuser' || a === 'createrole' || a === 'bypassrls');
    c.findings.push({
      kind: 'undeclared-role',
      severity: powerful.length > 0 ? 'error' : 'warning',
      subject: r.name,
      message: `role ${r.name} is not in the policy${powerful.length > 0 ? ` and has ${powerful.map((a) => a.toUpperCase()).join(', ')}` : ''}${
        owns.length > 0
          ? `; it owns ${owns.length} object(s) (${owns
              .slice(0, 3)
              .map((o) => o.sql)
              .join(', ')}), so it is never dropped: give them to ${policy.owner ?? 'the owner'} first`
          : ''
      }`,
      fix:
        owns.length > 0
          ? powerful.length > 0
            ? [`ALTER ROLE ${ident(r.name)} WITH ${powerful.map((a) => `NO${a.toUpperCase()}`).join(' ')};`]
            : []
          : [`DROP ROLE ${ident(r.name)};`],
      prune: true,
      phase: owns.length > 0 ? 1 : 9,
    });
  }
  return rows;
}

function membershipFindings(c: Context): void {
  const actual = new Set(c.facts.memberships.map((m) => `${m.member}\0${m.role}`));
  const roleExists = new Set(c.facts.roles.map((r) => r.name));
  for (const [name, want] of Object.entries(c.policy.roles)) {
    for (const role of want.member_of)
      if (!actual.has(`${name}\0${role}`))
        c.findings.push({
          kind: 'membership',
          severity: 'error',
          subject: `${name} → ${role}`,
          message: `${name} is not a member of ${role}${roleExists.has(role) ? '' : ` (${role} does not exist yet)`}`,
          fix: [`GRANT ${ident(role)} TO ${ident(name)};`],
          prune: false,
          phase: 2,
        });
  }
  for (const m of c.facts.memberships) {
    if (c.leftAlone(m.member) || (c.leftAlone(m.role) && !c.declared(m.role))) continue;
    const member = c.policy.roles[m.member];
    if (member && member.member_of.includes(m.role)) continue;
    if (!member && !c.declared(m.role)) continue;
    c.findings.push({
      kind: 'membership',
      severity: 'error',
      subject: `${m.member} → ${m.role}`,
      message: `${m.member} is a member of ${m.role}, which the policy does not declare`,
      fix: [`REVOKE ${ident(m.role)} FROM ${ident(m.member)};`],
      prune: !member,
      phase: 2,
    });
  }
}

function objectFindings(c: Context): number {
  const { policy, facts } = c;
  let privileges = 0;
  const owner = policy.owner;
  const changingOwner = new Set<string>();
  for (const o of facts.objects) {
    privileges += o.privileges.length;
    // Ownership of what the migrations create; the database and the schemas keep theirs (PostgreSQL 15: pg_database_owner).
    if (owner && o.kind !== 'database' && o.kind !== 'schema' && o.owner !== owner) {
      const follows = o.kind === 'sequences' && o.ownedByTable;
      if (!follows) changingOwner.add(`${o.schema}.${o.name}`);
      c.findings.push({
        kind: 'owner',
        severity: 'error',
        subject: o.sql,
        message: `${o.sql} is owned by ${o.owner}, not ${owner}${follows ? ` (it follows its table ${o.ownedByTable})` : ''}`,
        fix: follows ? [] : [`ALTER ${o.sqlKind} ${o.sql} OWNER TO ${ident(owner)};`],
        prune: false,
        phase: 3,
      });
    }
    const want = wanted(policy, o);
    const have = byGrantee(o.privileges);
    // The owner's own privileges are implicit (and follow the owner after ALTER … OWNER).
    const effectiveOwner = owner && o.kind !== 'database' && o.kind !== 'schema' ? owner : o.owner;
    for (const grantee of new Set([...want.keys(), ...have.keys()])) {
      if (grantee === o.owner || grantee === effectiveOwner) continue;
      if (grantee !== PUBLIC && c.leftAlone(grantee)) continue;
      const w = want.get(grantee) ?? new Set<string>();
      const h = have.get(grantee) ?? new Set<string>();
      const missing = [...w].filter((p) => !h.has(p));
      const extra = [...h].filter((p) => !w.has(p));
      const declared = grantee === PUBLIC || c.declared(grantee);
      if (missing.length > 0)
        c.findings.push({
          kind: 'privilege',
          severity: 'error',
          subject: `${grantee} → ${o.sql}`,
          message: `${grantee} lacks ${missing.join(', ')} on ${o.sqlKind.toLowerCase()} ${o.sql}`,
          fix: [`GRANT ${missing.join(', ')} ON ${grantTarget(o)} TO ${ident(grantee)};`],
          prune: false,
          phase: 4,
        });
      if (extra.length > 0) {
        const publicData = grantee === PUBLIC && (o.kind === 'tables' || o.kind === 'sequences');
        c.findings.push({
          kind: grantee === PUBLIC ? 'public-grant' : 'privilege',
          // PUBLIC reading or writing data is an error; PostgreSQL's own defaults for PUBLIC (CONNECT, TEMPORARY, EXECUTE) are warnings.
          severity: grantee === PUBLIC ? (publicData ? 'error' : 'warning') : declared ? 'error' : 'warning',
          subject: `${grantee} → ${o.sql}`,
          message:
            grantee === PUBLIC
              ? `PUBLIC (every role) holds ${extra.join(', ')} on ${o.sqlKind.toLowerCase()} ${o.sql}, which the policy does not grant`
              : `${grantee} holds ${extra.join(', ')} on ${o.sqlKind.toLowerCase()} ${o.sql}, which the policy does not grant${declared ? '' : ` (${grantee} is not in the policy)`}`,
          fix: [`REVOKE ${extra.join(', ')} ON ${grantTarget(o)} FROM ${ident(grantee)};`],
          prune: !declared,
          phase: 4,
        });
      }
    }
    if (o.kind === 'tables' && o.rowSecurity) {
      const rule = policy.row_security.find((r) => r.schema === o.schema && r.table === o.name);
      const enabled = rule !== undefined;
      const forced = rule?.force ?? false;
      const fix: string[] = [];
      if (o.rowSecurity.enabled !== enabled) fix.push(`ALTER TABLE ${o.sql} ${enabled ? 'ENABLE' : 'DISABLE'} ROW LEVEL SECURITY;`);
      if (o.rowSecurity.forced !== forced) fix.push(`ALTER TABLE ${o.sql} ${forced ? 'FORCE' : 'NO FORCE'} ROW LEVEL SECURITY;`);
      if (fix.length > 0)
        c.findings.push({
          kind: 'row-security',
          severity: enabled ? 'error' : 'warning',
          subject: o.sql,
          message: enabled
            ? `row-level security of ${o.sql} must be ${forced ? 'enabled and forced' : 'enabled'} (row_security), it is ${o.rowSecurity.enabled ? (o.rowSecurity.forced ? 'enabled and forced' : 'enabled, not forced') : 'off'}`
            : `${o.sql} has row-level security ${o.rowSecurity.forced ? 'enabled and forced' : 'enabled'}, which row_security does not declare`,
          fix,
          prune: false,
          phase: 6,
        });
    }
    if (o.securityDefiner && !o.securityDefiner.searchPath)
      c.findings.push({
        kind: 'security-definer',
        severity: 'error',
        subject: o.sql,
        message: `${o.sql} is SECURITY DEFINER without a fixed search_path: a caller can put objects of its own first on the path and run them with ${o.owner}'s rights`,
        fix: [`ALTER ${o.sqlKind} ${o.sql} SET search_path = ${ident(o.schema!)}, pg_temp;`],
        prune: false,
        phase: 7,
      });
  }
  return privileges;
}

/**
 * The owner's default privileges per managed schema and kind. A grant on every object (`*`) of a kind is also a
 * default privilege, so the next migration's tables are covered. What new objects get is the schema's entry
 * added to the global one, or to PostgreSQL's built-in default (PUBLIC may EXECUTE functions) when there is
 * no global entry; a privilege that comes from the global or built-in part is revoked globally.
 */
function defaultPrivilegeFindings(c: Context): void {
  const owner = c.policy.owner;
  // A missing owner has no entries yet: it is compared with the built-in defaults, so one apply creates it and its defaults.
  if (!owner) return;
  for (const schema of c.policy.schemas) {
    for (const kind of ['tables', 'sequences', 'functions'] as const) {
      const want = new Map<string, Set<string>>();
      for (const { grantee, grant } of grantsOf(c.policy))
        if (grant.on === kind && grant.schema === schema && grant.objects.includes('*'))
          want.set(grantee, new Set([...(want.get(grantee) ?? []), ...expand(kind, grant.privileges)]));
      const entry = (s: string | null): DefaultPrivilegeFact | undefined => c.facts.defaults.find((d) => d.role === owner && d.kind === kind && d.schema === s);
      const global = entry(null);
      const builtin: PrivilegeFact[] = kind === 'functions' ? [{ grantee: PUBLIC, privilege: 'EXECUTE', grantable: false }] : [];
      const base = byGrantee(global ? global.privileges : builtin);
      const local = byGrantee(entry(schema)?.privileges ?? []);
      for (const grantee of new Set([...want.keys(), ...base.keys(), ...local.keys()])) {
        if (grantee === owner || (grantee !== PUBLIC && c.leftAlone(grantee))) continue;
        const w = want.get(grantee) ?? new Set<string>();
        const fromBase = base.get(grantee) ?? new Set<string>();
        const fromLocal = local.get(grantee) ?? new Set<string>();
        const missing = [...w].filter((p) => !fromBase.has(p) && !fromLocal.has(p));
        const extraLocal = [...fromLocal].filter((p) => !w.has(p));
        const extraBase = [...fromBase].filter((p) => !w.has(p));
        const prefix = `ALTER DEFAULT PRIVILEGES FOR ROLE ${ident(owner)}`;
        const fix = [
          ...(missing.length > 0 ? [`${prefix} IN SCHEMA ${ident(schema)} GRANT ${missing.join(', ')} ON ${KIND_WORD[kind]} TO ${ident(grantee)};`] : []),
          ...(extraLocal.length > 0
            ? [`${prefix} IN SCHEMA ${ident(schema)} REVOKE ${extraLocal.join(', ')} ON ${KIND_WORD[kind]} FROM ${ident(grantee)};`]
            : []),
          ...(extraBase.length > 0 ? [`${prefix} REVOKE ${extraBase.join(', ')} ON ${KIND_WORD[kind]} FROM ${ident(grantee)};`] : []),
        ];
        if (fix.length === 0) continue;
        const parts = [
          missing.length > 0 ? `lack ${missing.join(', ')} for ${grantee}` : '',
          [...extraLocal, ...extraBase].length > 0
            ? `give ${[...new Set([...extraLocal, ...extraBase])].join(', ')} to ${grantee}, which the policy does not grant`
            : '',
        ].filter(Boolean);
        c.findings.push({
          kind: 'default-privilege',
          severity: 'error',
          subject: `${grantee} → new ${kind} in ${schema}`,
          message: `the ${kind} ${owner} creates in ${schema} ${parts.join(' and ')}`,
          fix,
          prune: grantee !== PUBLIC && !c.declared(grantee),
          phase: 5,
        });
      }
    }
  }
}

export function auditAccess(facts: AccessFacts, policy: AccessPolicy, now: Date): AccessAudit {
  const ignored = policy.ignore_roles.map(patternRegExp);
  const bootstrap = new Set(facts.roles.filter((r) => r.oid === BOOTSTRAP_OID).map((r) => r.name));
  const c: Context = {
    policy,
    facts,
    now,
    findings: [],
    declared: (role) => role in policy.roles,
    leftAlone: (role) => bootstrap.has(role) || role.startsWith('pg_') || (!(role in policy.roles) && ignored.some((r) => r.test(role))),
  };
  const roles = roleFindings(c);
  membershipFindings(c);
  const privileges = objectFindings(c);
  defaultPrivilegeFindings(c);
  const findings = c.findings.sort((a, b) => a.phase - b.phase || (a.severity === b.severity ? 0 : a.severity === 'error' ? -1 : 1));
  return { database: facts.database, user: facts.user, roles, findings, counts: { objects: facts.objects.length, privileges } };
}

/** The statements `access apply` runs, in order: without `prune`, none that acts on a role the policy does not name. */
export const applyPlan = (audit: AccessAudit, prune: boolean): string[] => audit.findings.filter((f) => prune || !f.prune).flatMap((f) => f.fix);

/** Tables of the managed schemas that no declared role other than the owner (nor PUBLIC) may read: reachable only by their owner. */
export function uncoveredTables(policy: AccessPolicy, tables: Array<{ schema: string; name: string }>): Array<{ schema: string; name: string }> {
  return tables.filter(
    (t) =>
      policy.schemas.includes(t.schema) &&
      !grantsOf(policy).some(
        ({ grantee, grant }) => grantee !== policy.owner && grant.on === 'tables' && grant.schema === t.schema && grantCovers(grant, t.name),
      ),
  );
}
