// `dbops maintain run` on a real database: a bloated table and index are vacuumed and rebuilt (proven by the
// statistics counters and the index's size), a _ccnew leftover is dropped, a role that does not own the tables is
// refused before anything runs, a long-open transaction makes the rebuild skip (naming it) while VACUUM still
// runs, and a held deploy lock is waited for.
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireOperationLock, releaseOperationLock } from '../../pipeline/infra/db/locks.ts';
import type { Finding } from '../../pipeline/core/result.ts';
import type { MaintenanceRun } from '../../pipeline/operations/maintenance/index.ts';
import { dbops, testEnv } from '../helpers/cli.ts';
import { adminUrl, createDatabase, queryUrl, type TestDb } from '../helpers/db.ts';
import { tempDir } from '../helpers/migrations.ts';
import { cancelledReindex, openTransaction } from '../helpers/maintenance.ts';

/** 200,000 rows, half of them updated twice, then nine in ten deleted, with autovacuum off: nothing cleans up. */
const BLOAT = `
CREATE EXTENSION pgstattuple;
CREATE TABLE bloat (id int PRIMARY KEY, v int NOT NULL, pad text NOT NULL) WITH (autovacuum_enabled = off);
INSERT INTO bloat SELECT g, 0, repeat('x', 40) FROM generate_series(1, 200000) g;
UPDATE bloat SET v = v + 1 WHERE id % 2 = 0;
UPDATE bloat SET v = v + 1 WHERE id % 2 = 0;
DELETE FROM bloat WHERE id % 10 <> 0;
CREATE TABLE other (id int PRIMARY KEY);`;

const COUNTS = `SELECT relname, vacuum_count::int, analyze_count::int FROM pg_stat_user_tables WHERE relname = 'bloat'`;
const SIZE = `SELECT pg_relation_size('bloat_pkey')::float8 AS bytes`;

async function maintainRun(url: string, policies: string, extra: string[] = []) {
  const out = await dbops(['maintain', 'run', '--database-url', url, '--policies-dir', policies, '--json', ...extra], testEnv());
  return { ...out, result: out.stdout ? (JSON.parse(out.stdout) as { verdict: string; findings: Finding[]; data: MaintenanceRun }) : undefined };
}

describe('dbops maintain run', () => {
  let policies: string;
  let main: TestDb;
  let refused: TestDb;
  let longTx: TestDb;
  let waiting: TestDb;
  let scoped: TestDb;
  const role = `maint_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');

  beforeAll(async () => {
    policies = await tempDir('dbops-maintain-run-');
    await mkdir(policies, { recursive: true });
    // The test's index is ~10 MB at most; a transaction is "long" after 1 s; lock waits are short.
    await writeFile(join(policies, 'maintenance.yaml'), 'version: 1\nindexes:\n  min_size: 1MB\nlong_transaction: 1s\nlock_timeout: 2s\nretries: 1\n');
    [main, refused, longTx, waiting, scoped] = await Promise.all([
      createDatabase('maintain-run'),
      createDatabase('maintain-run-refused'),
      createDatabase('maintain-run-longtx'),
      createDatabase('maintain-run-wait'),
      createDatabase('maintain-run-only'),
    ]);
    await Promise.all([main, refused, longTx, scoped].map((db) => db.query(BLOAT)));
    await waiting.query('CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 10000)');

    // The _ccnew leftover of a REINDEX CONCURRENTLY cancelled while a transaction held it up.
    await main.query(`CREATE TABLE acct (id int PRIMARY KEY, code text NOT NULL);
                      INSERT INTO acct SELECT g, 'A' || g FROM generate_series(1, 10000) g;
                      CREATE INDEX acct_code_idx ON acct (code); ANALYZE acct;`);
    const holder = await openTransaction(main.url, 'maintain-run-test-holder', 'other');
    try {
      expect(await cancelledReindex(main.url, 'acct_code_idx')).toMatchObject({ code: '57014' });
    } finally {
      await holder.client.end();
    }
    expect(await main.query("SELECT count(*)::int AS n FROM pg_class WHERE relname = 'acct_code_idx_ccnew'")).toEqual([{ n: 1 }]);

    await queryUrl(adminUrl(), `CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
    await refused.query(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}`);
  });

  afterAll(async () => {
    await Promise.all([main, refused, longTx, waiting, scoped].map((db) => db?.drop()));
    await queryUrl(adminUrl(), `DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
  });

  it('vacuums and analyzes the table, rebuilds the index smaller, drops the _ccnew leftover, and proves each', async () => {
    const countsBefore = (await main.query<{ vacuum_count: number; analyze_count: number }>(COUNTS))[0]!;
    const sizeBefore = (await main.query<{ bytes: number }>(SIZE))[0]!.bytes;

    const { code, result, stderr } = await maintainRun(main.url, policies);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const r = result!.data;
    expect(r.counts.failed).toBe(0);

    const vacuum = r.outcomes.find((o) => o.kind === 'vacuum-analyze' && o.target === 'public.bloat')!;
    expect(vacuum.status).toBe('ok');
    expect(vacuum.after['vacuum_count']).toBeGreaterThan(vacuum.before['vacuum_count'] as number);

    const rebuilt = r.outcomes.find((o) => o.kind === 'reindex' && o.target === 'public.bloat_pkey')!;
    expect(rebuilt).toMatchObject({ status: 'ok', attempts: 1 });
    expect(rebuilt.before['bytes']).toBe(sizeBefore);
    expect(rebuilt.after['bytes']).toBeLessThan(sizeBefore);
    expect(rebuilt.reclaimedBytes).toBe(sizeBefore - (rebuilt.after['bytes'] as number));

    const dropped = r.outcomes.find((o) => o.kind === 'drop-invalid')!;
    expect(dropped).toMatchObject({ status: 'ok', target: 'public.acct_code_idx_ccnew' });
    expect(dropped.reclaimedBytes).toBeGreaterThan(0);
    expect(r.reclaimedBytes).toBe(r.outcomes.reduce((n, o) => n + o.reclaimedBytes, 0));

    // Order: tables first, then the rebuild, then the drops.
    const kinds = r.outcomes.map((o) => o.kind);
    expect(kinds.indexOf('reindex')).toBeGreaterThan(kinds.lastIndexOf('vacuum-analyze'));
    expect(kinds.indexOf('drop-invalid')).toBeGreaterThan(kinds.lastIndexOf('reindex'));

    // Seen from another session, not only by dbops' own account.
    const sizeAfter = (await main.query<{ bytes: number }>(SIZE))[0]!.bytes;
    expect(sizeAfter).toBeLessThan(sizeBefore);
    const countsAfter = (await main.query<{ vacuum_count: number; analyze_count: number }>(COUNTS))[0]!;
    expect(countsAfter.vacuum_count).toBeGreaterThan(countsBefore.vacuum_count);
    expect(countsAfter.analyze_count).toBeGreaterThan(countsBefore.analyze_count);
    expect(await main.query("SELECT relname FROM pg_class WHERE relname LIKE '%\\_cc%'")).toEqual([]);
    expect(await main.query('SELECT count(*)::int AS n FROM pg_index WHERE NOT indisvalid')).toEqual([{ n: 0 }]);

    // Nothing left to do afterwards: a second run finds the bloat gone.
    const again = await maintainRun(main.url, policies, ['--dry-run']);
    expect(again.code).toBe(0);
    expect(again.result!.data.plan.actions.filter((a) => a.kind !== 'analyze')).toEqual([]);
  });

  it('--dry-run prints the plan and changes nothing', async () => {
    const before = await refused.query(COUNTS);
    const sizeBefore = await refused.query(SIZE);
    const { code, result } = await maintainRun(refused.url, policies, ['--dry-run']);
    expect(code).toBe(0);
    expect(result!.data.dryRun).toBe(true);
    expect(result!.data.outcomes).toEqual([]);
    expect(result!.data.plan.actions.map((a) => a.kind)).toContain('reindex');
    const text = await dbops(['maintain', 'run', '--database-url', refused.url, '--policies-dir', policies, '--dry-run'], testEnv());
    expect(text.stdout).toContain('Nothing was changed.');
    expect(text.stdout).toContain('REINDEX INDEX CONCURRENTLY "public"."bloat_pkey"');
    expect(await refused.query(COUNTS)).toEqual(before);
    expect(await refused.query(SIZE)).toEqual(sizeBefore);
  });

  it('--only tables vacuums and leaves the index alone; --only indexes then rebuilds it and vacuums nothing', async () => {
    const [sizeBefore] = await scoped.query<{ bytes: number }>(SIZE);
    const tables = await maintainRun(scoped.url, policies, ['--only', 'tables']);
    expect(tables.code).toBe(0);
    expect(tables.result!.data.plan.scope).toBe('tables');
    expect(tables.result!.data.outcomes.map((o) => `${o.status} ${o.kind} ${o.target}`)).toEqual(['ok vacuum-analyze public.bloat']);
    expect(await scoped.query(SIZE)).toEqual([sizeBefore]);
    const [vacuumed] = await scoped.query(COUNTS);
    expect(vacuumed).toMatchObject({ vacuum_count: 1, analyze_count: 1 });

    const indexes = await maintainRun(scoped.url, policies, ['--only', 'indexes']);
    expect(indexes.code).toBe(0);
    expect(indexes.result!.data.outcomes.map((o) => `${o.status} ${o.kind} ${o.target}`)).toEqual(['ok reindex public.bloat_pkey']);
    const [sizeAfter] = await scoped.query<{ bytes: number }>(SIZE);
    expect(sizeAfter!.bytes).toBeLessThan(sizeBefore!.bytes / 2);
    expect(await scoped.query(COUNTS)).toEqual([vacuumed]);
  });

  it('a role that does not own the tables is refused with exit 1 and the fix, before anything runs', async () => {
    const before = await refused.query(COUNTS);
    const sizeBefore = await refused.query(SIZE);
    const u = new URL(refused.url);
    u.username = role;
    u.password = password;
    const { code, stderr, stdout } = await dbops(['maintain', 'run', '--database-url', u.toString(), '--policies-dir', policies], testEnv());
    expect(code).toBe(1);
    expect(stderr).toContain(`the connected role ${role} does not own public.bloat`);
    expect(stderr).toMatch(new RegExp(`GRANT "?\\w+"? TO "${role}"`));
    expect(stdout).not.toContain('[1/');
    // Proven from the statistics: no VACUUM, no ANALYZE, no rebuild.
    await new Promise((r) => setTimeout(r, 500));
    expect(await refused.query(COUNTS)).toEqual(before);
    expect(await refused.query(SIZE)).toEqual(sizeBefore);
  });

  it('a long-open transaction skips the rebuild, naming its session, while VACUUM still runs', async () => {
    const holder = await openTransaction(longTx.url, 'maintain-run-test-long', 'other');
    try {
      await new Promise((r) => setTimeout(r, 1200));
      const sizeBefore = (await longTx.query<{ bytes: number }>(SIZE))[0]!.bytes;
      const { code, result } = await maintainRun(longTx.url, policies);
      expect(code).toBe(0);
      expect(result!.verdict).toBe('warn');
      const r = result!.data;
      expect(r.outcomes.find((o) => o.kind === 'vacuum-analyze' && o.target === 'public.bloat')!.status).toBe('ok');
      const rebuild = r.outcomes.find((o) => o.kind === 'reindex' && o.target === 'public.bloat_pkey')!;
      expect(rebuild).toMatchObject({ status: 'skipped', attempts: 0 });
      expect(rebuild.detail).toContain(`pid ${holder.pid} (user `);
      expect(rebuild.detail).toContain('application maintain-run-test-long');
      // Not started, so nothing left behind and the index untouched.
      expect((await longTx.query<{ bytes: number }>(SIZE))[0]!.bytes).toBe(sizeBefore);
      expect(await longTx.query("SELECT relname FROM pg_class WHERE relname LIKE '%\\_cc%'")).toEqual([]);
    } finally {
      await holder.client.query('ROLLBACK').catch(() => undefined);
      await holder.client.end();
    }
  });

  it('waits for a running deploy (the deploy lock mode) and proceeds once it is released', async () => {
    const deploy = new pg.Client({ connectionString: waiting.url, application_name: 'maintain-run-test-deploy' });
    await deploy.connect();
    try {
      await acquireOperationLock(deploy, 'deploy', { what: 'A test deploy' });
      let finishedAt = 0;
      const running = dbops(['maintain', 'run', '--database-url', waiting.url, '--policies-dir', policies], testEnv()).then((r) => {
        finishedAt = Date.now();
        return r;
      });
      await new Promise((r) => setTimeout(r, 3000));
      expect(finishedAt).toBe(0);
      const releasedAt = Date.now();
      await releaseOperationLock(deploy, 'deploy');
      const { code, stdout } = await running;
      expect(code).toBe(0);
      expect(finishedAt).toBeGreaterThanOrEqual(releasedAt);
      expect(stdout).toMatch(/Waiting for pid \d+ \(maintain-run-test-deploy/);
      // The lock is free again afterwards (released with the run's session).
      await acquireOperationLock(deploy, 'deploy', { what: 'A test deploy' });
    } finally {
      await deploy.end();
    }
  });

  it('a table lock held past lock_timeout and every retry fails the action with exit 1', async () => {
    // Rows changed since the last ANALYZE (of the previous test): ANALYZE is planned again.
    await waiting.query('INSERT INTO t SELECT generate_series(10001, 20000)');
    const locker = new pg.Client({ connectionString: waiting.url });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      // What a VACUUM, an ANALYZE or a CREATE INDEX CONCURRENTLY running elsewhere holds.
      await locker.query('LOCK TABLE t IN SHARE UPDATE EXCLUSIVE MODE');
      const before = await waiting.query("SELECT analyze_count::int FROM pg_stat_user_tables WHERE relname = 't'");
      const { code, result } = await maintainRun(waiting.url, policies);
      expect(code).toBe(1);
      expect(result!.verdict).toBe('fail');
      const analyze = result!.data.outcomes.find((o) => o.target === 'public.t')!;
      // lock_timeout 2s, retries 1: two attempts.
      expect(analyze).toMatchObject({ kind: 'analyze', status: 'failed', attempts: 2 });
      expect(analyze.detail).toContain('lock timeout');
      expect(result!.findings).toContainEqual(expect.objectContaining({ rule: 'maintain/failed', severity: 'error' }));
      expect(await waiting.query("SELECT analyze_count::int FROM pg_stat_user_tables WHERE relname = 't'")).toEqual(before);
    } finally {
      await locker.query('ROLLBACK').catch(() => undefined);
      await locker.end();
    }
  });
});
