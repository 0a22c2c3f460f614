// The access audit on facts built by hand: what is drift, its severity and the exact statements that fix it.
import { describe, expect, it } from 'vitest';
import { applyPlan, auditAccess, uncoveredTables, type AccessFacts, type ObjectFact, type RoleFact } from '../../pipeline/operations/access/index.ts';
import { AccessPolicy } from '../../pipeline/policy/access.ts';

const NOW = new Date('2026-12-07T12:00:00Z');
const DAY = 86_400_000;

function role(name: string, over: Partial<RoleFact> = {}): RoleFact {
  return {
    name,
    oid: 16_000 + name.length,
    login: false,
    superuser: false,
    createdb: false,
    createrole: false,
    replication: false,
    bypassrls: false,
    inherit: true,
    connectionLimit: -1,
    validUntil: null,
    ...over,
  };
}

function table(name: string, over: Partial<ObjectFact> = {}): ObjectFact {
  return {
    kind: 'tables',
    schema: 'public',
    name,
    sql: `"public"."${name}"`,
    sqlKind: 'TABLE',
    owner: 'migrator',
    privileges: [],
    rowSecurity: { enabled: false, forced: false },
    ...over,
  };
}

function facts(over: Partial<AccessFacts> = {}): AccessFacts {
  return {
    database: 'ledger',
    serverVersion: 150000,
    user: 'postgres',
    superuser: true,
    roles: [role('postgres', { oid: 10, superuser: true, login: true }), role('migrator', { login: true }), role('app')],
    memberships: [],
    objects: [],
    // The owner's function defaults: PUBLIC's EXECUTE revoked globally, so only what a test adds shows.
    defaults: [{ role: 'migrator', schema: null, kind: 'functions', privileges: [] }],
    ...over,
  };
}

const policy = (over: Record<string, unknown> = {}) =>
  AccessPolicy.parse({ version: 1, owner: 'migrator', roles: { migrator: { login: true }, app: {} }, ...over });

const audit = (f: Partial<AccessFacts>, p = policy()) => auditAccess(facts(f), p, NOW);
const fixesOf = (f: Partial<AccessFacts>, p = policy()) => audit(f, p).findings.flatMap((x) => x.fix);

describe('auditAccess: roles', () => {
  it('nothing to report when the database is as declared; the bootstrap superuser is shown, never drift', () => {
    const a = audit({});
    expect(a.findings).toEqual([]);
    expect(a.roles.find((r) => r.name === 'postgres')).toEqual({ name: 'postgres', status: 'bootstrap', attributes: ['superuser'] });
  });

  it('an attribute the policy does not grant is drift; SUPERUSER, CREATEROLE and BYPASSRLS are errors, CREATEDB a warning', () => {
    for (const attr of ['superuser', 'createrole', 'bypassrls'] as const) {
      const [f] = audit({ roles: [role('migrator', { login: true }), role('app', { [attr]: true })] }).findings;
      expect(f).toMatchObject({ kind: 'role-attribute', severity: 'error', fix: [`ALTER ROLE "app" WITH NO${attr.toUpperCase()};`] });
    }
    expect(audit({ roles: [role('migrator', { login: true }), role('app', { createdb: true })] }).findings[0]).toMatchObject({ severity: 'warning' });
    // Declared: no drift.
    const p = policy({ roles: { migrator: { login: true }, app: { attributes: ['createdb'] } } });
    expect(audit({ roles: [role('migrator', { login: true }), role('app', { createdb: true })] }, p).findings).toEqual([]);
  });

  it('a missing role is created without a password, its expiry from password_max_age', () => {
    const p = policy({ roles: { migrator: { login: true }, app: {}, svc: { login: true, connection_limit: 5, password_max_age: '90d' } } });
    expect(fixesOf({}, p)).toEqual([
      `CREATE ROLE "svc" WITH LOGIN INHERIT CONNECTION LIMIT 5 VALID UNTIL '${new Date(NOW.getTime() + 90 * DAY).toISOString()}';`,
    ]);
  });

  it('password_max_age: a password valid exactly that long is fine, one millisecond longer or never expiring is drift', () => {
    const p = policy({ roles: { migrator: { login: true, password_max_age: '90d' }, app: {} } });
    const until = (ms: number) => [role('app'), role('migrator', { login: true, validUntil: new Date(NOW.getTime() + ms).toISOString() })];
    expect(audit({ roles: until(90 * DAY) }, p).findings).toEqual([]);
    expect(audit({ roles: until(90 * DAY + 1) }, p).findings.map((f) => f.kind)).toEqual(['password-expiry']);
    expect(audit({ roles: [role('app'), role('migrator', { login: true })] }, p).findings[0]!.message).toContain('never expires');
  });

  it('an undeclared role is reported for --prune only; one that owns objects is never dropped; ignore_roles and pg_* are left alone', () => {
    const roles = [role('migrator', { login: true }), role('app'), role('stray'), role('owner2'), role('rds_admin'), role('pg_monitor')];
    const a = audit({ roles, objects: [table('t', { owner: 'owner2' })] }, policy({ ignore_roles: ['rds_*'] }));
    const undeclared = a.findings.filter((f) => f.kind === 'undeclared-role');
    // Dropping comes last in apply's order, after the revokes it needs.
    expect(undeclared.map((f) => [f.subject, f.prune, f.fix])).toEqual([
      ['owner2', true, []],
      ['stray', true, ['DROP ROLE "stray";']],
    ]);
    expect(a.roles.find((r) => r.name === 'rds_admin')?.status).toBe('ignored');
    expect(a.roles.some((r) => r.name === 'pg_monitor')).toBe(false);
    // Without --prune the plan leaves them alone; the owner fix of t is not a prune.
    expect(applyPlan(a, false)).toEqual(['ALTER TABLE "public"."t" OWNER TO "migrator";']);
    expect(applyPlan(a, true)).toContain('DROP ROLE "stray";');
  });
});

describe('auditAccess: memberships', () => {
  it('missing and undeclared memberships of declared roles; predefined roles may be declared', () => {
    const p = policy({ roles: { migrator: { login: true }, app: { member_of: ['pg_read_all_stats'] } } });
    expect(fixesOf({ memberships: [{ role: 'migrator', member: 'app', admin: false }] }, p)).toEqual([
      'GRANT "pg_read_all_stats" TO "app";',
      'REVOKE "migrator" FROM "app";',
    ]);
    expect(fixesOf({ memberships: [{ role: 'pg_read_all_stats', member: 'app', admin: false }] }, p)).toEqual([]);
  });
});

describe('auditAccess: privileges', () => {
  const p = policy({
    roles: {
      migrator: { login: true },
      app: { grants: [{ on: 'tables', schema: 'public', objects: ['ledger*'], except: ['ledger_tmp'], privileges: ['SELECT'] }] },
    },
  });

  it('patterns and exceptions decide which tables a grant covers', () => {
    const objects = [table('ledger_entry'), table('ledger_tmp'), table('invoice')];
    expect(fixesOf({ objects }, p)).toEqual(['GRANT SELECT ON TABLE "public"."ledger_entry" TO "app";']);
  });

  it('privileges beyond the policy are revoked; PUBLIC on data is an error; the owner’s own privileges are implicit', () => {
    const objects = [
      table('ledger_entry', {
        privileges: [
          { grantee: 'migrator', privilege: 'SELECT', grantable: false },
          { grantee: 'app', privilege: 'SELECT', grantable: false },
          { grantee: 'app', privilege: 'DELETE', grantable: false },
          { grantee: 'PUBLIC', privilege: 'SELECT', grantable: false },
        ],
      }),
    ];
    const a = audit({ objects }, p);
    expect(a.findings.map((f) => [f.kind, f.severity, f.fix])).toEqual([
      ['privilege', 'error', ['REVOKE DELETE ON TABLE "public"."ledger_entry" FROM "app";']],
      ['public-grant', 'error', ['REVOKE SELECT ON TABLE "public"."ledger_entry" FROM PUBLIC;']],
    ]);
  });

  it('ALL expands to every privilege of the kind', () => {
    const all = policy({ roles: { migrator: { login: true }, app: { grants: [{ on: 'sequences', schema: 'public', privileges: ['ALL'] }] } } });
    const seq: ObjectFact = {
      kind: 'sequences',
      schema: 'public',
      name: 's',
      sql: '"public"."s"',
      sqlKind: 'SEQUENCE',
      owner: 'migrator',
      privileges: [],
      ownedByTable: null,
    };
    expect(fixesOf({ objects: [seq] }, all)).toEqual([
      'GRANT USAGE, SELECT, UPDATE ON SEQUENCE "public"."s" TO "app";',
      'ALTER DEFAULT PRIVILEGES FOR ROLE "migrator" IN SCHEMA "public" GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO "app";',
    ]);
  });

  it('a privilege on a function of the policy names its arguments; SECURITY DEFINER without search_path is fixed in its schema', () => {
    const fn: ObjectFact = {
      kind: 'functions',
      schema: 'public',
      name: 'f',
      sql: '"public"."f"(integer)',
      sqlKind: 'FUNCTION',
      owner: 'migrator',
      privileges: [{ grantee: 'PUBLIC', privilege: 'EXECUTE', grantable: false }],
      securityDefiner: { searchPath: false },
    };
    const a = audit({ objects: [fn] });
    expect(a.findings.map((f) => [f.kind, f.severity, f.fix])).toEqual([
      ['public-grant', 'warning', ['REVOKE EXECUTE ON FUNCTION "public"."f"(integer) FROM PUBLIC;']],
      ['security-definer', 'error', ['ALTER FUNCTION "public"."f"(integer) SET search_path = "public", pg_temp;']],
    ]);
    expect(audit({ objects: [{ ...fn, privileges: [], securityDefiner: { searchPath: true } }] }).findings).toEqual([]);
  });
});

describe('auditAccess: ownership and row security', () => {
  it('a table not owned by the owner is given to it; a serial’s sequence follows its table with no statement of its own', () => {
    const seq: ObjectFact = {
      kind: 'sequences',
      schema: 'public',
      name: 't_id_seq',
      sql: '"public"."t_id_seq"',
      sqlKind: 'SEQUENCE',
      owner: 'postgres',
      privileges: [],
      ownedByTable: 't',
    };
    const a = audit({ objects: [table('t', { owner: 'postgres' }), seq] });
    expect(a.findings.map((f) => [f.subject, f.fix])).toEqual([
      ['"public"."t"', ['ALTER TABLE "public"."t" OWNER TO "migrator";']],
      ['"public"."t_id_seq"', []],
    ]);
  });

  it('row security as declared: enabled and forced where row_security says, off elsewhere', () => {
    const p = policy({ row_security: [{ table: 'invoice', force: true }] });
    expect(fixesOf({ objects: [table('invoice'), table('note', { rowSecurity: { enabled: true, forced: false } })] }, p)).toEqual([
      'ALTER TABLE "public"."invoice" ENABLE ROW LEVEL SECURITY;',
      'ALTER TABLE "public"."invoice" FORCE ROW LEVEL SECURITY;',
      'ALTER TABLE "public"."note" DISABLE ROW LEVEL SECURITY;',
    ]);
  });
});

describe('auditAccess: default privileges', () => {
  const p = policy({
    roles: {
      migrator: { login: true },
      app: {
        grants: [
          { on: 'tables', schema: 'public', privileges: ['SELECT'] },
          { on: 'functions', schema: 'public', privileges: ['EXECUTE'] },
        ],
      },
    },
  });

  it('a grant on every table is also the owner’s default privilege in the schema', () => {
    expect(fixesOf({}, p)).toEqual([
      'ALTER DEFAULT PRIVILEGES FOR ROLE "migrator" IN SCHEMA "public" GRANT SELECT ON TABLES TO "app";',
      'ALTER DEFAULT PRIVILEGES FOR ROLE "migrator" IN SCHEMA "public" GRANT EXECUTE ON FUNCTIONS TO "app";',
    ]);
    const set = [
      { role: 'migrator', schema: null, kind: 'functions' as const, privileges: [] },
      { role: 'migrator', schema: 'public', kind: 'tables' as const, privileges: [{ grantee: 'app', privilege: 'SELECT', grantable: false }] },
      { role: 'migrator', schema: 'public', kind: 'functions' as const, privileges: [{ grantee: 'app', privilege: 'EXECUTE', grantable: false }] },
    ];
    expect(fixesOf({ defaults: set }, p)).toEqual([]);
  });

  it('without a global entry, PostgreSQL’s built-in default lets PUBLIC execute new functions: revoked globally', () => {
    expect(fixesOf({ defaults: [] }, policy())).toEqual(['ALTER DEFAULT PRIVILEGES FOR ROLE "migrator" REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;']);
  });

  it('a grant on some tables only sets no default privilege', () => {
    const some = policy({
      roles: { migrator: { login: true }, app: { grants: [{ on: 'tables', schema: 'public', objects: ['ledger*'], privileges: ['SELECT'] }] } },
    });
    expect(fixesOf({}, some)).toEqual([]);
  });
});

describe('uncoveredTables', () => {
  it('tables of managed schemas that no role other than the owner may read', () => {
    const p = policy({
      roles: {
        migrator: { login: true, grants: [{ on: 'tables', schema: 'public', privileges: ['SELECT'] }] },
        app: { grants: [{ on: 'tables', schema: 'public', objects: ['ledger*'], privileges: ['SELECT'] }] },
      },
    });
    expect(
      uncoveredTables(p, [
        { schema: 'public', name: 'ledger_x' },
        { schema: 'public', name: 'invoice' },
        { schema: 'other', name: 'x' },
      ]),
    ).toEqual([{ schema: 'public', name: 'invoice' }]);
  });
});
