// `dbops access audit` and `dbops access apply` on a cluster of their own (roles are cluster-wide): each kind of
// drift named with the statement that fixes it, apply converging in one transaction and a second apply
// changing nothing, --dry-run changing nothing, --prune never dropping a role that owns objects, and no
// password in any output.
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../pipeline/core/logger.ts';
import { clusterUrl, createCluster, destroyCluster, startCluster, type Cluster } from '../../pipeline/infra/pg/cluster.ts';
import type { AccessAuditData } from '../../pipeline/commands/access/audit/run.ts';
import type { AccessApplyData } from '../../pipeline/commands/access/apply/run.ts';
import { dbops, testEnv } from '../helpers/cli.ts';
import { queryUrl } from '../helpers/db.ts';
import { tempDir } from '../helpers/migrations.ts';

const POLICY = {
  version: 1,
  owner: 'migrator',
  schemas: ['public'],
  roles: {
    migrator: {
      login: true,
      grants: [
        { on: 'database', privileges: ['CONNECT', 'TEMPORARY'] },
        { on: 'schema', schema: 'public', privileges: ['USAGE', 'CREATE'] },
      ],
    },
    app_rw: {
      login: true,
      connection_limit: 10,
      grants: [
        { on: 'database', privileges: ['CONNECT'] },
        { on: 'schema', schema: 'public', privileges: ['USAGE'] },
        { on: 'tables', schema: 'public', privileges: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'] },
        { on: 'sequences', schema: 'public', privileges: ['USAGE', 'SELECT'] },
        { on: 'functions', schema: 'public', privileges: ['EXECUTE'] },
      ],
    },
    app_ro: { grants: [{ on: 'tables', schema: 'public', objects: ['ledger*'], privileges: ['SELECT'] }] },
    reporting: { login: true, member_of: ['app_ro', 'pg_read_all_stats'] },
  },
  public: { grants: [{ on: 'schema', schema: 'public', privileges: ['USAGE'] }] },
};

const SECRET = 'Acc3ss-Secret-Password-Value';

/** Roles, memberships, ownership and every ACL of the database: what must not change when nothing is applied. */
const STATE = `
SELECT (SELECT json_agg(r ORDER BY r.rolname) FROM (SELECT rolname, rolsuper, rolcanlogin, rolconnlimit FROM pg_roles WHERE rolname !~ '^pg_') r) AS roles,
       (SELECT json_agg(m ORDER BY m) FROM (SELECT roleid::regrole::text || '>' || member::regrole::text AS m FROM pg_auth_members) x) AS members,
       (SELECT json_agg(c ORDER BY c.relname) FROM (SELECT relname, relowner::regrole::text AS owner, relacl::text AS acl FROM pg_class WHERE relnamespace = 'public'::regnamespace) c) AS relations,
       (SELECT json_agg(d ORDER BY d) FROM (SELECT defaclrole::regrole::text || ':' || defaclobjtype::text || ':' || defaclacl::text AS d FROM pg_default_acl) y) AS defaults,
       (SELECT datacl::text FROM pg_database WHERE datname = current_database()) AS database`;

describe('dbops access audit and apply', () => {
  const log = createLogger({ level: 'warn' });
  let cluster: Cluster;
  let admin = '';
  let url = '';
  let policies = '';
  const env = testEnv();
  const sql = (text: string) => queryUrl(url, text);

  const audit = async () => {
    const r = await dbops(['access', 'audit', '--database-url', url, '--policies-dir', policies, '--json', '--reports-dir', join(policies, 'reports')], env);
    return { ...r, data: (JSON.parse(r.stdout) as { data: AccessAuditData }).data };
  };
  const apply = async (...extra: string[]) => {
    const r = await dbops(
      ['access', 'apply', '--database-url', url, '--policies-dir', policies, '--json', '--reports-dir', join(policies, 'reports'), ...extra],
      env,
    );
    return { ...r, data: (JSON.parse(r.stdout) as { data: AccessApplyData }).data };
  };

  beforeAll(async () => {
    const home = await tempDir('dbops-access-');
    await chmod(home, 0o755);
    cluster = await createCluster({ dir: join(home, 'cluster'), log, settings: { fsync: 'off' } });
    await startCluster(cluster, log);
    admin = clusterUrl(cluster, 'postgres');
    await queryUrl(admin, 'CREATE DATABASE ledger');
    url = clusterUrl(cluster, 'ledger');
    policies = join(home, 'policies');
    await mkdir(policies, { recursive: true });
    await writeFile(join(policies, 'access.yaml'), JSON.stringify(POLICY));
    // The database as a careless history left it: objects owned by the superuser, PUBLIC reading a table, an
    // undeclared superuser, a SECURITY DEFINER function with no search_path, app_ro never created.
    await queryUrl(
      admin,
      `CREATE ROLE migrator LOGIN; CREATE ROLE app_rw LOGIN PASSWORD '${SECRET}'; CREATE ROLE reporting LOGIN; CREATE ROLE intruder SUPERUSER LOGIN`,
    );
    await sql(`CREATE TABLE ledger_entry (id bigserial PRIMARY KEY, amount numeric NOT NULL);
               CREATE TABLE audit_note (id int PRIMARY KEY);
               ALTER TABLE audit_note OWNER TO migrator;
               GRANT SELECT ON ledger_entry TO PUBLIC;
               CREATE FUNCTION ledger_total() RETURNS numeric LANGUAGE sql SECURITY DEFINER AS $$ SELECT sum(amount) FROM ledger_entry $$;
               ALTER FUNCTION ledger_total() OWNER TO migrator;`);
  }, 60_000);
  afterAll(async () => {
    if (cluster) await destroyCluster(cluster, log);
  });

  it('audit: every drift named with its severity and the statement that fixes it; exit 1', async () => {
    const { code, data, stdout, stderr } = await audit();
    expect(code, stderr).toBe(1);
    const of = (kind: string) => data.findings.filter((f) => f.kind === kind);
    const fixes = (kind: string) => of(kind).flatMap((f) => f.fix);

    expect(of('missing-role').map((f) => f.subject)).toEqual(['app_ro']);
    expect(fixes('missing-role')).toEqual(['CREATE ROLE "app_ro" WITH NOLOGIN INHERIT;']);
    expect(of('undeclared-role')).toEqual([
      expect.objectContaining({
        subject: 'intruder',
        severity: 'error',
        prune: true,
        fix: ['DROP ROLE "intruder";'],
        message: expect.stringContaining('has SUPERUSER'),
      }),
    ]);
    // PUBLIC reading a table is an error; PostgreSQL's own defaults for PUBLIC, undeclared, are warnings.
    expect(of('public-grant').map((f) => [f.subject, f.severity, f.fix])).toEqual([
      ['PUBLIC → "public"."ledger_entry"', 'error', ['REVOKE SELECT ON TABLE "public"."ledger_entry" FROM PUBLIC;']],
      ['PUBLIC → "ledger"', 'warning', ['REVOKE TEMPORARY, CONNECT ON DATABASE "ledger" FROM PUBLIC;']],
      ['PUBLIC → "public"."ledger_total"()', 'warning', ['REVOKE EXECUTE ON FUNCTION "public"."ledger_total"() FROM PUBLIC;']],
    ]);
    expect(fixes('owner')).toContain('ALTER TABLE "public"."ledger_entry" OWNER TO "migrator";');
    // Its serial's sequence follows the table: named, no statement of its own.
    expect(of('owner').find((f) => f.subject === '"public"."ledger_entry_id_seq"')).toMatchObject({
      fix: [],
      message: expect.stringContaining('follows its table'),
    });
    expect(of('security-definer')).toEqual([
      expect.objectContaining({ subject: '"public"."ledger_total"()', fix: ['ALTER FUNCTION "public"."ledger_total"() SET search_path = "public", pg_temp;'] }),
    ]);
    expect(fixes('default-privilege')).toEqual(
      expect.arrayContaining([
        'ALTER DEFAULT PRIVILEGES FOR ROLE "migrator" IN SCHEMA "public" GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "app_rw";',
        'ALTER DEFAULT PRIVILEGES FOR ROLE "migrator" REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;',
      ]),
    );
    expect(of('role-attribute')).toEqual([expect.objectContaining({ subject: 'app_rw', fix: ['ALTER ROLE "app_rw" WITH CONNECTION LIMIT 10;'] })]);
    expect(of('membership').map((f) => f.fix[0])).toEqual(
      expect.arrayContaining(['GRANT "app_ro" TO "reporting";', 'GRANT "pg_read_all_stats" TO "reporting";']),
    );
    expect(fixes('privilege')).toContain('GRANT SELECT ON TABLE "public"."ledger_entry" TO "app_ro";');
    // audit_note is not ledger*: app_ro gets nothing there.
    expect(fixes('privilege').some((s) => s.includes('audit_note') && s.includes('app_ro'))).toBe(false);
    // The bootstrap superuser is shown, never drift.
    expect(data.roles.find((r) => r.status === 'bootstrap')?.attributes).toContain('superuser');
    expect(data.findings.some((f) => f.subject === data.roles.find((r) => r.status === 'bootstrap')!.name)).toBe(false);
    expect(stdout).not.toContain(SECRET);
  });

  it('--dry-run prints the statements and changes nothing', async () => {
    const before = await sql(STATE);
    const { code, data } = await apply('--dry-run');
    expect(code).toBe(0);
    expect(data.applied).toBe(false);
    expect(data.statements).toContain('CREATE ROLE "app_ro" WITH NOLOGIN INHERIT;');
    expect(data.statements.some((s) => s.includes('intruder'))).toBe(false);
    expect(await sql(STATE)).toEqual(before);
  });

  it('apply converges in one transaction, leaves the undeclared role alone without --prune; a second apply changes nothing', async () => {
    const first = await apply();
    expect(first.code, first.stderr).toBe(0);
    expect(first.data.applied).toBe(true);
    expect(first.data.remaining).toEqual([]);
    expect(first.data.after?.findings.map((f) => f.subject)).toEqual(['intruder']);
    const [{ owner, acl }] = (await sql("SELECT relowner::regrole::text AS owner, relacl::text AS acl FROM pg_class WHERE relname = 'ledger_entry'")) as [
      { owner: string; acl: string },
    ];
    expect(owner).toBe('migrator');
    expect(acl).not.toMatch(/(^|[{,])=/); // nothing for PUBLIC
    expect(acl).toContain('app_rw=arwd/');
    // The next migration's table is covered by the default privileges.
    await queryUrl(admin.replace(/\/postgres$/, '/ledger'), 'SET ROLE migrator; CREATE TABLE note_archive (id int)');
    expect(
      await sql("SELECT has_table_privilege('app_rw', 'note_archive', 'INSERT') AS rw, has_table_privilege('app_ro', 'note_archive', 'SELECT') AS ro"),
    ).toEqual([{ rw: true, ro: false }]);

    const before = await sql(STATE);
    const second = await apply();
    expect(second.code).toBe(0);
    expect(second.data.statements).toEqual([]);
    expect(await sql(STATE)).toEqual(before);
    const again = await audit();
    expect(again.data.findings.map((f) => f.kind)).toEqual(['undeclared-role']);
  });

  it('--prune drops an undeclared role that owns nothing, never one that owns objects', async () => {
    await queryUrl(admin, 'CREATE ROLE squatter LOGIN');
    await sql('CREATE TABLE squat (id int); ALTER TABLE squat OWNER TO squatter');
    const pruned = await apply('--prune');
    expect(pruned.code, pruned.stdout + pruned.stderr).toBe(0);
    const roles = (await queryUrl<{ rolname: string }>(admin, "SELECT rolname FROM pg_roles WHERE rolname IN ('intruder', 'squatter') ORDER BY 1")).map(
      (r) => r.rolname,
    );
    expect(roles).toEqual(['squatter']);
    const squatter = pruned.data.before.findings.find((f) => f.kind === 'undeclared-role' && f.subject === 'squatter')!;
    expect(squatter.message).toContain('it owns 1 object(s) ("public"."squat"), so it is never dropped');
    expect(squatter.fix).toEqual([]);
    // Its table was given to the owner; the role itself waits for the next --prune, which the audit names.
    expect(await sql("SELECT relowner::regrole::text AS owner FROM pg_class WHERE relname = 'squat'")).toEqual([{ owner: 'migrator' }]);
    expect(pruned.data.after?.findings.find((f) => f.subject === 'squatter')?.fix).toEqual(['DROP ROLE "squatter";']);
  });

  it('no password in any output or report', async () => {
    const human = await dbops(['access', 'audit', '--database-url', url, '--policies-dir', policies, '--reports-dir', join(policies, 'reports')], env);
    const report = await readFile(join(policies, 'reports', 'access-audit.json'), 'utf8');
    for (const text of [human.stdout, human.stderr, report]) {
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(cluster.state.password);
    }
  });
});
