// `dbops maintain plan` on a real database: a table and its index bloated on purpose, the _ccnew leftover of a
// REINDEX CONCURRENTLY cancelled by statement_timeout, a long-open transaction, the estimate without
// pgstattuple, proof that planning changed nothing, and a deduplicated index the estimate misjudges.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { measureMaintenance, type MaintenancePlan } from '../../pipeline/operations/maintenance/index.ts';
import { dbops, testEnv } from '../helpers/cli.ts';
import { createDatabase, type TestDb } from '../helpers/db.ts';
import { tempDir } from '../helpers/migrations.ts';
import { cancelledReindex, openTransaction } from '../helpers/maintenance.ts';
import { waitFor } from '../helpers/wait.ts';

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

async function plan(db: TestDb, policies: string, json = true, extra: string[] = []) {
  const out = await dbops(['maintain', 'plan', '--database-url', db.url, '--policies-dir', policies, ...(json ? ['--json'] : []), ...extra], testEnv());
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
    // Vacuumed once, then two rows in five deleted: the visibility map still covers the rest, so
    // pgstattuple_approx reads only the pages the delete touched. The test cluster commits asynchronously, and
    // VACUUM marks a page all-visible only once the commit that wrote its rows is flushed: this one is synchronous.
    await exact.query(`SET synchronous_commit = on;
                       CREATE TABLE settled (id int PRIMARY KEY, pad text NOT NULL) WITH (autovacuum_enabled = off);
                       INSERT INTO settled SELECT g, repeat('s', 60) FROM generate_series(1, 150000) g;`);
    // Another session's snapshot (an autovacuum worker's ANALYZE of the catalog, under load) keeps VACUUM from
    // marking pages all-visible: vacuum again until the whole heap is.
    await waitFor(
      'VACUUM to mark every page of settled all-visible',
      async () => {
        await exact.query('VACUUM settled');
        const [r] = await exact.query<{ full: boolean }>("SELECT relallvisible = relpages AND relpages > 0 AS full FROM pg_class WHERE relname = 'settled'");
        return r?.full === true;
      },
      30_000,
      200,
    );
    await exact.query('DELETE FROM settled WHERE id <= 60000');

    // A transaction holding a snapshot (on another table): REINDEX CONCURRENTLY waits for it, and is cancelled.
    ({ client: holder, pid: holderPid } = await openTransaction(exact.url, 'maintain-test-holder', 'bloat'));
    expect(await cancelledReindex(exact.url, 'acct_code_idx')).toMatchObject({ code: '57014' });
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

    // Never vacuumed, so no page is all-visible: pgstattuple_approx would read the whole heap, the counters judge it.
    const vacuum = p.actions.find((a) => a.kind === 'vacuum-analyze' && a.target === 'public.bloat')!;
    expect(vacuum).toMatchObject({ method: 'statistics', sql: 'VACUUM (ANALYZE) "public"."bloat"' });
    expect(vacuum.reason).toContain('counted by statistics: the visibility map marks 0 % of the heap all-visible');
    expect(vacuum.measurement).toMatchObject({ liveTuples: 20_000, measuredDeadTuples: null, allVisibleRatio: 0 });
    // 180,000 deleted rows and the 200,000 versions the updates left behind.
    expect(vacuum.measurement['deadTuples']).toBeGreaterThanOrEqual(180_000);
    expect(vacuum.measurement['deadRatio']).toBeGreaterThan(0.9);
    // Its gain is the dead share of the heap.
    expect(vacuum.expectedGainBytes).toBe(Math.round(vacuum.measurement['heapBytes']! * vacuum.measurement['deadRatio']!));

    // Vacuumed before the delete: read by pgstattuple_approx, only the pages the delete touched.
    const settled = p.actions.find((a) => a.kind === 'vacuum-analyze' && a.target === 'public.settled')!;
    expect(settled).toMatchObject({ method: 'pgstattuple' });
    expect(settled.reason).not.toContain('counted by statistics');
    expect(settled.measurement['allVisibleRatio']).toBe(1);
    expect(settled.measurement['measuredDeadTuples']).toBeGreaterThan(50_000);
    expect(settled.measurement['deadRatio']).toBeGreaterThan(0.35);
    expect(settled.expectedGainBytes).toBe(settled.measurement['deadBytes']);

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

  it('exactTables: only those tables and their indexes are read with pgstattuple (the re-measure after VACUUM)', async () => {
    const client = new pg.Client({ connectionString: exact.url });
    await client.connect();
    try {
      const facts = await measureMaintenance(client, { measureIndexesFrom: 0, exactTables: new Set(['public.acct']) });
      const exactOf = (name: string) => [...facts.tables, ...facts.indexes].find((r) => r.name === name)?.exact;
      expect(exactOf('acct')).not.toBeNull();
      expect(exactOf('acct_code_idx')).not.toBeNull();
      // Still listed, by their statistics only.
      expect(exactOf('settled')).toBeNull();
      expect(facts.tables.find((t) => t.name === 'settled')?.notRead).toBe('not re-measured (no index of it to rebuild)');
      expect(exactOf('bloat_pkey')).toBeNull();
      const all = await measureMaintenance(client, { measureIndexesFrom: 0 });
      expect(all.tables.find((t) => t.name === 'settled')).toMatchObject({ allVisibleShare: 1, notRead: null });
      expect(all.tables.find((t) => t.name === 'settled')?.exact?.scannedPercent).toBeLessThan(60);
      expect(all.tables.find((t) => t.name === 'bloat')).toMatchObject({ allVisibleShare: 0, exact: null });
      expect(all.indexes.find((i) => i.name === 'bloat_pkey')?.exact).not.toBeNull();
    } finally {
      await client.end();
    }
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

/**
 * The same 300,000 rows of a 10-value column twice: indexed with deduplication (PostgreSQL 13+: one posting list
 * per value and page) and without it; then two rows in three deleted and VACUUMed, so the leaves are a third full
 * and no dead tuple is left to judge the index by.
 */
const DEDUP = `
CREATE TABLE dedup (id int PRIMARY KEY, v int NOT NULL) WITH (autovacuum_enabled = off);
INSERT INTO dedup SELECT g, g % 10 FROM generate_series(1, 300000) g;
CREATE INDEX dedup_v_idx ON dedup (v);
CREATE INDEX dedup_v_plain_idx ON dedup (v) WITH (deduplicate_items = off);
DELETE FROM dedup WHERE id % 3 <> 0;`;

describe('dbops maintain plan: a deduplicated index, where the estimate and pgstatindex disagree', () => {
  let policies: string;
  let exact: TestDb;
  let estimated: TestDb;

  beforeAll(async () => {
    policies = await tempDir('dbops-maintain-dedup-');
    await mkdir(policies, { recursive: true });
    await writeFile(join(policies, 'maintenance.yaml'), 'version: 1\nindexes:\n  min_size: 1MB\n');
    [exact, estimated] = await Promise.all([createDatabase('maintain-dedup-exact'), createDatabase('maintain-dedup-estimate')]);
    await exact.query('CREATE EXTENSION pgstattuple');
    // VACUUM cannot run in the implicit transaction of a multi-statement query: a query of its own.
    await Promise.all([exact, estimated].map(async (db) => (await db.query(DEDUP), await db.query('VACUUM (ANALYZE) dedup'))));
  });

  afterAll(async () => {
    await Promise.all([exact?.drop(), estimated?.drop()]);
  });

  const reindexOf = (p: MaintenancePlan, index: string) => p.actions.find((a) => a.kind === 'reindex' && a.target === `public.${index}`);

  it('pgstatindex finds the deduplicated index two-thirds empty; the estimate, which ignores deduplication, finds it smaller than possible', async () => {
    const [row] = await exact.query<{ bytes: string; density: number; plain: string }>(
      `SELECT pg_relation_size('dedup_v_idx') AS bytes, (pgstatindex('dedup_v_idx')).avg_leaf_density AS density,
              pg_relation_size('dedup_v_plain_idx') AS plain`,
    );
    const { bytes, density, plain } = row!;
    // Deduplicated, the index is several times smaller than the same index without deduplication.
    expect(Number(bytes) * 3).toBeLessThan(Number(plain));
    expect(Number(bytes)).toBeGreaterThanOrEqual(1024 * 1024);

    const out = (await plan(exact, policies)).plan!.data;
    expect(out.pgstattuple).toBe(true);
    // The table was vacuumed: nothing of its own to do, and no dead share in the index's judgement.
    expect(out.actions.filter((a) => a.table === 'public.dedup' && a.kind !== 'reindex')).toEqual([]);
    const exactAction = reindexOf(out, 'dedup_v_idx')!;
    expect(exactAction).toMatchObject({ method: 'pgstatindex', sql: 'REINDEX INDEX CONCURRENTLY "public"."dedup_v_idx"' });
    expect(exactAction.measurement).toMatchObject({ bytes: Number(bytes), tableDeadRatio: 0 });
    expect(exactAction.measurement['avgLeafDensity']).toBeCloseTo(density / 100, 2);
    expect(exactAction.measurement['avgLeafDensity']).toBeLessThan(0.45);
    expect(exactAction.measurement['reclaimableRatio']).toBeGreaterThan(0.45);

    // Without pgstattuple: the estimate's smallest index of the 100,000 live rows of this key (the planner's own
    // figure, from the twin index without deduplication: same key, same rows) is larger than the bloated
    // deduplicated index itself, so it sees nothing to reclaim, and the bloat goes unnoticed.
    const est = (await plan(estimated, policies)).plan!.data;
    expect(est.pgstattuple).toBe(false);
    const smallest = reindexOf(est, 'dedup_v_plain_idx')!.measurement['expectedBytes']!;
    expect(Number(bytes)).toBeLessThan(smallest);
    expect(reindexOf(est, 'dedup_v_idx')).toBeUndefined();
    expect(est.warnings.filter((w) => w.subject === 'public.dedup_v_idx')).toEqual([]);
  });

  it('without deduplication both agree: the disagreement is deduplication, and the plan follows pgstatindex', async () => {
    const exactPlain = reindexOf((await plan(exact, policies)).plan!.data, 'dedup_v_plain_idx')!;
    const estPlain = reindexOf((await plan(estimated, policies)).plan!.data, 'dedup_v_plain_idx')!;
    expect(exactPlain).toMatchObject({ method: 'pgstatindex' });
    expect(estPlain).toMatchObject({ method: 'estimated' });
    expect(estPlain.reason).toContain('estimated (pgstattuple is not installed)');
    for (const a of [exactPlain, estPlain]) expect(a.measurement['reclaimableRatio']).toBeGreaterThan(0.5);
    expect(Math.abs(exactPlain.measurement['reclaimableRatio']! - estPlain.measurement['reclaimableRatio']!)).toBeLessThan(0.15);
  });

  it('--only indexes keeps the rebuilds, --only tables leaves them out and says so', async () => {
    // Table actions to leave out: rows changed since the VACUUM (ANALYZE) of beforeAll.
    await exact.query('UPDATE dedup SET v = v WHERE id % 9 = 0');
    const indexes = (await plan(exact, policies, true, ['--only', 'indexes'])).plan!.data;
    expect(indexes.scope).toBe('indexes');
    // The primary key lost two entries in three as well.
    expect(indexes.actions.map((a) => `${a.kind} ${a.target}`).sort()).toEqual([
      'reindex public.dedup_pkey',
      'reindex public.dedup_v_idx',
      'reindex public.dedup_v_plain_idx',
    ]);
    const tables = await plan(exact, policies, false, ['--only', 'tables']);
    expect(tables.code).toBe(0);
    expect(tables.stdout).toContain('Only the table actions (vacuum-analyze, analyze): --only tables.');
    expect(tables.stdout).not.toMatch(/reindex\s+public\./);
    expect(tables.stdout).toMatch(/(vacuum-analyze|analyze)\s+public\.dedup\s/);
    const wrong = await plan(exact, policies, false, ['--only', 'everything']);
    expect(wrong.code).toBe(2);
  });
});
