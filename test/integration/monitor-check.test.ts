// `dbops monitor check` against a cluster of its own (max_connections 20, data checksums, the logging
// collector on): connections opened to 80 % then 95 % of what clients may open give a warning then a
// critical naming connections; a session idle in a transaction is named by pid; a page corrupted on disk
// gives a critical naming the relation; a stopped server is the availability check failing (exit 1, not
// an environment error); a bare --database-url lists the environment's checks as not configured.
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createLogger } from '../../pipeline/core/logger.ts';
import { startCluster, stopCluster } from '../../pipeline/infra/pg/cluster.ts';
import type { MonitorCheckData } from '../../pipeline/operations/monitoring/index.ts';
import { startAuditCluster, type AuditCluster } from '../helpers/audit-cluster.ts';
import { dbops, testEnv } from '../helpers/cli.ts';
import { queryUrl } from '../helpers/db.ts';
import { tempDir } from '../helpers/migrations.ts';
import { createDatabase } from '../helpers/db.ts';
import { deployFixture } from '../helpers/environments.ts';
import { recordVerification } from '../../pipeline/protection/backup/catalog.ts';
import { openTargets } from '../../pipeline/infra/storage/open.ts';
import { BackupsPolicy } from '../../pipeline/policy/backups.ts';
import { readFileSync } from 'node:fs';

let server: AuditCluster;
let url: string;
let policiesDir: string;
let reportsDir: string;
const clients: pg.Client[] = [];
const log = createLogger({ level: 'warn' });

async function check(): Promise<{ code: number; all: string; data: MonitorCheckData }> {
  const run = await dbops(['monitor', 'check', '--database-url', url, '--policies-dir', policiesDir, '--reports-dir', reportsDir, '--json'], testEnv());
  return { code: run.code, all: run.all, data: (JSON.parse(run.stdout) as { data: MonitorCheckData }).data };
}
const of = (d: MonitorCheckData, name: string) => d.checks.find((c) => c.check === name)!;

async function openClients(n: number): Promise<void> {
  while (clients.length < n) {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    clients.push(c);
  }
}
async function closeClients(): Promise<void> {
  await Promise.all(clients.splice(0).map((c) => c.end().catch(() => undefined)));
}

beforeAll(async () => {
  server = await startAuditCluster('monitor', { max_connections: 20, shared_preload_libraries: "''" });
  url = server.url('postgres');
  const dir = await tempDir('dbops-monitor-');
  policiesDir = join(dir, 'policies');
  reportsDir = join(dir, 'reports');
  mkdirSync(policiesDir);
  writeFileSync(
    join(policiesDir, 'monitoring.yaml'), // The host's CPU and memory depend on what else this machine runs: judged in the unit tests, not here.
    YAML.stringify({ version: 1, checks: { idle_in_transaction: { warning: '1s', critical: '1h' }, cpu: { enabled: false }, memory: { enabled: false } } }),
  );
}, 60_000);

afterAll(async () => {
  await closeClients();
  await server?.stop();
});

describe('dbops monitor check', () => {
  it('lists every check; the environment’s are not configured with a bare --database-url', async () => {
    const { code, data, all } = await check();
    expect(code, all).toBe(0);
    expect(of(data, 'availability').status).toBe('ok');
    expect(of(data, 'connections')).toMatchObject({ status: 'ok', unit: 'percent' });
    for (const name of ['backup_age', 'restore_test', 'pitr', 'slow_queries', 'security_events', 'database_size'])
      expect(of(data, name).status, name).toBe('not-configured');
    expect(data.load.xacts).toBeGreaterThan(0);
  });

  it('warns at 80 % of the connections clients may open and is critical at 95 %', async () => {
    // max_connections 20 − 3 reserved for superusers = 17 for clients; dbops' own session is not counted.
    await openClients(14);
    const warning = await check();
    expect(of(warning.data, 'connections')).toMatchObject({ status: 'warning' });
    expect(of(warning.data, 'connections').summary).toContain('14 of 17 client connections');
    expect(warning.code).toBe(0);
    await openClients(16);
    const critical = await check();
    expect(of(critical.data, 'connections').status).toBe('critical');
    expect(critical.code).toBe(1);
    expect(critical.all).toContain('connections');
    await closeClients();
  });

  it('names a session idle in a transaction by its pid', async () => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await c.query('BEGIN');
      const pid = (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      await new Promise((r) => setTimeout(r, 1300));
      const { data } = await check();
      expect(of(data, 'idle_in_transaction')).toMatchObject({ status: 'warning', subject: expect.stringContaining(`pid ${pid}`) });
      await c.query('ROLLBACK');
      expect(of((await check()).data, 'idle_in_transaction').status).toBe('ok');
    } finally {
      await c.end();
    }
  });

  it('is critical on a checksum failure and names the relation', async () => {
    await queryUrl(
      url,
      `CREATE TABLE ledger_pages (id int, note text); INSERT INTO ledger_pages SELECT g, repeat('x', 100) FROM generate_series(1, 500) g; CHECKPOINT`,
    );
    const [{ path }] = (await queryUrl<{ path: string }>(url, `SELECT pg_relation_filepath('ledger_pages') AS path`)) as [{ path: string }];
    await stopCluster(server.cluster, log);
    // Garbage in the middle of the first page: the stored checksum no longer matches.
    const file = await open(join(server.cluster.dataDir, path), 'r+');
    await file.write(Buffer.alloc(64, 0x5a), 0, 64, 4000);
    await file.close();
    await startCluster(server.cluster, log);
    await expect(queryUrl(url, 'SELECT count(*) FROM ledger_pages')).rejects.toThrow(/invalid page|checksum/);
    const { code, data } = await check();
    expect(code).toBe(1);
    const failure = of(data, 'checksum_failures');
    expect(failure.status).toBe('critical');
    expect(failure.summary).toContain('ledger_pages');
    await queryUrl(url, 'DROP TABLE ledger_pages');
  });

  it('reports an unreachable server as the availability check failing, not as an error', async () => {
    await stopCluster(server.cluster, log);
    try {
      const { code, data, all } = await check();
      expect(code).toBe(1);
      expect(of(data, 'availability').status).toBe('critical');
      expect(of(data, 'connections').status).toBe('unknown');
      expect(all).not.toContain(decodeURIComponent(new URL(url).password));
    } finally {
      await startCluster(server.cluster, log);
    }
  });

  it('with --environment: backup freshness and the newest restore test, from the backup catalog', async () => {
    const db = await createDatabase('monitor_env');
    try {
      const fx = await deployFixture({ urls: { production: db.url }, environments: { production: { approvals: 0 } } });
      await db.query('CREATE TABLE t (id int); INSERT INTO t VALUES (1)');
      const flags = ['--environment', 'production', '--policies-dir', fx.policiesDir, '--reports-dir', fx.reportsDir, '--json'];
      const run = async () => {
        const r = await dbops(['monitor', 'check', ...flags], fx.env);
        return { code: r.code, data: (JSON.parse(r.stdout) as { data: MonitorCheckData }).data };
      };
      const none = await run();
      expect(of(none.data, 'backup_age')).toMatchObject({ status: 'critical' });
      expect(of(none.data, 'backup_age').summary).toContain('no verified backup');

      const created = await dbops(
        ['backup', 'create', '--database-url', db.url, '--policies-dir', fx.policiesDir, '--reports-dir', fx.reportsDir, '--json'],
        fx.env,
      );
      expect(created.code, created.all).toBe(0);
      const id = (JSON.parse(created.stdout) as { data: { manifest: { id: string } } }).data.manifest.id;
      const verified = await dbops(['backup', 'verify', id, '--restore', '--policies-dir', fx.policiesDir, '--reports-dir', fx.reportsDir], fx.env);
      expect(verified.code, verified.all).toBe(0);
      const fresh = await run();
      expect(of(fresh.data, 'backup_age')).toMatchObject({ status: 'ok', subject: id });
      expect(of(fresh.data, 'restore_test')).toMatchObject({ status: 'ok', subject: id });

      // A newer restore test that failed: critical, whatever the age.
      const policy = BackupsPolicy.parse(YAML.parse(readFileSync(join(fx.policiesDir, 'backups.yaml'), 'utf8')));
      await recordVerification(openTargets(policy, fx.env).primary, {
        formatVersion: 1,
        backupId: id,
        target: 'local',
        at: new Date().toISOString(),
        level: 'restore',
        ok: false,
        checks: [{ name: 'restore', ok: false, durationMs: 10, message: 'pg_restore failed' }],
        durationMs: 10,
        dbops: { version: 'test', commit: null },
      } as never);
      const failed = await run();
      expect(failed.code).toBe(1);
      expect(of(failed.data, 'restore_test').status).toBe('critical');
      expect(of(failed.data, 'restore_test').summary).toContain('failed: restore');
    } finally {
      await db.drop();
    }
  }, 120_000);
});
