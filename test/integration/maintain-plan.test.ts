// `dbops maintain plan` on a real database: a table and its index bloated on purpose, the _ccnew leftover of a
// REINDEX CONCURRENTLY cancelled by statement_timeout, a long-open transaction, the estimate without
// pgstattuple, and proof that planning changed nothing.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MaintenancePlan } from '../../pipeline/operations/maintenance/index.ts';
import { dbops, testEnv } from '../helpers/cli.ts';
import { createDatabase, type TestDb } from '../helpers/db.ts';
import { tempDir } from '../helpers/migrations.ts';

/** 200,000 rows, half of them updated twice, then nine in ten deleted, with autovacuum off: nothing cleans up. */
const BLOAT = `
CREATE TABLE bloat (id int PRIMARY KEY, v int NOT NULL, pad text NOT NULL) WITH (autovacuum_enabled = off);
INSERT INTO bloat SELECT g, 0, repeat('x', 40) FROM generate_series(1, 200000) g;
UPDATE bloat SET v = v + 1 WHERE id % 2 = 0;
UPDATE bloat SET v = v + 1 WHERE id % 2 = 0;
DELETE FROM bloat WHERE id % 10 <> 0;`;

// What planning must leave as it was: the statistics of every table and the pages, files and validity of every relation.
const STATE = `
SELECT c.relname, c.relpages, c.reltuples, c.relfilenode, i.indisvalid,
       s.last_vacuum, s.last_autovacuum, s.last_analyze, s.last_autoanalyze, s.vacuum_count, s.analyze_count
  FROM pg_class c
  LEFT JOIN pg_index i ON i.indexrelid = c.oid
  LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
 WHERE c.relnamespace = 'public'::regnamespace
 ORDER BY c.relname`;

async function plan(db: TestDb, policies: string, json = true) {
  const out = await dbops(['maintain', 'plan', '--database-url', db.url, '--policies-dir', policies, ...(json ? ['--json'] : [])], testEnv());
  return { ...out, plan: json ? (JSON.parse(out.stdout) as { verdict: string; data: MaintenancePlan }) : undefined };
}

describe('dbops maintain plan', () => {
  let policies: string;
  let exact: TestDb;
  let estimated: TestDb;
  let holder: pg.Client;
  let holderPid: number;

  beforeAll(async () => {
    policies = await tempDir('dbops-maintain-');
    await mkdir(policies, { recursive: true });
    // The test's index is ~10 MB at most; a transaction is "long" after 1 s.
    await writeFile(join(policies, 'maintenance.yaml'), 'version: 1\nindexes:\n  min_size: 1MB\nlong_transaction: 1s\n');

    [exact, estimated] = await Promise.all([createDatabase('maintain-exact'), createDatabase('maintain-estimate')]);
    await exact.query('CREATE EXTENSION pgstattuple');
    await exact.query(BLOAT);
    await exact.query(`CREATE TABLE acct (id int PRIMARY KEY, code text NOT NULL) WITH (autovacuum_enabled = off);
                       INSERT INTO acct SELECT g, 'A' || g FROM generate_series(1, 10000) g;
                       CREATE INDEX acct_code_idx ON acct (code);`);

    // A transaction holding a snapshot (on another table): REINDEX CONCURRENTLY waits for it, and is cancelled.
    holder = new pg.Client({ connectionString: exact.url, application_name: 'maintain-test-holder' });
    await holder.connect();
    await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    holderPid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid, count(*) FROM bloat')).rows[0]!.pid;
    const reindex = new pg.Client({ connectionString: exact.url });
    await reindex.connect();
    try {
      await reindex.query("SET statement_timeout = '1s'");
      await expect(reindex.query('REINDEX INDEX CONCURRENTLY acct_code_idx')).rejects.toMatchObject({ code: '57014' });
    } finally {
      await reindex.end();
    }
    expect(
      await exact.query(
        "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname LIKE 'acct_code_idx%' ORDER BY 1",
      ),
    ).toEqual([
      { relname: 'acct_code_idx', indisvalid: true },
      { relname: 'acct_code_idx_ccnew', indisvalid: false },
    ]);

    // Without pgstattuple, the estimate needs the rows ANALYZE counted.
    await estimated.query(BLOAT);
    await estimated.query('ANALYZE bloat');
  });

  afterAll(async () => {
    await holder?.query('ROLLBACK').catch(() => undefined);
    await holder?.end().catch(() => undefined);
    await Promise.all([exact?.drop(), estimated?.drop()]);
  });

  it('names the bloated table and index with their measurements, the _ccnew leftover and the long transaction, and changes nothing', async () => {
    const before = await exact.query(STATE);
    const { code, plan: out } = await plan(exact, policies);
    expect(code).toBe(0);
    const p = out!.data;
    expect(out!.verdict).toBe('warn');
    expect(p.pgstattuple).toBe(true);

    const vacuum = p.actions.find((a) => a.kind === 'vacuum-analyze' && a.target === 'public.bloat')!;
    expect(vacuum).toMatchObject({ method: 'pgstattuple', sql: 'VACUUM (ANALYZE) "public"."bloat"' });
    expect(vacuum.measurement['liveTuples']).toBe(20_000);
    // 180,000 deleted rows and the 200,000 versions the updates left behind.
    expect(vacuum.measurement['deadTuples']).toBeGreaterThanOrEqual(180_000);
    expect(vacuum.measurement['deadRatio']).toBeGreaterThan(0.9);
    // Its gain is the dead bytes pgstattuple still sees (the reads since pruned some pages: that space is free already).
    expect(vacuum.expectedGainBytes).toBe(vacuum.measurement['deadBytes']);
    expect(vacuum.measurement['freeBytes']).toBeGreaterThan(0);

    const bytes = (await exact.query<{ bytes: string }>("SELECT pg_relation_size('bloat_pkey') AS bytes"))[0]!.bytes;
    const reindex = p.actions.find((a) => a.kind === 'reindex' && a.target === 'public.bloat_pkey')!;
    expect(reindex).toMatchObject({ method: 'pgstatindex', table: 'public.bloat', sql: 'REINDEX INDEX CONCURRENTLY "public"."bloat_pkey"' });
    expect(reindex.measurement['bytes']).toBe(Number(bytes));
    // Dense until VACUUM: judged with the table's dead share, most of it goes.
    expect(reindex.measurement['tableDeadRatio']).toBeGreaterThan(0.9);
    expect(reindex.measurement['reclaimableRatio']).toBeGreaterThan(0.8);
    expect(reindex.expectedGainBytes).toBeGreaterThan(Number(bytes) / 2);

    const drop = p.actions.find((a) => a.kind === 'drop-invalid')!;
    expect(drop).toMatchObject({ target: 'public.acct_code_idx_ccnew', sql: 'DROP INDEX CONCURRENTLY IF EXISTS "public"."acct_code_idx_ccnew"' });
    expect(drop.reason).toContain('cancelled REINDEX CONCURRENTLY of public.acct_code_idx');
    expect(p.actions.some((a) => a.target === 'public.acct_code_idx')).toBe(false);

    const long = p.warnings.find((w) => w.kind === 'long-transaction')!;
    expect(long).toMatchObject({ subject: `pid ${holderPid}`, measurement: { pid: holderPid, application: 'maintain-test-holder' } });
    expect(long.message).toMatch(new RegExp(`pid ${holderPid} \\(user \\w+, application maintain-test-holder, idle in transaction\\)`));

    // Largest expected gain first.
    const gains = p.actions.map((a) => a.expectedGainBytes);
    expect(gains).toEqual([...gains].sort((a, b) => b - a));

    expect(await exact.query(STATE)).toEqual(before);
  });

  it('prints a readable table', async () => {
    const { code, stdout } = await plan(exact, policies, false);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^ {2}#\s+ACTION\s+TARGET\s+GAIN\s+MEASURED BY\s+REASON$/m);
    expect(stdout).toMatch(/vacuum-analyze\s+public\.bloat\s/);
    expect(stdout).toMatch(/reindex\s+public\.bloat_pkey\s.*pgstatindex/);
    expect(stdout).toMatch(/drop-invalid\s+public\.acct_code_idx_ccnew\s/);
    expect(stdout).toContain(`long-transaction: pid ${holderPid}`);
    expect(stdout).toContain('Nothing was changed.');
  });

  it('without pgstattuple, the index measurement is an estimate and says so', async () => {
    const before = await estimated.query(STATE);
    const { code, plan: out } = await plan(estimated, policies);
    expect(code).toBe(0);
    const p = out!.data;
    expect(p.pgstattuple).toBe(false);
    const reindex = p.actions.find((a) => a.kind === 'reindex' && a.target === 'public.bloat_pkey')!;
    expect(reindex).toMatchObject({ method: 'estimated' });
    expect(reindex.reason).toContain('estimated (pgstattuple is not installed)');
    expect(reindex.measurement['keyWidth']).toBe(4);
    expect(reindex.measurement['reclaimableRatio']).toBeGreaterThan(0.5);
    expect(await estimated.query(STATE)).toEqual(before);
  });

  it('a relation held exclusively past lock_timeout stops the survey with exit 3 and the fix, instead of waiting', async () => {
    const locker = new pg.Client({ connectionString: estimated.url });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE bloat IN ACCESS EXCLUSIVE MODE');
      const { code, stderr } = await plan(estimated, policies, false);
      expect(code).toBe(3);
      expect(stderr).toContain('waited more than 2 s for a lock');
      expect(stderr).toContain('Fix: Run `dbops maintain plan` again');
    } finally {
      await locker.query('ROLLBACK').catch(() => undefined);
      await locker.end();
    }
  });
});
