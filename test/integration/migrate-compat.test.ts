// The 21 compatibility cases of the Prisma migrate spec (§8), each asserting the exact _prisma_migrations rows.
// Where dbops deliberately differs from Prisma (cases 14, 16, 18, 21), the test pins dbops' documented choice.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { dbops } from '../helpers/cli.ts';
import { adminUrl, databasePerTest, type TestDb } from '../helpers/db.ts';
import { LOCKFILE, migrationsFolder, prismaRows, sha, tableExists, tempDir, UUID_V4, PRISMA_MIGRATIONS_DDL, writeMigration } from '../helpers/migrations.ts';

const INIT = 'CREATE TABLE "User"(id int);\n';
const TWO = 'CREATE TABLE "Post"(id int);\n';
const BAD = 'CREATE TABLE "A"(id int); SELECT 1/0; CREATE TABLE "B"(id int);\n';

const fresh = databasePerTest('compat');

const deploy = (db: TestDb | string, dir: string, ...extra: string[]) =>
  dbops(['migrate', 'deploy', '--database-url', typeof db === 'string' ? db : db.url, '--migrations-dir', dir, ...extra]);
const status = (db: TestDb | string, dir: string, ...extra: string[]) =>
  dbops(['migrate', 'status', '--database-url', typeof db === 'string' ? db : db.url, '--migrations-dir', dir, ...extra]);
const resolve = (db: TestDb, dir: string, ...extra: string[]) => dbops(['migrate', 'resolve', '--database-url', db.url, '--migrations-dir', dir, ...extra]);

/** A folder with init, two and a failing third migration, deployed once (the state of cases 5–8). */
async function failedState(extra: Record<string, string> = {}) {
  const db = await fresh();
  const dir = await migrationsFolder({ '20240101000000_init': INIT, '20240102000000_two': TWO, '20240103000000_bad': BAD, ...extra });
  const run = await deploy(db, dir);
  return { db, dir, run };
}

describe('spec §8 compatibility cases', () => {
  it('1. fresh database, two migrations: exact table DDL and rows', async () => {
    const db = await fresh();
    const dir = await migrationsFolder({ '20240101000000_init': INIT, '20240102000000_two': TWO });
    const run = await deploy(db, dir);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`2 migrations found in ${dir}`);
    expect(run.stdout.indexOf('Applying migration `20240101000000_init`')).toBeLessThan(run.stdout.indexOf('Applying migration `20240102000000_two`'));
    expect(run.stdout).toContain('The following migration(s) have been applied:');
    expect(run.stdout).toContain('All migrations have been successfully applied.');

    const columns = await db.query(
      `SELECT column_name, data_type, character_maximum_length AS len, is_nullable, column_default
         FROM information_schema.columns WHERE table_name = '_prisma_migrations' ORDER BY ordinal_position`,
    );
    expect(columns).toEqual([
      { column_name: 'id', data_type: 'character varying', len: 36, is_nullable: 'NO', column_default: null },
      { column_name: 'checksum', data_type: 'character varying', len: 64, is_nullable: 'NO', column_default: null },
      { column_name: 'finished_at', data_type: 'timestamp with time zone', len: null, is_nullable: 'YES', column_default: null },
      { column_name: 'migration_name', data_type: 'character varying', len: 255, is_nullable: 'NO', column_default: null },
      { column_name: 'logs', data_type: 'text', len: null, is_nullable: 'YES', column_default: null },
      { column_name: 'rolled_back_at', data_type: 'timestamp with time zone', len: null, is_nullable: 'YES', column_default: null },
      { column_name: 'started_at', data_type: 'timestamp with time zone', len: null, is_nullable: 'NO', column_default: 'now()' },
      { column_name: 'applied_steps_count', data_type: 'integer', len: null, is_nullable: 'NO', column_default: '0' },
    ]);
    const constraints = await db.query(`SELECT conname, contype FROM pg_constraint WHERE conrelid = '_prisma_migrations'::regclass`);
    expect(constraints).toEqual([{ conname: '_prisma_migrations_pkey', contype: 'p' }]);

    const rows = await prismaRows(db.url);
    expect(rows.map((r) => [r.migration_name, r.checksum, r.applied_steps_count, r.logs, r.rolled_back_at])).toEqual([
      ['20240101000000_init', sha(INIT), 1, null, null],
      ['20240102000000_two', sha(TWO), 1, null, null],
    ]);
    for (const r of rows) {
      expect(r.id).toMatch(UUID_V4);
      expect(Date.parse(r.finished_at!)).toBeGreaterThanOrEqual(Date.parse(r.started_at));
    }
  });

  it('2. a second deploy is a no-op', async () => {
    const db = await fresh();
    const dir = await migrationsFolder({ '20240101000000_init': INIT, '20240102000000_two': TWO });
    await deploy(db, dir);
    const before = await prismaRows(db.url);
    const again = await deploy(db, dir);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('No pending migrations to apply.');
    expect(await prismaRows(db.url)).toEqual(before);
  });

  it('3. zero migrations on an empty database creates the table with no rows', async () => {
    const db = await fresh();
    const dir = await migrationsFolder({});
    const run = await deploy(db, dir);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`No migration found in ${dir}`);
    expect(run.stdout).toContain('No pending migrations to apply.');
    expect(await prismaRows(db.url)).toEqual([]);
  });

  describe('4. P3005: a non-empty schema without history', () => {
    it('refuses a schema with an ordinary table and creates nothing', async () => {
      const db = await fresh();
      await db.query('CREATE TABLE existing(id int)');
      const run = await deploy(db, await migrationsFolder({ '20240101000000_init': INIT }));
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('Error: P3005');
      expect(run.stderr).toContain('The database schema is not empty.');
      expect(run.stderr).toContain('existing');
      expect(run.stderr).toContain('dbops migrate resolve --applied');
      expect(await tableExists(db.url, 'public._prisma_migrations')).toBe(false);
      expect(await tableExists(db.url, 'public."User"')).toBe(false);
    });

    it.each([
      [
        'views, enums, functions and sequences',
        `CREATE VIEW v AS SELECT 1 AS x; CREATE TYPE e AS ENUM ('a'); CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'; CREATE SEQUENCE s`,
      ],
      ['only a partitioned table', 'CREATE TABLE p (id int) PARTITION BY RANGE (id)'],
      ['a table in another schema', 'CREATE SCHEMA other; CREATE TABLE other.t (id int)'],
      ['only spatial_ref_sys', 'CREATE TABLE spatial_ref_sys (srid int)'],
      ['an empty _prisma_migrations next to user tables', `CREATE TABLE existing(id int); ${PRISMA_MIGRATIONS_DDL}`],
    ])('deploys over %s', async (_label, setup) => {
      const db = await fresh();
      await db.query(setup);
      const run = await deploy(db, await migrationsFolder({ '20240101000000_init': INIT }));
      expect(run.code).toBe(0);
      expect((await prismaRows(db.url)).map((r) => [r.migration_name, r.applied_steps_count])).toEqual([['20240101000000_init', 1]]);
    });
  });

  it('5. a failing migration: P3018, a failed row, nothing of it applied, later migrations not attempted', async () => {
    const { db, run } = await failedState({ '20240104000000_later': 'CREATE TABLE "Later"(id int);' });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('Error: P3018');
    expect(run.stderr).toContain('Migration name: 20240103000000_bad');
    expect(run.stderr).toContain('Database error code: 22012');
    expect(run.stderr).toContain('ERROR: division by zero');
    const rows = await prismaRows(db.url);
    expect(rows.map((r) => r.migration_name)).toEqual(['20240101000000_init', '20240102000000_two', '20240103000000_bad']);
    const bad = rows[2]!;
    expect(bad).toMatchObject({ finished_at: null, applied_steps_count: 0, rolled_back_at: null, checksum: sha(BAD) });
    expect(bad.logs).toMatch(/^A migration failed to apply/);
    expect(rows.slice(0, 2).every((r) => r.finished_at !== null && r.applied_steps_count === 1)).toBe(true);
    expect(await tableExists(db.url, 'public."A"')).toBe(false);
    expect(await tableExists(db.url, 'public."B"')).toBe(false);
    expect(await tableExists(db.url, 'public."Later"')).toBe(false);
  });

  it('6. P3009: a failed migration blocks every later deploy', async () => {
    const { db, dir } = await failedState({ '20240104000000_later': 'CREATE TABLE "Later"(id int);' });
    const before = await prismaRows(db.url);
    const run = await deploy(db, dir);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('Error: P3009');
    const startedAt = (
      await db.query<{ s: string }>(
        `SELECT to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS s FROM _prisma_migrations WHERE finished_at IS NULL`,
      )
    )[0]!.s;
    expect(run.stderr).toMatch(new RegExp(`The \`20240103000000_bad\` migration started at ${startedAt}(\\.\\d{3}|\\.\\d{6})? UTC failed`));
    expect(run.stderr).not.toContain('with the following logs');
    expect(await prismaRows(db.url)).toEqual(before);
  });

  it('7. resolve --rolled-back, then a fixed file deploys as a new row', async () => {
    const { db, dir } = await failedState({ '20240104000000_later': 'CREATE TABLE "Later"(id int);' });
    const before = await prismaRows(db.url);
    const first = await resolve(db, dir, '--rolled-back', '20240103000000_bad');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('Migration 20240103000000_bad marked as rolled back.');
    const after = await prismaRows(db.url);
    expect(after.map((r) => ({ ...r, rolled_back_at: null }))).toEqual(before);
    expect(after.filter((r) => r.rolled_back_at !== null).map((r) => r.migration_name)).toEqual(['20240103000000_bad']);

    const second = await resolve(db, dir, '--rolled-back', '20240103000000_bad');
    expect(second.code).toBe(0);
    expect(await prismaRows(db.url)).toEqual(after);

    const FIXED = 'CREATE TABLE "A"(id int); CREATE TABLE "B"(id int);\n';
    await writeMigration(dir, '20240103000000_bad', FIXED);
    const redeploy = await deploy(db, dir);
    expect(redeploy.code).toBe(0);
    const rows = (await prismaRows(db.url)).filter((r) => r.migration_name === '20240103000000_bad');
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ checksum: sha(BAD), finished_at: null, applied_steps_count: 0 });
    expect(rows[0]!.rolled_back_at).not.toBeNull();
    expect(rows[1]).toMatchObject({ checksum: sha(FIXED), rolled_back_at: null, applied_steps_count: 1, logs: null });
    expect(rows[1]!.finished_at).not.toBeNull();
    expect(await tableExists(db.url, 'public."Later"')).toBe(true);
  });

  it('8. resolve --applied on a failed migration', async () => {
    const { db, dir } = await failedState();
    const run = await resolve(db, dir, '--applied', '20240103000000_bad');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Migration 20240103000000_bad marked as applied.');
    const rows = (await prismaRows(db.url)).filter((r) => r.migration_name === '20240103000000_bad');
    expect(rows).toHaveLength(2);
    expect(rows[0]!.rolled_back_at).not.toBeNull();
    expect(rows[0]!.logs).toMatch(/^A migration failed/);
    expect(rows[1]).toMatchObject({ logs: '', applied_steps_count: 0, rolled_back_at: null, checksum: sha(BAD) });
    expect(rows[1]!.started_at).toBe(rows[1]!.finished_at);
    const next = await deploy(db, dir);
    expect(next.stdout).toContain('No pending migrations to apply.');
    expect(await tableExists(db.url, 'public."A"')).toBe(false);
  });

  describe('9. resolve errors', () => {
    it('P3008, P3017, P3011, P3012 with their exit codes and no change', async () => {
      const { db, dir } = await failedState();
      const before = await prismaRows(db.url);
      const p3008 = await resolve(db, dir, '--applied', '20240101000000_init');
      expect([p3008.code, p3008.stderr]).toEqual([1, expect.stringContaining('Error: P3008')]);
      const p3017 = await resolve(db, dir, '--applied', 'nope');
      expect([p3017.code, p3017.stderr]).toEqual([2, expect.stringContaining('Error: P3017')]);
      const p3011 = await resolve(db, dir, '--rolled-back', 'nope');
      expect([p3011.code, p3011.stderr]).toEqual([2, expect.stringContaining('Error: P3011')]);
      const p3012 = await resolve(db, dir, '--rolled-back', '20240101000000_init');
      expect([p3012.code, p3012.stderr]).toEqual([1, expect.stringContaining('Error: P3012')]);
      expect(await prismaRows(db.url)).toEqual(before);
    });

    it('--rolled-back without a migrations table is refused', async () => {
      const db = await fresh();
      const run = await resolve(db, await migrationsFolder({ '20240101000000_init': INIT }), '--rolled-back', '20240101000000_init');
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('no _prisma_migrations table');
      expect(await tableExists(db.url, 'public._prisma_migrations')).toBe(false);
    });

    it('--rolled-back on [rolled back, applied] rows succeeds and changes nothing', async () => {
      const { db, dir } = await failedState();
      await resolve(db, dir, '--rolled-back', '20240103000000_bad');
      await writeMigration(dir, '20240103000000_bad', 'SELECT 1;');
      await deploy(db, dir);
      const before = await prismaRows(db.url);
      const run = await resolve(db, dir, '--rolled-back', '20240103000000_bad');
      expect(run.code).toBe(0);
      expect(await prismaRows(db.url)).toEqual(before);
    });

    it('needs exactly one of --applied and --rolled-back', async () => {
      const db = await fresh();
      const dir = await migrationsFolder({});
      expect((await resolve(db, dir)).code).toBe(2);
      expect((await resolve(db, dir, '--applied', 'a', '--rolled-back', 'b')).stderr).toContain('not both');
    });
  });

  it('10. baselining a non-empty database with resolve --applied', async () => {
    const db = await fresh();
    await db.query('CREATE TABLE "User"(id int)');
    const dir = await migrationsFolder({ '20240101000000_init': INIT, '20240102000000_two': TWO });
    expect((await resolve(db, dir, '--applied', '20240101000000_init')).code).toBe(0);
    const baseline = await prismaRows(db.url);
    expect(baseline).toHaveLength(1);
    expect(baseline[0]).toMatchObject({ migration_name: '20240101000000_init', logs: '', applied_steps_count: 0, checksum: sha(INIT) });
    expect(baseline[0]!.started_at).toBe(baseline[0]!.finished_at);
    const run = await deploy(db, dir);
    expect(run.code).toBe(0);
    expect(run.stdout).not.toContain('Applying migration `20240101000000_init`');
    const rows = await prismaRows(db.url);
    expect(rows[1]).toMatchObject({ migration_name: '20240102000000_two', applied_steps_count: 1, logs: null });
  });

  it('11. an applied migration edited afterwards: deploy ignores it, status warns but stays exit 0; CRLF is not an edit', async () => {
    const db = await fresh();
    const dir = await migrationsFolder({ '20240101000000_init': INIT, '20240102000000_two': TWO });
    await deploy(db, dir);
    const before = await prismaRows(db.url);
    await writeMigration(dir, '20240101000000_init', `${INIT}-- edited\n`);
    const again = await deploy(db, dir);
    expect(again.stdout).toContain('No pending migrations to apply.');
    expect(again.all).not.toContain('modified');
    expect(await prismaRows(db.url)).toEqual(before);
    const st = await status(db, dir, '--json');
    expect(st.code).toBe(0);
    const data = JSON.parse(st.stdout).data;
    expect(data.migrations.filter((m: { modified: boolean }) => m.modified).map((m: { name: string }) => m.name)).toEqual(['20240101000000_init']);
    const human = await status(db, dir);
    expect(human.stdout).toContain('Database schema is up to date!');
    expect(human.stdout).toContain('modified after apply');

    await writeMigration(dir, '20240101000000_init', INIT.replaceAll('\n', '\r\n'));
    const crlf = await status(db, dir, '--json');
    expect(crlf.code).toBe(0);
    expect(JSON.parse(crlf.stdout).data.counts.modified).toBe(0);
  });

  it('12. applied migration missing locally, then diverged histories', async () => {
    const db = await fresh();
    const dir = await migrationsFolder({ '20240101000000_init': INIT, '20240102000000_two': TWO });
    await deploy(db, dir);
    const other = await migrationsFolder({ '20240101000000_init': INIT });
    expect((await deploy(db, other)).stdout).toContain('No pending migrations to apply.');
    const st = await status(db, other);
    expect(st.code).toBe(0);
    expect(st.stdout).toContain('Database schema is up to date!');
    expect(st.stdout).toContain('20240102000000_two is applied to the database but has no folder');

    await writeMigration(other, '20240103000000_three', 'CREATE TABLE "Three"(id int);');
    const diverged = await status(db, other);
    expect(diverged.code).toBe(1);
    expect(diverged.stdout).toContain('Your local migration history and the migrations table from your database are different');
    expect(diverged.stdout).toContain('The last common migration is: 20240101000000_init');
    expect(diverged.stdout).toMatch(/have not yet been applied:\n20240103000000_three/);
    expect(diverged.stdout).toMatch(/not found locally in .*:\n20240102000000_two/);
    const applied = await deploy(db, other);
    expect(applied.code).toBe(0);
    expect((await prismaRows(db.url)).map((r) => r.migration_name)).toEqual(['20240101000000_init', '20240102000000_two', '20240103000000_three']);
  });

  it('13. pending status, with and without the table', async () => {
    const db = await fresh();
    const dir = await migrationsFolder({ '20240101000000_init': INIT });
    await deploy(db, dir);
    await writeMigration(dir, '20240102000000_two', TWO);
    const one = await status(db, dir);
    expect(one.code).toBe(1);
    expect(one.stdout).toContain('Following migration have not yet been applied:\n20240102000000_two');

    const empty = await fresh();
    const two = await status(empty, await migrationsFolder({ '20240101000000_init': INIT, '20240102000000_two': TWO }));
    expect(two.code).toBe(1);
    expect(two.stdout).toContain('Following migrations have not yet been applied:\n20240101000000_init\n20240102000000_two');
    const none = await status(empty, await migrationsFolder({}));
    expect(none.code).toBe(1);
    expect(none.stdout).toContain('The current database is not managed by Prisma Migrate.');
    expect(await tableExists(empty.url, 'public._prisma_migrations')).toBe(false);
  });

  it('14. a rolled-back migration shows as not yet applied (Prisma ≥ 7.10 behaviour)', async () => {
    const { db, dir } = await failedState();
    await resolve(db, dir, '--rolled-back', '20240103000000_bad');
    const st = await status(db, dir);
    expect(st.code).toBe(1);
    expect(st.stdout).toContain('Following migration have not yet been applied:\n20240103000000_bad');
    expect(st.stdout).toMatch(/rolled back\s+20240103000000_bad.*will be re-applied/);
  });

  describe('15. migration_lock.toml is checked before any connection or write', () => {
    it.each([
      ['provider = "mysql"\n', 'mysql'],
      ['provider="postgresql"\n', 'provider="postgresql'],
      ['# no provider here\n', '<PROVIDER NOT FOUND>'],
    ])('%j → P3019 naming %s', async (lockfile, named) => {
      const db = await fresh();
      const run = await deploy(db, await migrationsFolder({ '20240101000000_init': INIT }, { lockfile }));
      expect(run.code).toBe(2);
      expect(run.stderr).toContain('Error: P3019');
      expect(run.stderr).toContain(`specified in the migration_lock.toml, \`${named}\``);
      expect(await tableExists(db.url, 'public._prisma_migrations')).toBe(false);
    });

    it('a missing lock file is fine; CRLF in it is fine', async () => {
      const db = await fresh();
      expect((await deploy(db, await migrationsFolder({ '20240101000000_init': INIT }, { lockfile: null }))).code).toBe(0);
      const db2 = await fresh();
      expect((await deploy(db2, await migrationsFolder({ '20240101000000_init': INIT }, { lockfile: LOCKFILE.replaceAll('\n', '\r\n') }))).code).toBe(0);
    });
  });

  it('16. a pending folder without migration.sql: P3015, and (unlike Prisma) nothing at all is applied', async () => {
    const db = await fresh();
    const dir = await migrationsFolder({ '20240101000000_a': INIT, '20240102000000_b': null });
    const run = await deploy(db, dir);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('Error: P3015');
    expect(run.stderr).toContain(`Could not find the migration file at ${join(dir, '20240102000000_b', 'migration.sql')}`);
    expect(await tableExists(db.url, 'public._prisma_migrations')).toBe(false);
    expect(await tableExists(db.url, 'public."User"')).toBe(false);
  });

  it('17. ordering: localeCompare, and an older-named new migration applies without complaint', async () => {
    const db = await fresh();
    const dir = await migrationsFolder({ '20240101000000_B': 'CREATE TABLE b(id int);', '20240101000000_a': 'CREATE TABLE a(id int);' });
    await deploy(db, dir);
    expect((await prismaRows(db.url)).map((r) => r.migration_name)).toEqual(['20240101000000_a', '20240101000000_B']);

    const db2 = await fresh();
    const dir2 = await migrationsFolder({ '20240102000000_second': TWO });
    await deploy(db2, dir2);
    await writeMigration(dir2, '20240101000000_late', INIT);
    const late = await deploy(db2, dir2);
    expect(late.code).toBe(0);
    expect((await prismaRows(db2.url)).map((r) => r.migration_name)).toEqual(['20240102000000_second', '20240101000000_late']);
  });

  it('18. CREATE INDEX CONCURRENTLY alone, and after other statements (split, with an explanation)', async () => {
    const db = await fresh();
    await db.query('CREATE TABLE t(c int)');
    await db.query(PRISMA_MIGRATIONS_DDL);
    const only = '-- only this\nCREATE INDEX CONCURRENTLY i ON t(c);\n';
    const dir = await migrationsFolder({
      '20240101000000_only': only,
      '20240102000000_mixed': 'CREATE TABLE t2(c int);\nCREATE INDEX CONCURRENTLY i2 ON t2(c);\n',
    });
    const run = await deploy(db, dir);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('line 2: CREATE INDEX CONCURRENTLY cannot run inside a transaction block');
    expect((await prismaRows(db.url)).map((r) => [r.migration_name, r.applied_steps_count, r.checksum])).toEqual([
      ['20240101000000_only', 1, sha(only)],
      ['20240102000000_mixed', 1, expect.any(String)],
    ]);
    const valid = await db.query(
      `SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname IN ('i', 'i2') ORDER BY 1`,
    );
    expect(valid).toEqual([
      { relname: 'i', indisvalid: true },
      { relname: 'i2', indisvalid: true },
    ]);
  });

  it('19. advisory lock held elsewhere: P1002 after the timeout, nothing written (deploy and resolve)', async () => {
    const db = await fresh();
    const policies = await tempDir();
    await writeFile(join(policies, 'migrations.yaml'), 'version: 1\nexecutor:\n  advisory_lock_timeout: 1s\n');
    const holder = new pg.Client({ connectionString: db.url, application_name: 'lock holder test' });
    // The same key held in another database blocks nothing here and must not be named as the holder (a full
    // suite once named a deploy running in another test's database).
    const elsewhere = new pg.Client({ connectionString: adminUrl(), application_name: 'other database holder' });
    await holder.connect();
    await elsewhere.connect();
    try {
      await elsewhere.query('SELECT pg_advisory_lock(72707369)');
      await holder.query('SELECT pg_advisory_lock(72707369)');
      const dir = await migrationsFolder({ '20240101000000_init': INIT });
      const started = Date.now();
      const run = await deploy(db, dir, '--policies-dir', policies);
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      expect(run.code).toBe(3);
      expect(run.stderr).toContain('Error: P1002');
      expect(run.stderr).toContain('Timed out trying to acquire a postgres advisory lock (SELECT pg_advisory_lock(72707369)). Timeout: 1000ms.');
      expect(run.stderr).toContain('lock holder test');
      expect(run.stderr).not.toContain('other database holder');
      expect(await tableExists(db.url, 'public._prisma_migrations')).toBe(false);
      const res = await resolve(db, dir, '--applied', '20240101000000_init', '--policies-dir', policies);
      expect(res.code).toBe(3);
      expect(res.stderr).toContain('Error: P1002');
      expect(await tableExists(db.url, 'public._prisma_migrations')).toBe(false);
    } finally {
      await holder.end();
      await elsewhere.end();
    }
  });

  it('20. ?schema=Tenant1: schema created, table and unqualified DDL land there, public tables do not trigger P3005', async () => {
    const db = await fresh();
    await db.query('CREATE TABLE public.unrelated(id int)');
    const url = `${db.url}?schema=Tenant1`;
    const run = await deploy(url, await migrationsFolder({ '20240101000000_init': 'CREATE TABLE foo(id int);' }));
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('schema "Tenant1"');
    expect(await tableExists(db.url, '"Tenant1"._prisma_migrations')).toBe(true);
    expect(await tableExists(db.url, '"Tenant1".foo')).toBe(true);
    expect(await tableExists(db.url, 'public.foo')).toBe(false);
    expect(await tableExists(db.url, 'public._prisma_migrations')).toBe(false);
    expect((await prismaRows(db.url, 'Tenant1')).map((r) => r.migration_name)).toEqual(['20240101000000_init']);

    // --schema wins over the URL's parameter.
    const other = await deploy(url, await migrationsFolder({ '20240101000000_init': 'CREATE TABLE foo(id int);' }), '--schema', 'tenant_2');
    expect(other.code).toBe(0);
    expect(await tableExists(db.url, 'tenant_2.foo')).toBe(true);
    expect((await prismaRows(db.url, 'tenant_2')).map((r) => r.migration_name)).toEqual(['20240101000000_init']);
  });

  describe('21. byte-level checksums', () => {
    it('an empty migration.sql applies with the SHA-256 of nothing', async () => {
      const db = await fresh();
      await deploy(db, await migrationsFolder({ '20240101000000_empty': '' }));
      expect((await prismaRows(db.url)).map((r) => [r.checksum, r.applied_steps_count])).toEqual([
        ['e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 1],
      ]);
    });

    it('a BOM file: deploy refuses before writing (Prisma would record a failed 42601); its checksum covers the BOM', async () => {
      const db = await fresh();
      const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(INIT)]);
      const dir = await migrationsFolder({ '20240101000000_bom': withBom });
      const run = await deploy(db, dir);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain('byte order mark');
      expect(run.stderr).toContain(join(dir, '20240101000000_bom', 'migration.sql'));
      expect(await tableExists(db.url, 'public._prisma_migrations')).toBe(false);
      // The bookkeeping path that Prisma also takes for such a file stores the checksum over the BOM-prefixed text.
      await resolve(db, dir, '--applied', '20240101000000_bom');
      expect((await prismaRows(db.url))[0]!.checksum).toBe(sha(withBom));
      expect(sha(withBom)).not.toBe(sha(INIT));
    });

    it('a legacy (not zero-padded) stored checksum still matches in status', async () => {
      const db = await fresh();
      const dir = await migrationsFolder({ '20240101000000_init': INIT });
      await deploy(db, dir);
      const legacy = [...Buffer.from(sha(INIT), 'hex')].map((b) => b.toString(16)).join('');
      expect(legacy.length).toBeLessThan(64);
      await db.query('UPDATE _prisma_migrations SET checksum = $1', [legacy]);
      const st = await status(db, dir, '--json');
      expect(st.code).toBe(0);
      expect(JSON.parse(st.stdout).data.counts.modified).toBe(0);
      await db.query('UPDATE _prisma_migrations SET checksum = $1', [legacy.slice(0, -1) + (legacy.endsWith('0') ? '1' : '0')]);
      expect(JSON.parse((await status(db, dir, '--json')).stdout).data.counts.modified).toBe(1);
    });
  });
});
