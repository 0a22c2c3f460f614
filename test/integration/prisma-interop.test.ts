// Interoperability with Prisma's own migration engine (@prisma/schema-engine-wasm 7.10, the Rust
// bookkeeping code of Prisma 7.10, via test/helpers/prisma-engine.ts): Prisma and dbops take turns on
// the same PostgreSQL database, in either order, and each accepts what the other wrote in
// _prisma_migrations. Where the engine differs from the spec (prisma-migrate-spec.md), the test pins
// what the engine really does and says so in a comment.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { dbops } from '../helpers/cli.ts';
import { createDatabase, type TestDb } from '../helpers/db.ts';
import { migrationsFolder, prismaRows, sha, tableExists, UUID_V4, writeMigration, type Row } from '../helpers/migrations.ts';
import { ColumnTypeEnum } from '@prisma/driver-adapter-utils';
import { openPrismaEngine, prismaPgAdapterFactory, type PrismaEngine, type PrismaEngineError } from '../helpers/prisma-engine.ts';

const M1 = '20240101000000_init';
const M2 = '20240102000000_post';
const M3 = '20240103000000_tag';
const BAD = '20240102000000_bad';
const SQL: Record<string, string> = {
  [M1]: 'CREATE TABLE "User"(id int PRIMARY KEY, name text);\n',
  [M2]: '-- two statements, one migration\nCREATE TABLE "Post"(id int, "userId" int REFERENCES "User"(id));\nCREATE INDEX "Post_userId_idx" ON "Post"("userId");\n',
  [M3]: 'CREATE TABLE "Tag"(id int);\n',
};
const FAILING = 'CREATE TABLE "Half"(id int);\nSELECT 1/0;\n';
const FIXED = 'CREATE TABLE "Fixed"(id int);\n';

const dbs: TestDb[] = [];
const engines: PrismaEngine[] = [];

afterEach(async () => {
  const open = dbs.splice(0);
  const closing = engines.splice(0);
  try {
    // Between calls neither side may leave a connection (or Prisma's session advisory lock) behind.
    for (const db of open) expect(await otherBackends(db)).toBe(0);
  } finally {
    await Promise.all(closing.map((e) => e.close()));
    await Promise.all(open.map((d) => d.drop()));
  }
});

/**
 * Whether a session still holds Prisma's migration advisory lock (72707369) once closed connections are
 * gone: a backend releases its locks a moment after its client disconnects, so this waits up to 2 s.
 */
async function advisoryLockHeld(db: TestDb): Promise<boolean> {
  for (let i = 0; ; i++) {
    const [r] = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = 72707369 AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    );
    if (r!.n === 0 || i >= 20) return r!.n > 0;
    await new Promise((res) => setTimeout(res, 100));
  }
}

async function otherBackends(db: TestDb): Promise<number> {
  for (let i = 0; ; i++) {
    const [r] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
    if (r!.n === 0 || i >= 20) return r!.n;
    await new Promise((res) => setTimeout(res, 100));
  }
}

/** A fresh database and one Prisma engine for it. */
async function fresh(label: string): Promise<{ db: TestDb; prisma: PrismaEngine }> {
  const db = await createDatabase(`interop_${label}`);
  dbs.push(db);
  const prisma = await openPrismaEngine(db.url);
  engines.push(prisma);
  return { db, prisma };
}

const folder = (...names: string[]) => migrationsFolder(Object.fromEntries(names.map((n) => [n, SQL[n]!])));

const deploy = (db: TestDb, dir: string) => dbops(['migrate', 'deploy', '--database-url', db.url, '--migrations-dir', dir]);
const resolve = (db: TestDb, dir: string, ...args: string[]) => dbops(['migrate', 'resolve', '--database-url', db.url, '--migrations-dir', dir, ...args]);
async function status(db: TestDb, dir: string) {
  const run = await dbops(['migrate', 'status', '--database-url', db.url, '--migrations-dir', dir, '--json']);
  const data = JSON.parse(run.stdout).data as {
    history: string;
    counts: Record<string, number>;
    migrations: Array<{ name: string; state: string; modified: boolean }>;
  };
  return {
    code: run.code,
    data,
    states: Object.fromEntries(data.migrations.map((m) => [m.name, m.state])),
    modified: data.migrations.filter((m) => m.modified).map((m) => m.name),
  };
}

/** Runs `fn`, which must throw a Prisma engine error; returns it. */
async function engineError(fn: () => Promise<unknown>): Promise<PrismaEngineError> {
  try {
    await fn();
  } catch (e) {
    expect((e as Error).name).toBe('PrismaEngineError');
    return e as PrismaEngineError;
  }
  throw new Error('expected Prisma’s engine to refuse');
}

const CLEAN = { editedMigrationNames: [], failedMigrationNames: [], hasMigrationsTable: true, history: null };

/** A row without the columns that legitimately differ (id, timestamps); logs reduced to null / '' / text. */
const shape = (r: Row) => ({
  migration_name: r.migration_name,
  checksum: r.checksum,
  applied_steps_count: r.applied_steps_count,
  logs: r.logs === null || r.logs === '' ? r.logs : 'text',
  finished: r.finished_at !== null,
  rolled_back: r.rolled_back_at !== null,
});

const micros = (pgText: string) => {
  // '2026-11-24 00:39:08.211+00' → µs since epoch, exact (Date.parse would drop the µs).
  const m = /^(.+?)(?:\.(\d+))?([+-]\d\d)$/.exec(pgText)!;
  return BigInt(Date.parse(`${m[1]!.replace(' ', 'T')}${m[3]}:00`)) * 1000n + BigInt((m[2] ?? '').padEnd(6, '0'));
};

function expectWellFormed(rows: Row[]) {
  for (const r of rows) {
    expect(r.id).toMatch(UUID_V4);
    if (r.finished_at !== null) expect(micros(r.finished_at)).toBeGreaterThanOrEqual(micros(r.started_at));
  }
}

describe('Prisma engine ⇄ dbops on the same database', () => {
  it('1. Prisma first, dbops second', async () => {
    const { db, prisma } = await fresh('prisma_first');
    const dir = await folder(M1, M2);
    expect(await prisma.deploy(dir)).toEqual([M1, M2]);
    expect(await advisoryLockHeld(db)).toBe(false); // released, as when the Prisma CLI's engine exits

    const st = await status(db, dir);
    expect(st.code).toBe(0);
    expect(st.data.history).toBe('up-to-date');
    expect(st.states).toEqual({ [M1]: 'applied', [M2]: 'applied' });
    expect(st.modified).toEqual([]);

    await writeMigration(dir, M3, SQL[M3]!);
    const run = await deploy(db, dir);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`Applying migration \`${M3}\``);
    expect(run.stdout).not.toContain(`Applying migration \`${M1}\``);
    expect(run.stdout).not.toContain(`Applying migration \`${M2}\``);
    expect(await tableExists(db.url, 'public."Tag"')).toBe(true);

    expect(await prisma.diagnose(dir)).toEqual(CLEAN);
    expect(await prisma.deploy(dir)).toEqual([]);
    const rows = await prismaRows(db.url);
    expect(rows.map(shape)).toEqual(
      [M1, M2, M3].map((n) => ({ migration_name: n, checksum: sha(SQL[n]!), applied_steps_count: 1, logs: null, finished: true, rolled_back: false })),
    );
    expectWellFormed(rows);
  });

  it('2. dbops first, Prisma second', async () => {
    const { db, prisma } = await fresh('dbops_first');
    const dir = await folder(M1, M2);
    expect((await deploy(db, dir)).code).toBe(0);

    expect(await prisma.diagnose(dir)).toEqual(CLEAN);
    await writeMigration(dir, M3, SQL[M3]!);
    expect(await prisma.diagnose(dir)).toEqual({ ...CLEAN, history: { diagnostic: 'databaseIsBehind', unappliedMigrationNames: [M3] } });
    expect(await prisma.deploy(dir)).toEqual([M3]);
    expect(await tableExists(db.url, 'public."Tag"')).toBe(true);
    expect(await prisma.deploy(dir)).toEqual([]);

    const st = await status(db, dir);
    expect(st.code).toBe(0);
    expect(st.data.history).toBe('up-to-date');
    expect(st.states).toEqual({ [M1]: 'applied', [M2]: 'applied', [M3]: 'applied' });
    const again = await deploy(db, dir);
    expect([again.code, again.stdout]).toEqual([0, expect.stringContaining('No pending migrations to apply.')]);
    expect((await prismaRows(db.url)).map((r) => r.migration_name)).toEqual([M1, M2, M3]);
  });

  it('3. rows (and the table) written by Prisma and by dbops are indistinguishable', async () => {
    const a = await fresh('rows_prisma');
    const b = await fresh('rows_dbops');
    const dir = await folder(M1, M2);
    expect(await a.prisma.deploy(dir)).toEqual([M1, M2]);
    expect((await deploy(b.db, dir)).code).toBe(0);

    const rowsA = await prismaRows(a.db.url);
    const rowsB = await prismaRows(b.db.url);
    const expected = [M1, M2].map((n) => ({
      migration_name: n,
      checksum: sha(SQL[n]!),
      applied_steps_count: 1,
      logs: null,
      finished: true,
      rolled_back: false,
    }));
    expect(rowsA.map(shape)).toEqual(expected);
    expect(rowsB.map(shape)).toEqual(expected);
    const exact = ({ id: _id, started_at: _s, finished_at: _f, ...rest }: Row) => rest;
    expect(rowsB.map(exact)).toEqual(rowsA.map(exact));
    expectWellFormed([...rowsA, ...rowsB]);

    const ddl = (db: TestDb) =>
      db.query(`SELECT column_name, data_type, character_maximum_length, is_nullable, column_default, ordinal_position
                  FROM information_schema.columns WHERE table_schema = 'public' AND table_name = '_prisma_migrations' ORDER BY ordinal_position`);
    const constraints = (db: TestDb) =>
      db.query(`SELECT conname, contype, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = 'public._prisma_migrations'::regclass`);
    expect(await ddl(b.db)).toEqual(await ddl(a.db));
    expect(await constraints(b.db)).toEqual(await constraints(a.db));
  });

  describe('4. failure handoff', () => {
    /** The history Prisma alone leaves: fail, resolve --rolled-back, fix, deploy. */
    async function prismaOnlyHistory() {
      const { db, prisma } = await fresh('fail_reference');
      const dir = await migrationsFolder({ [M1]: SQL[M1]!, [BAD]: FAILING });
      await engineError(() => prisma.deploy(dir));
      await prisma.markRolledBack(BAD);
      await writeFile(join(dir, BAD, 'migration.sql'), FIXED);
      expect(await prisma.deploy(dir)).toEqual([BAD]);
      return (await prismaRows(db.url)).map(shape);
    }
    const finalShape = [
      { migration_name: M1, checksum: sha(SQL[M1]!), applied_steps_count: 1, logs: null, finished: true, rolled_back: false },
      { migration_name: BAD, checksum: sha(FAILING), applied_steps_count: 0, logs: 'text', finished: false, rolled_back: true },
      { migration_name: BAD, checksum: sha(FIXED), applied_steps_count: 1, logs: null, finished: true, rolled_back: false },
    ];

    it('dbops records the failure → Prisma refuses (P3009), rolls it back → dbops applies the fix', async () => {
      const { db, prisma } = await fresh('fail_dbops');
      const dir = await migrationsFolder({ [M1]: SQL[M1]!, [BAD]: FAILING });
      const failed = await deploy(db, dir);
      expect([failed.code, failed.stderr]).toEqual([1, expect.stringContaining('Error: P3018')]);
      expect(failed.stderr).toContain('Database error code: 22012');

      expect(await prisma.diagnose(dir)).toEqual({ ...CLEAN, failedMigrationNames: [BAD] });
      const p3009 = await engineError(() => prisma.deploy(dir));
      expect(p3009.code).toBe('P3009');
      const [failedRow] = (await prismaRows(db.url)).filter((r) => r.migration_name === BAD);
      expect(p3009.message).toContain('migrate found failed migrations in the target database, new migrations will not be applied.');
      expect(p3009.message).toMatch(new RegExp(`The \`${BAD}\` migration started at \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d(\\.\\d+)? UTC failed`));
      // dbops refuses with the same text for the same row (chrono timestamp formatting included).
      const dbopsP3009 = await deploy(db, dir);
      expect([dbopsP3009.code, dbopsP3009.stderr]).toEqual([1, expect.stringContaining('Error: P3009')]);
      expect(dbopsP3009.stderr).toContain(p3009.message.replace(/^P3009: /, '').trimEnd());

      await prisma.markRolledBack(BAD);
      const rolled = (await prismaRows(db.url)).find((r) => r.id === failedRow!.id)!;
      expect(rolled.rolled_back_at).not.toBeNull();
      expect({ ...rolled, rolled_back_at: null }).toEqual(failedRow);
      // Prisma 7.10 (PR #5817): a rolled-back migration is pending again; dbops agrees.
      expect(await prisma.diagnose(dir)).toEqual({ ...CLEAN, history: { diagnostic: 'databaseIsBehind', unappliedMigrationNames: [BAD] } });
      const st = await status(db, dir);
      expect([st.data.history, st.states[BAD]]).toEqual(['database-is-behind', 'rolled-back']);

      await writeFile(join(dir, BAD, 'migration.sql'), FIXED);
      const fixed = await deploy(db, dir);
      expect([fixed.code, fixed.stdout]).toEqual([0, expect.stringContaining(`Applying migration \`${BAD}\``)]);
      expect(await tableExists(db.url, 'public."Half"')).toBe(false);
      expect(await tableExists(db.url, 'public."Fixed"')).toBe(true);

      const rows = await prismaRows(db.url);
      expect(rows.map(shape)).toEqual(finalShape);
      expect(rows.map(shape)).toEqual(await prismaOnlyHistory());
      expectWellFormed(rows);
      expect(await prisma.diagnose(dir)).toEqual(CLEAN);
      expect(await prisma.deploy(dir)).toEqual([]);
    });

    it('Prisma records the failure → dbops refuses (P3009), rolls it back → Prisma applies the fix', async () => {
      const { db, prisma } = await fresh('fail_prisma');
      const dir = await migrationsFolder({ [M1]: SQL[M1]!, [BAD]: FAILING });
      const applyError = await engineError(() => prisma.deploy(dir));
      // Spec §4.7 says P3018. The WASM engine over a driver adapter reports the database error as an
      // uncoded "external connector error" (the SQLSTATE is lost), and writes that text to logs.
      expect(applyError.code).toBeNull();
      expect(applyError.message).toMatch(/^external connector error\nError querying the database: ERROR: division by zero/);
      const [failedRow] = (await prismaRows(db.url)).filter((r) => r.migration_name === BAD);
      expect(shape(failedRow!)).toEqual({
        migration_name: BAD,
        checksum: sha(FAILING),
        applied_steps_count: 0,
        logs: 'text',
        finished: false,
        rolled_back: false,
      });
      expect(failedRow!.logs).toMatch(/^external connector error\n/);
      // One simple query per script (helper workaround): the failed migration left nothing behind.
      expect(await tableExists(db.url, 'public."Half"')).toBe(false);

      const st = await status(db, dir);
      expect([st.code, st.states[BAD]]).toEqual([1, 'failed']);
      const prismaP3009 = await engineError(() => prisma.deploy(dir));
      expect(prismaP3009.code).toBe('P3009');
      const blocked = await deploy(db, dir);
      expect([blocked.code, blocked.stderr]).toEqual([1, expect.stringContaining('Error: P3009')]);
      // Same text as Prisma's own P3009 for this row (timestamp formatting included).
      expect(blocked.stderr).toContain(prismaP3009.message.replace(/^P3009: /, '').trimEnd());
      // The hint quotes the server's error from the row Prisma wrote, not the driver's wrapper text.
      expect(blocked.stderr).toContain(`Recorded error of \`${BAD}\`: ERROR: division by zero`);
      expect(await prismaRows(db.url)).toHaveLength(2);

      const resolved = await resolve(db, dir, '--rolled-back', BAD);
      expect([resolved.code, resolved.stdout]).toEqual([0, expect.stringContaining(`Migration ${BAD} marked as rolled back.`)]);
      const rolled = (await prismaRows(db.url)).find((r) => r.id === failedRow!.id)!;
      expect(rolled.rolled_back_at).not.toBeNull();
      expect({ ...rolled, rolled_back_at: null }).toEqual(failedRow);
      expect(await prisma.diagnose(dir)).toEqual({ ...CLEAN, history: { diagnostic: 'databaseIsBehind', unappliedMigrationNames: [BAD] } });

      await writeFile(join(dir, BAD, 'migration.sql'), FIXED);
      expect(await prisma.deploy(dir)).toEqual([BAD]);
      expect(await tableExists(db.url, 'public."Fixed"')).toBe(true);

      const rows = await prismaRows(db.url);
      expect(rows.map(shape)).toEqual(finalShape);
      expectWellFormed(rows);
      const after = await status(db, dir);
      expect([after.code, after.data.history, after.states]).toEqual([0, 'up-to-date', { [M1]: 'applied', [BAD]: 'applied' }]);
    });
  });

  it('5. resolve --applied (baselining): Prisma and dbops write equivalent rows and each deploy skips the other’s', async () => {
    const a = await fresh('baseline_prisma');
    const b = await fresh('baseline_dbops');
    const dir = await folder(M1, M2);
    for (const { db, prisma } of [a, b]) {
      await db.query(SQL[M1]!); // the existing production schema
      expect((await engineError(() => prisma.deploy(dir))).code).toBe('P3005');
      expect((await deploy(db, dir)).stderr).toContain('Error: P3005');
      expect(await tableExists(db.url, 'public._prisma_migrations')).toBe(false);
    }

    await a.prisma.markApplied(dir, M1);
    const marked = await resolve(b.db, dir, '--applied', M1);
    expect([marked.code, marked.stdout]).toEqual([0, expect.stringContaining(`Migration ${M1} marked as applied.`)]);

    const [rowA] = await prismaRows(a.db.url);
    const [rowB] = await prismaRows(b.db.url);
    const baseline = { migration_name: M1, checksum: sha(SQL[M1]!), applied_steps_count: 0, logs: '', finished: true, rolled_back: false };
    expect(shape(rowA!)).toEqual(baseline);
    expect(shape(rowB!)).toEqual(baseline);
    for (const r of [rowA!, rowB!]) {
      expect(r.id).toMatch(UUID_V4);
      expect(r.finished_at).toBe(r.started_at);
    }

    // Each side's refusal to mark it twice, on the other side's row (P3008).
    expect((await engineError(() => b.prisma.markApplied(dir, M1))).code).toBe('P3008');
    expect((await resolve(a.db, dir, '--applied', M1)).stderr).toContain('Error: P3008');

    const dbopsDeploy = await deploy(a.db, dir);
    expect(dbopsDeploy.code).toBe(0);
    expect(dbopsDeploy.stdout).toContain(`Applying migration \`${M2}\``);
    expect(dbopsDeploy.stdout).not.toContain(`Applying migration \`${M1}\``);
    expect(await b.prisma.deploy(dir)).toEqual([M2]);

    for (const { db, prisma } of [a, b]) {
      const rows = await prismaRows(db.url);
      expect(rows.map(shape)).toEqual([
        baseline,
        { migration_name: M2, checksum: sha(SQL[M2]!), applied_steps_count: 1, logs: null, finished: true, rolled_back: false },
      ]);
      expect(rows[1]!.rolled_back_at).toBeNull();
      expect(await prisma.diagnose(dir)).toEqual(CLEAN);
      expect(await prisma.deploy(dir)).toEqual([]);
      const st = await status(db, dir);
      expect([st.code, st.data.history]).toEqual([0, 'up-to-date']);
    }
  });

  describe('6. an edited applied file is detected by both; a line-ending change by neither', () => {
    const toCrlf = (s: string) => s.replaceAll('\n', '\r\n');
    it.each([
      { appliedBy: 'prisma', eol: 'LF' },
      { appliedBy: 'dbops', eol: 'LF' },
      { appliedBy: 'prisma', eol: 'CRLF' },
      { appliedBy: 'dbops', eol: 'CRLF' },
    ] as const)('applied by $appliedBy with $eol line endings', async ({ appliedBy, eol }) => {
      const { db, prisma } = await fresh(`edit_${appliedBy}_${eol}`);
      const original = eol === 'LF' ? SQL[M2]! : toCrlf(SQL[M2]!);
      const dir = await migrationsFolder({ [M1]: SQL[M1]!, [M2]: original });
      if (appliedBy === 'prisma') expect(await prisma.deploy(dir)).toEqual([M1, M2]);
      else expect((await deploy(db, dir)).code).toBe(0);
      const file = join(dir, M2, 'migration.sql');
      const rowsBefore = await prismaRows(db.url);
      expect(rowsBefore[1]!.checksum).toBe(sha(original));

      // Only the line endings change (LF → CRLF, or CRLF → LF): not an edit for either.
      const flipped = eol === 'LF' ? toCrlf(original) : original.replaceAll('\r\n', '\n');
      expect(flipped).not.toBe(original);
      await writeFile(file, flipped);
      expect(await prisma.diagnose(dir)).toEqual(CLEAN);
      const st = await status(db, dir);
      expect([st.code, st.data.history, st.modified]).toEqual([0, 'up-to-date', []]);

      // A real edit: both report it (and neither deploy re-runs it).
      await writeFile(file, `${await readFile(file, 'utf8')}-- edited${eol === 'LF' ? '\r\n' : '\n'}`);
      expect(await prisma.diagnose(dir)).toEqual({ ...CLEAN, editedMigrationNames: [M2] });
      const edited = await status(db, dir);
      expect([edited.code, edited.data.history, edited.modified, edited.data.counts['modified']]).toEqual([0, 'up-to-date', [M2], 1]);
      expect(await prisma.deploy(dir)).toEqual([]);
      expect((await deploy(db, dir)).stdout).toContain('No pending migrations to apply.');
      expect(await prismaRows(db.url)).toEqual(rowsBefore);
    });
  });

  it('helper self-check: the adapter reads "char" columns and sends a script as one query', async () => {
    const { db } = await fresh('adapter');
    const adapter = await (await prismaPgAdapterFactory(db.url)).connect();
    try {
      const res = await adapter.queryRaw({ sql: `SELECT relkind, relname::text FROM pg_class WHERE relname = 'pg_class'`, args: [], argTypes: [] });
      expect(res.columnTypes).toEqual([ColumnTypeEnum.Character, ColumnTypeEnum.Text]);
      expect(res.rows).toEqual([['r', 'pg_class']]);
      // One implicit transaction: the failing second statement takes the first one with it.
      await expect(adapter.executeScript('CREATE TABLE "One"(id int); SELECT 1/0;')).rejects.toThrow();
      expect(await tableExists(db.url, 'public."One"')).toBe(false);
    } finally {
      await adapter.dispose();
    }
  });
});
