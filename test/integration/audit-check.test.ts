// `dbops audit check` against a cluster of its own with pgaudit preloaded (test/helpers/audit-cluster.ts):
// every misconfiguration named with its fix (exit 1), then the same cluster once the fixes are applied (exit 0).
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditCheckData } from '../../pipeline/operations/audit/index.ts';
import { startAuditCluster, type AuditCluster } from '../helpers/audit-cluster.ts';
import { dbops, testEnv } from '../helpers/cli.ts';
import { queryUrl } from '../helpers/db.ts';
import { tempDir } from '../helpers/migrations.ts';

const AUDIT = `version: 1
classes: [role, ddl]
object_audit:
  role: auditor
  tables:
    - { table: Customer }
    - { table: Payment, privileges: [INSERT, UPDATE, DELETE] }
roles:
  migrator: { classes: [all] }
connections: true
log_format: jsonlog
retention: 12mo
`;

describe('dbops audit check', () => {
  let ac: AuditCluster;
  let url = '';
  let policies = '';
  const env = testEnv();
  const sql = (text: string) => queryUrl(url, text);
  const check = async (dir = policies) => {
    const r = await dbops(['audit', 'check', '--database-url', url, '--policies-dir', dir, '--json', '--reports-dir', join(dir, 'reports')], env);
    return {
      ...r,
      result: JSON.parse(r.stdout) as { verdict: string; data: AuditCheckData; findings: Array<{ rule: string; severity: string; message: string }> },
    };
  };
  const byName = (checks: AuditCheckData['checks']) => Object.fromEntries(checks.map((c) => [c.name, c]));

  beforeAll(async () => {
    // pgaudit loaded, but pgaudit.log unset and statement parameters logged.
    ac = await startAuditCluster('check', { 'pgaudit.log_parameter': 'on' });
    url = ac.url('postgres');
    await sql(`CREATE TABLE "Customer" (id int PRIMARY KEY, email text); CREATE TABLE "Payment" (id int PRIMARY KEY, amount numeric);
               CREATE TABLE "Invoice" (id int PRIMARY KEY); CREATE ROLE migrator LOGIN`);
    policies = join(await tempDir('dbops-audit-check-'), 'policies');
    await mkdir(policies, { recursive: true });
    await writeFile(join(policies, 'audit.yaml'), AUDIT);
    // Evidence kept 365 days: shorter than 12 months across a leap day.
    await writeFile(join(policies, 'environments.yaml'), 'version: 1\nevidence:\n  retention: 365d\n');
  });
  afterAll(async () => {
    await ac?.stop();
  });

  it('the helper: pgaudit preloaded, jsonlog files named .json readable in logDir, rotate() makes a new one', async () => {
    expect((await sql('SHOW shared_preload_libraries'))[0]).toEqual({ shared_preload_libraries: 'pg_stat_statements,pgaudit' });
    const before = await ac.logFiles();
    expect(before.length).toBeGreaterThan(0);
    for (const f of before) expect(f).toMatch(/\/postgresql-\d{8}-\d{6}\.json$/);
    expect((await stat(before[0]!)).mode & 0o777).toBe(0o644);
    expect(JSON.parse((await readFile(before[0]!, 'utf8')).split('\n')[0]!)).toHaveProperty('error_severity');
    await ac.rotate();
    const after = await ac.logFiles();
    expect(after.length).toBe(before.length + 1);
    expect((await sql(`SELECT pg_current_logfile('jsonlog') AS f`))[0]!['f']).toBe(after.at(-1));
    // The collector always opens a stderr file too, of the same name with .log (empty unless something writes to stderr).
    expect((await readdir(ac.logDir)).sort()).toEqual(after.flatMap((f) => [f, f.replace(/\.json$/, '.log')]).map((f) => f.slice(ac.logDir.length + 1)));
  });

  it('names every misconfiguration with its fix; exit 1', async () => {
    const { code, result, stderr } = await check();
    expect(code, stderr).toBe(1);
    expect(result.verdict).toBe('fail');
    const by = byName(result.data.checks);
    expect(by['shared_preload_libraries']?.status).toBe('pass');
    expect(by['extension pgaudit']).toMatchObject({ status: 'fail', server: null, fix: 'CREATE EXTENSION pgaudit;' });
    expect(by['pgaudit.log']).toMatchObject({ status: 'fail', server: 'none', wanted: 'role,ddl' });
    expect(by['pgaudit.log']!.fix).toContain('`pgaudit.log: role,ddl` to settings of policies/postgresql.yaml');
    expect(by['pgaudit.log_parameter']).toMatchObject({ status: 'fail', server: 'on', wanted: 'off' });
    expect(by['pgaudit.log_catalog']).toMatchObject({ status: 'warn', server: 'on' });
    expect(by['pgaudit.log_relation']).toMatchObject({ status: 'warn', server: 'off' });
    expect(by['pgaudit.role']).toMatchObject({ status: 'fail', server: null, wanted: 'auditor' });
    expect(by['role auditor']).toMatchObject({ status: 'fail', fix: 'CREATE ROLE "auditor" NOLOGIN;' });
    expect(by['auditor on public.Customer']).toMatchObject({ status: 'fail', server: null, wanted: 'DELETE, INSERT, SELECT, UPDATE' });
    expect(by['auditor on public.Payment']).toMatchObject({ status: 'fail', fix: 'GRANT DELETE, INSERT, UPDATE ON public."Payment" TO "auditor";' });
    expect(by['pgaudit.log of role migrator']).toMatchObject({ status: 'fail', server: null, fix: `ALTER ROLE "migrator" SET pgaudit.log = 'all';` });
    expect(by['log_connections']).toMatchObject({ status: 'fail', server: 'off' });
    expect(by['log_disconnections']).toMatchObject({ status: 'fail', server: 'off' });
    expect(by['logging_collector']?.status).toBe('pass');
    expect(by['log_destination']).toMatchObject({ status: 'pass', server: 'jsonlog' });
    expect(by['evidence retention']).toMatchObject({ status: 'fail', server: '365d', wanted: 'at least 12mo' });
    expect(result.findings.filter((f) => f.severity === 'error').map((f) => f.rule)).toEqual(
      expect.arrayContaining(['audit/extension-pgaudit', 'audit/pgaudit-log', 'audit/pgaudit-log-parameter', 'audit/evidence-retention']),
    );
    // The report file, and the text output with each fix.
    const report = JSON.parse(await readFile(join(policies, 'reports', 'audit-check.json'), 'utf8'));
    expect(report.data.checks.length).toBe(result.data.checks.length);
    const text = await dbops(['audit', 'check', '--database-url', url, '--policies-dir', policies, '--reports-dir', join(policies, 'reports')], env);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain(`fix: ALTER ROLE "migrator" SET pgaudit.log = 'all';`);
    expect(text.stdout).toContain('FAIL  pgaudit.log_parameter: server on, wanted off');
  });

  it('passes once the fixes are applied (a privilege beyond the policy warns); exit 0', async () => {
    await sql(`CREATE EXTENSION pgaudit`);
    for (const [name, value] of Object.entries({
      'pgaudit.log': 'role, ddl',
      'pgaudit.log_parameter': 'off',
      'pgaudit.log_catalog': 'off',
      'pgaudit.log_relation': 'on',
      'pgaudit.role': 'auditor',
      log_connections: 'on',
      log_disconnections: 'on',
    }))
      await sql(`ALTER SYSTEM SET ${name} = '${value}'`);
    await sql('SELECT pg_reload_conf()');
    await sql(`CREATE ROLE auditor NOLOGIN;
               GRANT SELECT, INSERT, UPDATE, DELETE ON "Customer" TO auditor;
               GRANT INSERT, UPDATE, DELETE ON "Payment" TO auditor;
               GRANT SELECT ON "Invoice" TO auditor;
               ALTER ROLE migrator SET pgaudit.log = 'all'`);
    await writeFile(join(policies, 'environments.yaml'), 'version: 1\nevidence:\n  retention: 1y\n');
    const { code, result, stderr } = await check();
    expect(code, stderr).toBe(0);
    expect(result.verdict).toBe('warn');
    const by = byName(result.data.checks);
    expect(result.data.checks.filter((c) => c.status === 'fail')).toEqual([]);
    expect(by['auditor on public.Invoice']).toMatchObject({
      status: 'warn',
      server: 'SELECT',
      fix: expect.stringContaining('REVOKE SELECT ON public."Invoice" FROM "auditor";'),
    });
    expect(by['pgaudit.log']).toMatchObject({ status: 'pass', server: 'role, ddl' });
    expect(by['pgaudit.log of role migrator']).toMatchObject({ status: 'pass', server: 'all' });
    expect(by['evidence retention']).toMatchObject({ status: 'pass', server: '1y' });
    expect(result.data.counts).toEqual({ pass: result.data.checks.length - 1, fail: 0, warn: 1 });

    // The migrator's session sees pgaudit.log = all; the check still reads the server-wide value as that role.
    await sql(`ALTER ROLE migrator PASSWORD 'm1gr4tor' SUPERUSER`);
    const asMigrator = url.replace(/\/\/[^@]+@/, '//migrator:m1gr4tor@');
    expect((await queryUrl(asMigrator, 'SHOW pgaudit.log'))[0]).toEqual({ 'pgaudit.log': 'all' });
    const again = await dbops(['audit', 'check', '--database-url', asMigrator, '--policies-dir', policies, '--json'], env);
    expect(again.code, again.stderr).toBe(0);
    expect(byName((JSON.parse(again.stdout) as { data: AuditCheckData }).data.checks)['pgaudit.log']).toMatchObject({ status: 'pass', server: 'role, ddl' });
  });
});
