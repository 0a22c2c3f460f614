// `dbops settings check|apply` against a cluster of its own (apply reloads the server): drift with its fix,
// convergence after a reload, a setting that needs a restart named and not applied, a value
// postgresql.auto.conf sets, and a value PostgreSQL would reject refused before anything is written.
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../pipeline/core/logger.ts';
import { clusterUrl, createCluster, destroyCluster, startCluster, type Cluster } from '../../pipeline/infra/pg/cluster.ts';
import type { SettingsCheckData } from '../../pipeline/operations/settings/index.ts';
import type { SettingsApplyResult } from '../../pipeline/commands/settings/apply/run.ts';
import { deployFixture } from '../helpers/environments.ts';
import { dbops, testEnv } from '../helpers/cli.ts';
import { queryUrl } from '../helpers/db.ts';
import { tempDir } from '../helpers/migrations.ts';

const POLICY = `version: 1
settings:
  work_mem: 8MB
  log_min_duration_statement: 500ms
  log_lock_waits: on
shared_preload_libraries: [pg_stat_statements]
environments:
  local:
    # shared_buffers 25 % = 128MB, PostgreSQL's default; max_connections 50 needs a restart.
    resources: { memory: 512MB, cores: 2, storage: ssd, connections: 50 }
`;

describe('dbops settings', () => {
  const log = createLogger({ level: 'warn' });
  let cluster: Cluster;
  let url = '';
  let policies = '';
  const env = testEnv();
  const sql = (text: string) => queryUrl(url, text);
  const check = async (dir = policies) => {
    const r = await dbops(['settings', 'check', '--database-url', url, '--policies-dir', dir, '--json', '--reports-dir', join(dir, 'reports')], env);
    return { ...r, result: JSON.parse(r.stdout) as { verdict: string; data: SettingsCheckData } };
  };
  const apply = async (dir = policies, json = true) => {
    const r = await dbops(['settings', 'apply', '--database-url', url, '--policies-dir', dir, ...(json ? ['--json'] : [])], env);
    return { ...r, result: json && r.stdout ? (JSON.parse(r.stdout) as { verdict: string; data: SettingsApplyResult }) : undefined };
  };
  const byName = (checks: SettingsCheckData['checks']) => Object.fromEntries(checks.map((c) => [c.name, c]));

  beforeAll(async () => {
    const home = await tempDir('dbops-settings-');
    await chmod(home, 0o755);
    cluster = await createCluster({ dir: join(home, 'cluster'), log, settings: { fsync: 'off' } });
    await startCluster(cluster, log);
    url = clusterUrl(cluster, 'postgres');
    policies = join(home, 'policies');
    await import('node:fs/promises').then((fs) => fs.mkdir(policies, { recursive: true }));
    await writeFile(join(policies, 'postgresql.yaml'), POLICY);
  });
  afterAll(async () => {
    if (cluster) await destroyCluster(cluster, log);
  });

  it('check: a declared work_mem the server does not run is drift with its fix, every value with its source; exit 1', async () => {
    const { code, result, stderr } = await check();
    expect(code, stderr).toBe(1);
    const by = byName(result.data.checks);
    expect(by['work_mem']).toMatchObject({
      status: 'drift',
      value: '8MB',
      server: '4MB',
      fix: '`dbops settings apply`',
      source: 'policies/postgresql.yaml settings',
    });
    expect(by['work_mem']!.advice?.rule).toContain('(memory − shared_buffers)');
    expect(by['shared_buffers']).toMatchObject({ status: 'ok', value: '128MB', source: 'advice: 25 % of memory (512MB)' });
    expect(by['max_connections']).toMatchObject({ status: 'drift', restart: true, fix: '`dbops settings apply`, then restart PostgreSQL' });
    expect(by['shared_preload_libraries']?.status).toBe('ok');
    // The report file the weekly workflow uploads.
    const report = JSON.parse(await readFile(join(policies, 'reports', 'settings-check.json'), 'utf8'));
    expect(report.data.checks.length).toBe(result.data.checks.length);
  });

  let restartOnly: string[] = [];
  it('apply: writes dbops-settings.conf, reloads, and converges; max_connections is named for a restart, not applied', async () => {
    const started = (await sql('SELECT pg_postmaster_start_time()::text AS t'))[0]!['t'];
    const { code, result, stderr } = await apply();
    expect(code, stderr).toBe(0);
    expect(result!.verdict).toBe('warn');
    expect(result!.data.apply!.actions).toEqual(
      expect.arrayContaining([expect.stringMatching(/^wrote .*dbops-settings\.conf$/), 'reloaded the server configuration']),
    );
    // Exactly the settings that drifted and need a restart (max_connections; wal_buffers too, whose advice differs from the server's automatic value).
    restartOnly = result!.data.apply!.before.checks.filter((c) => c.status === 'drift' && c.restart).map((c) => c.name);
    expect(restartOnly).toContain('max_connections');
    expect([...result!.data.apply!.needsRestart].sort()).toEqual(restartOnly.sort());
    // A new session sees the reloaded values; the server was not restarted.
    expect((await sql('SHOW work_mem'))[0]).toEqual({ work_mem: '8MB' });
    expect((await sql('SHOW log_min_duration_statement'))[0]).toEqual({ log_min_duration_statement: '500ms' });
    expect((await sql('SHOW max_connections'))[0]).toEqual({ max_connections: '100' });
    expect((await sql('SELECT pg_postmaster_start_time()::text AS t'))[0]!['t']).toBe(started);
    const conf = await readFile(join(cluster.dataDir, 'postgresql.conf'), 'utf8');
    expect(conf.match(/include_if_exists = 'dbops-settings.conf'/g)).toHaveLength(1);

    const again = await check();
    expect(again.code, again.stderr).toBe(0);
    expect(again.result.verdict).toBe('warn');
    const by = byName(again.result.data.checks);
    expect(by['work_mem']?.status).toBe('ok');
    expect(by['max_connections']).toMatchObject({ status: 'pending-restart', fix: 'restart PostgreSQL' });
    expect(again.result.data.counts).toMatchObject({ drift: 0, 'pending-restart': restartOnly.length });

    // Once more: nothing to write, still no restart.
    const twice = await apply();
    expect(twice.result!.data.apply!.actions).toEqual([]);
  });

  it('a value postgresql.auto.conf sets wins over the include file: drift naming ALTER SYSTEM RESET, and apply fails', async () => {
    await sql(`ALTER SYSTEM SET work_mem = '1MB'`);
    await sql('SELECT pg_reload_conf()');
    try {
      const c = await check();
      const work = byName(c.result.data.checks)['work_mem']!;
      expect(work.status).toBe('drift');
      expect(work.problem).toMatch(/set by .*postgresql\.auto\.conf:\d+/);
      expect(work.fix).toBe('ALTER SYSTEM RESET work_mem; then `dbops settings apply`');
      const a = await apply(policies, false);
      expect(a.code, a.stdout).toBe(1);
      expect(a.stdout).toContain('ALTER SYSTEM RESET work_mem');
    } finally {
      await sql('ALTER SYSTEM RESET work_mem');
      await sql('SELECT pg_reload_conf()');
    }
  });

  it('a value PostgreSQL would reject is refused before anything is written (exit 2)', async () => {
    const bad = await tempDir('dbops-settings-bad-');
    await writeFile(join(bad, 'postgresql.yaml'), POLICY.replace('work_mem: 8MB', 'work_mem: lots'));
    const file = join(cluster.dataDir, 'dbops-settings.conf');
    const before = await readFile(file, 'utf8');
    const r = await apply(bad, false);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("work_mem = 'lots'");
    expect(r.stderr).toContain('Nothing was written');
    expect(await readFile(file, 'utf8')).toBe(before);
  });

  describe('on an environment: through the gate, with evidence', () => {
    const production = (windows: Record<string, unknown>) => ({
      prod: { database_url_env: 'PROD_DATABASE_URL', approvals: 1, four_eyes: true, break_glass: true, windows },
    });
    const always = { zone: 'UTC', open: [] };
    // A window that is never open now: the minute that has just passed, on today's weekday.
    const closed = () => {
      const past = new Date(Date.now() - 120_000);
      const hhmm = (d: Date) => d.toISOString().slice(11, 16);
      const day = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'][past.getUTCDay()];
      return { zone: 'UTC', open: [{ days: [day], from: hhmm(past), to: hhmm(new Date(past.getTime() + 60_000)) }], outside_window: { allowed: false } };
    };
    const fixture = async (windows: Record<string, unknown>, workMem: string) => {
      const f = await deployFixture({ urls: { prod: url } });
      await f.writeEnvironments(production(windows));
      await writeFile(join(f.policiesDir, 'postgresql.yaml'), POLICY.replace('work_mem: 8MB', `work_mem: ${workMem}`).replace('  local:', '  prod:'));
      return f;
    };
    const applyOn = (f: Awaited<ReturnType<typeof fixture>>, ...extra: string[]) =>
      dbops(['settings', 'apply', '--environment', 'prod', '--policies-dir', f.policiesDir, '--json', ...extra], f.env);
    const bundles = async (dir: string) =>
      (await import('node:fs/promises').then((fs) => fs.readdir(join(dir, 'evidence', 'prod')).catch(() => [] as string[]))).filter((n) =>
        n.endsWith('-settings.json'),
      );

    it('outside GitHub Actions an environment that needs an approval refuses: nothing written, a refused bundle', async () => {
      const f = await fixture(always, '12MB');
      const r = await applyOn(f);
      expect(r.code, r.stderr).toBe(1);
      const out = JSON.parse(r.stdout) as { data: SettingsApplyResult; findings: Array<{ rule: string }> };
      expect(out.data.gate?.decision).toBe('refused');
      expect(out.findings.map((x) => x.rule)).toContain('gate/approval/not-in-actions');
      expect(out.data.apply).toBeNull();
      expect((await sql('SHOW work_mem'))[0]).toEqual({ work_mem: '8MB' });
      const [name] = await bundles(f.storageDir);
      const bundle = JSON.parse(await readFile(join(f.storageDir, 'evidence', 'prod', name!), 'utf8'));
      expect(bundle.kind).toBe('settings');
      expect(bundle.settings).toMatchObject({ outcome: 'refused', decision: 'refused' });
      expect(bundle.settings.changes.find((c: { name: string }) => c.name === 'work_mem')).toMatchObject({ wanted: '12MB', before: '8MB', after: null });
    });

    it('--break-glass applies, recorded in the bundle with each setting before and after; a closed window still refuses', async () => {
      const f = await fixture(always, '12MB');
      const r = await applyOn(f, '--break-glass', 'INC-1: sorts spill to disk');
      expect(r.code, r.stderr).toBe(0);
      expect((await sql('SHOW work_mem'))[0]).toEqual({ work_mem: '12MB' });
      const [name] = await bundles(f.storageDir);
      const bundle = JSON.parse(await readFile(join(f.storageDir, 'evidence', 'prod', name!), 'utf8'));
      expect(bundle.breakGlass.reason).toBe('INC-1: sorts spill to disk');
      expect(bundle.settings.outcome).toBe('applied');
      expect(bundle.settings.policy.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(bundle.settings.changes.find((c: { name: string }) => c.name === 'work_mem')).toMatchObject({ before: '8MB', after: '12MB', status: 'ok' });
      const md = await readFile(join(f.storageDir, 'evidence', 'prod', name!.replace(/\.json$/, '.md')), 'utf8');
      expect(md).toContain('## Server settings change');
      expect(md).toMatch(/\|\s*work\\?_mem\s*\|\s*12MB\s*\|\s*8MB\s*\|\s*12MB\s*\|\s*ok\s*\|/);
      const verify = await dbops(['evidence', 'verify', '--environment', 'prod', '--policies-dir', f.policiesDir], f.env);
      expect(verify.code, verify.stdout + verify.stderr).toBe(0);

      const shut = await fixture(closed(), '16MB');
      const again = await applyOn(shut, '--break-glass', 'INC-2');
      expect(again.code).toBe(1);
      expect(JSON.parse(again.stdout).findings.map((x: { rule: string }) => x.rule)).toContain('gate/window/closed');
      expect((await sql('SHOW work_mem'))[0]).toEqual({ work_mem: '12MB' });
    });
  });
});
