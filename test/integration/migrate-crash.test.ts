// Real `dbops` processes: kill -9 at several points, Ctrl-C, and concurrent deploys on one database.
import { describe, expect, it } from 'vitest';
import { runDbops, spawnDbops, testEnv } from '../helpers/cli.ts';
import { databasePerTest, type TestDb } from '../helpers/db.ts';
import { migrationsFolder, prismaRows, tableExists } from '../helpers/migrations.ts';
import { waitFor } from '../helpers/wait.ts';

const fresh = databasePerTest('crash');

const NAMES = [1, 2, 3, 4, 5, 6].map((i) => `2024010${i}000000_t${i}`);
const slowHistory = (sleep: number) =>
  migrationsFolder(
    Object.fromEntries(
      NAMES.map((name, i) => [name, `CREATE TABLE "T${i + 1}"(id int);\nSELECT pg_sleep(${sleep});\nINSERT INTO "T${i + 1}" VALUES (${i + 1});\n`]),
    ),
  );

/** The deploy's backend still running (it notices a dead client at its next read). */
const deployBackends = (db: TestDb) =>
  db.query<{ pid: number; query: string; state: string }>(
    `SELECT pid, query, state FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'dbops migrate deploy%'`,
  );

/** For every atomic migration: a finished row if and only if its effects exist, and never a dangling row. */
async function expectTruthfulHistory(db: TestDb) {
  await waitFor('the killed deploy to disconnect', async () => (await deployBackends(db)).length === 0);
  const rows = (await tableExists(db.url, 'public._prisma_migrations')) ? await prismaRows(db.url) : [];
  expect(rows.filter((r) => r.finished_at === null)).toEqual([]);
  for (const [i, name] of NAMES.entries()) {
    const applied = rows.filter((r) => r.migration_name === name && r.finished_at !== null).length;
    const exists = await tableExists(db.url, `public."T${i + 1}"`);
    expect({ name, applied }).toEqual({ name, applied: exists ? 1 : 0 });
    if (exists) expect(await db.query(`SELECT id FROM "T${i + 1}"`)).toEqual([{ id: i + 1 }]);
  }
  return rows.length;
}

describe('kill -9 of dbops migrate deploy', () => {
  it('before, during and between atomic migrations: never half a migration, never a row that lies', async () => {
    const db = await fresh();
    const dir = await slowHistory(0.3);
    const args = ['migrate', 'deploy', '--database-url', db.url, '--migrations-dir', dir];

    // 1. Before it has done anything.
    const early = spawnDbops(args);
    early.child.kill('SIGKILL');
    await early.done;
    expect(await expectTruthfulHistory(db)).toBe(0);

    // 2. In the middle of migration 2 (its CREATE TABLE has run, its INSERT not yet).
    const during = spawnDbops(args);
    await waitFor('migration 2 to be running', async () => (await deployBackends(db)).some((b) => b.query.includes('"T2"') && b.state === 'active'));
    during.child.kill('SIGKILL');
    await during.done;
    // The server finishes the message it was executing even after the client died (it only notices on its
    // next write), so migration 2 may have committed, together with its row: 1 or 2, never a lie.
    expect(await expectTruthfulHistory(db)).toBeOneOf([1, 2]);

    // 3. Right after migration 3 committed.
    const between = spawnDbops(args);
    await waitFor('migration 3 to commit', async () => (await prismaRows(db.url)).some((r) => r.migration_name === NAMES[2] && r.finished_at !== null));
    between.child.kill('SIGKILL');
    await between.done;
    expect(await expectTruthfulHistory(db)).toBeGreaterThanOrEqual(3);

    // 4. During migration 5, then let a last run finish everything.
    const late = spawnDbops(args);
    await waitFor('migration 5 to be running', async () => (await deployBackends(db)).some((b) => b.query.includes('"T5"')));
    late.child.kill('SIGKILL');
    await late.done;
    await expectTruthfulHistory(db);

    const last = await runDbops(args);
    expect(last.code).toBe(0);
    expect(await expectTruthfulHistory(db)).toBe(6);
  });

  it('in the middle of a split migration: the row says started-not-finished, and deploy refuses until resolved', async () => {
    const db = await fresh();
    const dir = await migrationsFolder({
      '20240101000000_table': 'CREATE TABLE s(id int);',
      '20240102000000_index': 'CREATE INDEX CONCURRENTLY s_id ON s(id);\nSELECT pg_sleep(30);\n',
    });
    const args = ['migrate', 'deploy', '--database-url', db.url, '--migrations-dir', dir];
    const run = spawnDbops(args);
    await waitFor('the sleep after the index', async () => (await deployBackends(db)).some((b) => b.query.includes('pg_sleep(30)') && b.state === 'active'));
    run.child.kill('SIGKILL');
    await run.done;
    // The server only notices the dead client when it next talks to it; end the orphaned sleep.
    await db.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'dbops migrate deploy'`);
    const rows = await prismaRows(db.url);
    expect(rows.map((r) => [r.migration_name, r.finished_at !== null, r.applied_steps_count])).toEqual([
      ['20240101000000_table', true, 1],
      ['20240102000000_index', false, 0],
    ]);
    const again = await runDbops(args);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('P3009');
  });
});

describe('signals and concurrency', () => {
  it('Ctrl-C stops after the running migration: it completes, the next is not started, exit 3', async () => {
    const db = await fresh();
    const dir = await slowHistory(0.5);
    const run = spawnDbops(['migrate', 'deploy', '--database-url', db.url, '--migrations-dir', dir], testEnv({ DBOPS_LOG_LEVEL: 'warn' }));
    await waitFor('migration 2 to be running', async () => (await deployBackends(db)).some((b) => b.query.includes('"T2"') && b.state === 'active'));
    run.child.kill('SIGINT');
    const result = await run.done;
    expect(result.code).toBe(3);
    expect(result.stdout).toContain('Interrupted: stopped before the next migration');
    expect((await prismaRows(db.url)).map((r) => r.migration_name)).toEqual(NAMES.slice(0, 2));
    await expectTruthfulHistory(db);
  });

  it('four concurrent deploys apply every migration exactly once', async () => {
    const db = await fresh();
    const dir = await slowHistory(0.1);
    const runs = await Promise.all([1, 2, 3, 4].map(() => runDbops(['migrate', 'deploy', '--database-url', db.url, '--migrations-dir', dir])));
    expect(runs.map((r) => r.code)).toEqual([0, 0, 0, 0]);
    const applying = runs.flatMap((r) => r.stdout.match(/Applying migration `[^`]+`/g) ?? []);
    expect(applying.sort()).toEqual(NAMES.map((n) => `Applying migration \`${n}\``).sort());
    expect(await expectTruthfulHistory(db)).toBe(6);
  });
});
