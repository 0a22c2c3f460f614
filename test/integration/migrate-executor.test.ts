// How dbops runs migrations beyond Prisma's bookkeeping: splitting, lock timeouts and retries, timeouts
// per migration, invalid indexes, and refusing bad input without changing anything or leaking secrets.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { dbops, testEnv } from '../helpers/cli.ts';
import { databasePerTest, queryUrl, urlFor } from '../helpers/db.ts';
import { migrationsFolder, PRISMA_MIGRATIONS_DDL, prismaRows, tableExists, tempDir } from '../helpers/migrations.ts';

const fresh = databasePerTest('executor');

async function policies(yaml: string): Promise<string> {
  const dir = await tempDir('dbops-policies-');
  await writeFile(join(dir, 'migrations.yaml'), yaml);
  return dir;
}

const deploy = (url: string, dir: string, ...extra: string[]) => dbops(['migrate', 'deploy', '--database-url', url, '--migrations-dir', dir, ...extra]);

describe('statements that cannot run in a transaction', () => {
  it('a failed CREATE UNIQUE INDEX CONCURRENTLY reports the INVALID index it left and how to drop it', async () => {
    const db = await fresh();
    const dir = await migrationsFolder({
      '20240101000000_data': 'CREATE TABLE "Invoice"(id int, number text);\nINSERT INTO "Invoice" VALUES (1, \'A-1\'), (2, \'A-1\');\n',
      '20240102000000_unique': '-- numbers are unique per tenant\nCREATE UNIQUE INDEX CONCURRENTLY "Invoice_number_key" ON "Invoice"(number);\n',
    });
    const run = await deploy(db.url, dir, '--json');
    expect(run.code).toBe(1);
    const out = JSON.parse(run.stdout);
    expect(out.error.code).toBe('P3018');
    expect(out.data.failed).toMatchObject({ name: '20240102000000_unique', sqlstate: '23505', mode: 'split' });
    expect(out.data.failed.invalidIndexes).toEqual([
      { schema: 'public', index: 'Invoice_number_key', table: 'Invoice', cleanup: 'DROP INDEX CONCURRENTLY IF EXISTS "public"."Invoice_number_key";' },
    ]);
    const human = await dbops(['migrate', 'status', '--database-url', db.url, '--migrations-dir', dir]);
    expect(human.stdout).toContain('FAILED');
    const [idx] = await db.query<{ indisvalid: boolean }>(`SELECT indisvalid FROM pg_index WHERE indexrelid = '"Invoice_number_key"'::regclass`);
    expect(idx!.indisvalid).toBe(false);
    const rows = await prismaRows(db.url);
    expect(rows[1]).toMatchObject({ migration_name: '20240102000000_unique', finished_at: null, applied_steps_count: 0 });
    expect(rows[1]!.logs).toContain('Database error code: 23505');
  });

  it('the human output names the invalid index and the cleanup', async () => {
    const db = await fresh();
    await db.query(`CREATE TABLE t(c int); INSERT INTO t VALUES (1), (1); ${PRISMA_MIGRATIONS_DDL}`);
    const again = await deploy(db.url, await migrationsFolder({ '20240101000000_u': 'CREATE UNIQUE INDEX CONCURRENTLY t_c ON t(c);' }));
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('left the index public.t_c on t INVALID');
    expect(again.stderr).toContain('DROP INDEX CONCURRENTLY IF EXISTS "public"."t_c";');
  });

  it('ALTER TYPE … ADD VALUE followed by its use runs in two steps and applies', async () => {
    const db = await fresh();
    const dir = await migrationsFolder({
      '20240101000000_init': `CREATE TYPE "InvoiceStatus" AS ENUM ('DRAFT', 'SENT');\nCREATE TABLE "Invoice"(id int, status "InvoiceStatus");\nINSERT INTO "Invoice" VALUES (1, 'SENT');\n`,
      '20240102000000_partially_paid': `ALTER TYPE "InvoiceStatus" ADD VALUE 'PARTIALLY_PAID';\n\nUPDATE "Invoice" SET status = 'PARTIALLY_PAID' WHERE id = 1;\n`,
    });
    const run = await deploy(db.url, dir);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("the new enum value 'PARTIALLY_PAID' is used at line 3");
    expect(await db.query('SELECT status::text FROM "Invoice"')).toEqual([{ status: 'PARTIALLY_PAID' }]);
  });

  it("a file with its own BEGIN/COMMIT (Prisma's enum rewrite) applies; a failure inside it is recorded as P3018, not 25P02", async () => {
    const db = await fresh();
    const rewrite = (extra: string) =>
      `BEGIN;\nCREATE TYPE "Role_new" AS ENUM ('OWNER', 'VIEWER');\nALTER TABLE "M" ALTER COLUMN role TYPE "Role_new" USING (role::text::"Role_new");\n${extra}ALTER TYPE "Role" RENAME TO "Role_old";\nALTER TYPE "Role_new" RENAME TO "Role";\nDROP TYPE "Role_old";\nCOMMIT;\n`;
    const dir = await migrationsFolder({
      '20240101000000_init': `CREATE TYPE "Role" AS ENUM ('OWNER', 'ADMIN', 'VIEWER');\nCREATE TABLE "M"(id int, role "Role");\nINSERT INTO "M" VALUES (1, 'OWNER');\n`,
      '20240102000000_drop_admin': rewrite(''),
    });
    expect((await deploy(db.url, dir)).code).toBe(0);
    expect(
      await db.query(
        `SELECT array_agg(e.enumlabel ORDER BY e.enumsortorder)::text AS labels FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid WHERE t.typname = 'Role'`,
      ),
    ).toEqual([{ labels: '{OWNER,VIEWER}' }]);

    const db2 = await fresh();
    const bad = await migrationsFolder({
      '20240101000000_init': `CREATE TYPE "Role" AS ENUM ('OWNER', 'ADMIN', 'VIEWER');\nCREATE TABLE "M"(id int, role "Role");\n`,
      '20240102000000_drop_admin': rewrite('SELECT 1/0;\n'),
    });
    const run = await deploy(db2.url, bad);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('Database error code: 22012');
    const rows = await prismaRows(db2.url);
    expect(rows[1]!.logs).toContain('division by zero');
    // The file's own transaction rolled back: the type rewrite left nothing behind.
    expect(await tableExists(db2.url, 'public."M"')).toBe(true);
    expect(await db2.query(`SELECT count(*)::int AS n FROM pg_type WHERE typname = 'Role_new'`)).toEqual([{ n: 0 }]);
  });
});

describe('lock_timeout, retries and statement_timeout from policy', () => {
  const FAST = 'version: 1\nexecutor:\n  lock_timeout: 200ms\n  lock_retries: 6\n  retry_backoff: 150ms\n  retry_backoff_max: 300ms\n';

  async function blockedDatabase() {
    const db = await fresh();
    await deploy(db.url, await migrationsFolder({ '20240101000000_init': 'CREATE TABLE "Payment"(id int);' }));
    const holder = new pg.Client({ connectionString: db.url, application_name: 'nightly-report' });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT count(*) FROM "Payment"'); // ACCESS SHARE until commit: blocks ALTER TABLE
    const [{ pid }] = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows as [{ pid: number }];
    const dir = await migrationsFolder({
      '20240101000000_init': 'CREATE TABLE "Payment"(id int);',
      '20240102000000_amount': 'ALTER TABLE "Payment" ADD COLUMN amount numeric(19,4);',
    });
    return { db, holder, pid, dir };
  }

  it('retries on lock timeout, names the blocking session, and applies once the lock is released', async () => {
    const { db, holder, pid, dir } = await blockedDatabase();
    const release = setTimeout(() => void holder.query('COMMIT'), 700);
    try {
      const run = await deploy(db.url, dir, '--policies-dir', await policies(FAST));
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/lock_timeout hit; retry 1\/6 in \d+ ms; blocked by pid \d+ \(user postgres, nightly-report, idle in transaction/);
      expect(run.stdout).toContain(`pid ${pid}`);
      expect(run.stdout).toMatch(/applied in .* after \d+ lock retr/);
      const rows = await prismaRows(db.url);
      expect(rows.map((r) => [r.migration_name, r.finished_at !== null])).toEqual([
        ['20240101000000_init', true],
        ['20240102000000_amount', true],
      ]);
    } finally {
      clearTimeout(release);
      await holder.end();
    }
  });

  it('a migration that gets its lock within lock_timeout still says whom it waited for', async () => {
    const { db, holder, pid, dir } = await blockedDatabase();
    try {
      const running = deploy(db.url, dir, '--policies-dir', await policies('version: 1\nexecutor:\n  lock_timeout: 5s\n'), '--json');
      // Release only once the deploy is seen waiting, and keep it waiting for a while.
      for (let waiting = false; !waiting; await new Promise((r) => setTimeout(r, 20))) {
        // This database's waits only: other test files wait for locks on the same server.
        waiting =
          (
            await db.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
            )
          )[0]!.n > 0;
      }
      await new Promise((r) => setTimeout(r, 500));
      await holder.query('COMMIT');
      const run = await running;
      expect(run.code).toBe(0);
      const [amount] = JSON.parse(run.stdout).data.applied;
      expect(amount).toMatchObject({
        name: '20240102000000_amount',
        lockRetries: 0,
        blockers: [{ pid, application: 'nightly-report', state: 'idle in transaction' }],
      });
      expect(amount.durationMs).toBeGreaterThanOrEqual(500);
    } finally {
      await holder.end();
    }
  });

  it('gives up with exit 3 after the last retry, names the blocker, and records nothing', async () => {
    const { db, holder, pid, dir } = await blockedDatabase();
    try {
      const run = await deploy(db.url, dir, '--policies-dir', await policies(FAST.replace('lock_retries: 6', 'lock_retries: 2')));
      expect(run.code).toBe(3);
      expect(run.stderr).toContain('Lock timeout: `20240102000000_amount` was not applied.');
      expect(run.stderr).toContain('Database error code: 55P03');
      expect(run.stderr).toContain(`blocked by pid ${pid}`);
      expect(run.stderr).toContain('nothing was recorded');
      expect((await prismaRows(db.url)).map((r) => r.migration_name)).toEqual(['20240101000000_init']);
      expect(await db.query(`SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'Payment' AND column_name = 'amount'`)).toEqual([
        { n: 0 },
      ]);
    } finally {
      await holder.end();
    }
    // Nothing to resolve: the next deploy simply applies it.
    expect((await deploy(db.url, dir)).code).toBe(0);
  });

  it('statement_timeout applies per migration, and an override raises it for one migration', async () => {
    const db = await fresh();
    const dir = await migrationsFolder({ '20240101000000_backfill': 'CREATE TABLE t(id int);\nSELECT pg_sleep(0.6);\n' });
    const strict = await policies('version: 1\nexecutor:\n  statement_timeout: 200ms\n');
    const run = await deploy(db.url, dir, '--policies-dir', strict);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('Database error code: 57014');
    expect(await tableExists(db.url, 'public.t')).toBe(false);

    const db2 = await fresh();
    const relaxed = await policies(
      'version: 1\nexecutor:\n  statement_timeout: 200ms\n  overrides:\n    20240101000000_backfill:\n      statement_timeout: 5s\n',
    );
    expect((await deploy(db2.url, dir, '--policies-dir', relaxed)).code).toBe(0);
  });
});

describe('bad input: a clear message, the right exit code, nothing changed, no password anywhere', () => {
  const SECRET = 'Wr0ng:p@ss/w%rd!';
  const enc = encodeURIComponent(SECRET);

  function expectNoSecret(text: string) {
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(enc);
  }

  it('unreachable host → P1001, exit 3', async () => {
    const dir = await migrationsFolder({ '20240101000000_init': 'SELECT 1;' });
    for (const flags of [[], ['--json'], ['--verbose']]) {
      const run = await deploy(`postgresql://app:${enc}@127.0.0.1:1/astro`, dir, ...flags);
      expect(run.code).toBe(3);
      expect(run.all).toContain('P1001');
      expect(run.all).toContain("Can't reach database server at `127.0.0.1:1`");
      expectNoSecret(run.all);
    }
  });

  it('wrong password → P1000, exit 3, and neither the wrong nor any password is printed', async () => {
    const url = new URL(urlFor('postgres'));
    url.password = enc;
    const run = await dbops(['migrate', 'status', '--database-url', url.toString(), '--migrations-dir', await migrationsFolder({}), '--verbose']);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('Error: P1000');
    expect(run.stderr).toContain('Authentication failed');
    expectNoSecret(run.all);
  });

  it('missing database → P1003, exit 3, not created', async () => {
    const run = await deploy(urlFor('astro_does_not_exist'), await migrationsFolder({ '20240101000000_init': 'SELECT 1;' }));
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('Database `astro_does_not_exist` does not exist');
    expect(run.stderr).toContain('createdb');
    expect(await queryUrl(urlFor('postgres'), `SELECT 1 FROM pg_database WHERE datname = 'astro_does_not_exist'`)).toEqual([]);
  });

  it('invalid policy YAML → exit 2 listing every error with file, line and key; the database is untouched', async () => {
    const db = await fresh();
    const dir = await policies('version: 1\nexecutor:\n  lock_timeout: forever\n  retries: 3\n');
    const run = await deploy(db.url, await migrationsFolder({ '20240101000000_init': 'CREATE TABLE t(id int);' }), '--policies-dir', dir);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`${join(dir, 'migrations.yaml')}:3: executor.lock_timeout: expected a duration`);
    expect(run.stderr).toContain(`${join(dir, 'migrations.yaml')}:4: executor.retries: unknown key`);
    expect(await tableExists(db.url, 'public._prisma_migrations')).toBe(false);
  });

  it('DATABASE_URL from the environment is used, and its password never printed even on failure', async () => {
    const run = await dbops(
      ['migrate', 'deploy', '--migrations-dir', await migrationsFolder({ '20240101000000_init': 'SELECT 1;' })],
      testEnv({ DATABASE_URL: `postgresql://app:${enc}@127.0.0.1:1/astro?schema=s` }),
    );
    expect(run.code).toBe(3);
    expectNoSecret(run.all);
  });
});
