// Commands that need a session of their own, through a real PgBouncer: refused in transaction mode with the
// direct URL to use, working in session mode and directly. `dbops pool report` reads the admin console.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dbops } from '../helpers/cli.ts';
import { databasePerTest, serverPassword } from '../helpers/db.ts';
import { migrationsFolder } from '../helpers/migrations.ts';
import { startPgBouncer, type PgBouncer } from '../helpers/pgbouncer.ts';
import { waitFor } from '../helpers/wait.ts';
import { deployFixture } from '../helpers/environments.ts';

const fresh = databasePerTest('pooler');
const MIGRATIONS = { '20240101000000_init': 'CREATE TABLE account (id bigint PRIMARY KEY, name text NOT NULL);\n' };

const applied = async (db: { query: (sql: string) => Promise<Array<Record<string, unknown>>> }) =>
  (await db.query(`SELECT to_regclass('public.account') IS NOT NULL AS t, to_regclass('public._prisma_migrations') IS NOT NULL AS m`))[0];

describe('migrate deploy through PgBouncer', () => {
  let transaction: PgBouncer;
  let session: PgBouncer;
  beforeAll(async () => {
    [transaction, session] = await Promise.all([startPgBouncer({ poolMode: 'transaction' }), startPgBouncer({ poolMode: 'session' })]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([transaction?.stop(), session?.stop()]);
  });

  it('is refused in transaction mode with the direct URL to use, and nothing is applied', async () => {
    const db = await fresh();
    const dir = await migrationsFolder(MIGRATIONS);
    const r = await dbops(['migrate', 'deploy', '--database-url', transaction.url(db.name), '--migrations-dir', dir]);
    expect(r.code, r.all).toBe(2);
    expect(r.all).toMatch(/connection pooler in transaction mode/);
    expect(r.all).toMatch(/pg_backend_pid\(\)/);
    expect(r.all).toMatch(/directUrl/);
    expect(r.all).not.toContain(serverPassword());
    expect(await applied(db)).toEqual({ t: false, m: false });
  });

  it('works in session mode', async () => {
    const db = await fresh();
    const dir = await migrationsFolder(MIGRATIONS);
    const r = await dbops(['migrate', 'deploy', '--database-url', session.url(db.name), '--migrations-dir', dir]);
    expect(r.code, r.all).toBe(0);
    expect(r.all).not.toContain(serverPassword());
    expect(await applied(db)).toEqual({ t: true, m: true });
  });

  it('works directly', async () => {
    const db = await fresh();
    const dir = await migrationsFolder(MIGRATIONS);
    const r = await dbops(['migrate', 'deploy', '--database-url', db.url, '--migrations-dir', dir]);
    expect(r.code, r.all).toBe(0);
    expect(await applied(db)).toEqual({ t: true, m: true });
  });

  it('backup create is refused through the transaction pooler too', async () => {
    const db = await fresh();
    const r = await dbops(['backup', 'create', '--database-url', transaction.url(db.name)]);
    expect(r.code, r.all).toBe(2);
    expect(r.all).toMatch(/dbops backup create needs a database session of its own/);
    expect(r.all).not.toContain(serverPassword());
  });
});

describe('pool report', () => {
  const N = 6;
  const SIZE = 2;
  let bouncer: PgBouncer;
  beforeAll(async () => {
    bouncer = await startPgBouncer({ poolMode: 'transaction', defaultPoolSize: SIZE });
  }, 60_000);
  afterAll(async () => {
    await bouncer?.stop();
  });

  it('shows the load of N clients through a small pool and names the undersized pool', async () => {
    const db = await fresh();
    const clients = Array.from({ length: N }, () => new pg.Client({ connectionString: bouncer.url(db.name) }));
    await Promise.all(clients.map((c) => c.connect()));
    const load = Promise.all(clients.map((c) => c.query('SELECT pg_sleep(4)')));
    try {
      const admin = new pg.Client({ connectionString: bouncer.adminUrl });
      await admin.connect();
      try {
        await waitFor(
          'clients waiting in PgBouncer',
          async () => {
            const { rows } = await admin.query('SHOW POOLS');
            const pool = rows.find((r) => r.database === db.name);
            return pool && Number(pool.cl_waiting) === N - SIZE && Number(pool.sv_active) === SIZE;
          },
          10_000,
        );
      } finally {
        await admin.end();
      }
      const r = await dbops(['pool', 'report', '--pgbouncer-url', bouncer.adminUrl, '--database-url', db.url, '--json']);
      expect(r.code, r.all).toBe(0);
      expect(r.all).not.toContain(serverPassword());
      const out = JSON.parse(r.stdout);
      const pool = out.data.pools.find((p: { database: string }) => p.database === db.name);
      expect(pool).toMatchObject({ clWaiting: N - SIZE, svActive: SIZE, size: SIZE, undersized: true, suggested: N, serverPeak: SIZE });
      expect(pool.clActive + pool.clWaiting).toBe(N);
      expect(out.data.config).toMatchObject({ poolMode: 'transaction', defaultPoolSize: SIZE });
      expect(out.data.server.budget).toBe(out.data.server.maxConnections - out.data.server.reserved);
      expect(out.findings).toContainEqual(expect.objectContaining({ rule: 'pool/undersized', message: expect.stringContaining(`pool ${db.name}/`) }));

      const text = await dbops(['pool', 'report', '--pgbouncer-url', bouncer.adminUrl, '--database-url', db.url]);
      expect(text.all).toContain(`${db.name}/`);
      expect(text.all).toMatch(/undersized/);
      expect(text.all).not.toContain(serverPassword());
    } finally {
      await load.catch(() => undefined);
      await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    }
  }, 60_000);
});

describe('a pooler declared in policies/environments.yaml', () => {
  let bouncer: PgBouncer;
  beforeAll(async () => {
    bouncer = await startPgBouncer({ poolMode: 'session' });
  }, 60_000);
  afterAll(async () => {
    await bouncer?.stop();
  });

  it('refuses maintain run for a declared transaction pooler with pooler.direct_url_env, and pool report reads the declared admin console', async () => {
    const db = await fresh();
    const f = await deployFixture({
      urls: { staging: bouncer.url(db.name) },
      environments: { staging: { pooler: { mode: 'transaction', direct_url_env: 'STAGING_DIRECT_URL', admin_url_env: 'STAGING_PGBOUNCER_URL' } } },
      extraEnv: { STAGING_DIRECT_URL: db.url, STAGING_PGBOUNCER_URL: bouncer.adminUrl },
    });
    const maintain = await dbops(['maintain', 'run', '--environment', 'staging', '--policies-dir', f.policiesDir, '--reports-dir', f.reportsDir], f.env);
    expect(maintain.code, maintain.all).toBe(2);
    expect(maintain.all).toMatch(/pooler in transaction mode \(pooler\.mode of environment "staging"/);
    expect(maintain.all).toContain('STAGING_DIRECT_URL');
    expect(maintain.all).not.toContain(serverPassword());

    await db.query('SELECT 1'); // nothing through the pooler yet: connect one client so a pool exists
    const c = new pg.Client({ connectionString: bouncer.url(db.name) });
    await c.connect();
    try {
      const report = await dbops(
        ['pool', 'report', '--environment', 'staging', '--policies-dir', f.policiesDir, '--reports-dir', f.reportsDir, '--json'],
        f.env,
      );
      expect(report.code, report.all).toBe(0);
      expect(report.all).not.toContain(serverPassword());
      const out = JSON.parse(report.stdout);
      expect(out.data.pools.find((p: { database: string }) => p.database === db.name)).toMatchObject({
        clActive: 1,
        clWaiting: 0,
        undersized: false,
        serverPeak: 1,
      });
      expect(out.data.withinBudget).toBe(true);
      expect(out.findings).toEqual([]);
    } finally {
      await c.end();
    }
  }, 60_000);
});
