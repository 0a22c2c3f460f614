// The deploy engine on a real database: apply, verify, automatic rollback by the paired scripts, and the
// restore command when the schema cannot be brought back.
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../pipeline/core/logger.ts';
import { parseDatabaseUrl } from '../../pipeline/infra/db/url.ts';
import { executeDeploy, type EngineRequest } from '../../pipeline/change/release/engine.ts';
import { EnvironmentPolicy } from '../../pipeline/policy/environments.ts';
import { ExecutorPolicy } from '../../pipeline/policy/schema.ts';
import { readMigrationsFolder } from '../../pipeline/change/migrations/folder.ts';
import { openSession, type Session } from '../../pipeline/change/migrations/history.ts';
import { databasePerTest, type TestDb } from '../helpers/db.ts';
import { deployFixture, type DeployFixture } from '../helpers/environments.ts';
import { prismaRows, tableExists } from '../helpers/migrations.ts';
import { dbops } from '../helpers/cli.ts';

const fresh = databasePerTest('deploy');

const M1 = '20260101000000_ledger';
const M2 = '20260102000000_ledger_index';
const M3 = '20260103000000_audit';

const executor = ExecutorPolicy.parse({ lock_timeout: '2s', lock_retries: 1, retry_backoff: '50ms', retry_backoff_max: '100ms', advisory_lock_timeout: '5s' });

async function engine(fx: DeployFixture, db: TestDb, policy: Record<string, unknown> = {}) {
  const s = await openSession(parseDatabaseUrl(db.url), silentLogger(), 'dbops deploy');
  const lines: string[] = [];
  const io = { progress: (l: string) => lines.push(l), signal: new AbortController().signal };
  const req = async (): Promise<EngineRequest> => ({
    environment: { name: 'production', policy: EnvironmentPolicy.parse({ database_url_env: 'PRODUCTION_DATABASE_URL', ...policy }) },
    local: (await readMigrationsFolder(fx.migrationsDir)).migrations,
    rollbacksDir: fx.rollbacksDir,
    executor,
    restore: { backup: { id: '20260101T000000Z-pre-deploy-abc', target: 'server' }, urlEnv: 'PRODUCTION_DATABASE_URL', policiesDir: fx.policiesDir },
  });
  return { s, lines, io, req };
}

async function withSession<T>(s: Session, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } finally {
    await s.close();
  }
}

const base = {
  [M1]: 'CREATE TABLE "Ledger"(id int PRIMARY KEY, amount numeric NOT NULL);\n',
};
const baseRollback = { [M1]: 'DROP TABLE "Ledger";\n' };

describe('deploy engine', () => {
  it('applies the pending migrations Prisma-compatibly and runs the smoke queries', async () => {
    const db = await fresh();
    const fx = await deployFixture({
      urls: { production: db.url },
      migrations: { ...base, [M2]: 'CREATE INDEX "Ledger_amount_idx" ON "Ledger"(amount);\n' },
      rollbacks: { ...baseRollback, [M2]: 'DROP INDEX "Ledger_amount_idx";\n' },
    });
    const { s, io, req, lines } = await engine(fx, db, {
      smoke: [
        { name: 'ledger readable', sql: 'SELECT count(*) FROM "Ledger"', expect: 'rows' },
        { name: 'no negative', sql: 'SELECT 1 FROM "Ledger" WHERE amount < 0', expect: 'no-rows' },
      ],
    });
    const r = await withSession(s, async () => executeDeploy(s, await req(), io));
    expect(r.outcome).toBe('succeeded');
    expect(r.steps.map((x) => [x.name, x.action, x.outcome])).toEqual([
      [M1, 'apply', 'applied'],
      [M2, 'apply', 'applied'],
    ]);
    expect(r.smoke.map((x) => [x.name, x.ok, x.rows])).toEqual([
      ['ledger readable', true, 1],
      ['no negative', true, 0],
    ]);
    expect(r.finalState).toMatchObject({ applied: [M1, M2], pending: [], failed: [], equalsBefore: false });
    expect(r.restoreCommand).toBeNull();
    const rows = await prismaRows(db.url);
    expect(rows.map((x) => [x.migration_name, x.applied_steps_count, x.finished_at !== null, x.rolled_back_at])).toEqual([
      [M1, 1, true, null],
      [M2, 1, true, null],
    ]);
    expect(lines).toContain(`Applying migration \`${M1}\``);
    // Prisma's advisory lock is released when the engine is done (only the deploy lock spans the command).
    expect(
      await db.query(
        `SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = 72707369 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      ),
    ).toEqual([]);
  });

  it('a failing second migration: the first is rolled back by its script and marked rolled back; the schema equals the pre-deploy fingerprint', async () => {
    const db = await fresh();
    const fx = await deployFixture({ urls: { production: db.url }, migrations: base, rollbacks: baseRollback });
    // An existing applied history, so "before" is not an empty schema.
    const first = await engine(fx, db);
    expect((await withSession(first.s, async () => executeDeploy(first.s, await first.req(), first.io))).outcome).toBe('succeeded');

    await fx.addMigrations(
      {
        [M2]: 'ALTER TABLE "Ledger" ADD COLUMN currency text;\nCREATE INDEX "Ledger_currency_idx" ON "Ledger"(currency);\n',
        [M3]: 'CREATE TABLE "Audit"(id int);\nSELECT 1/0;\n',
      },
      { [M2]: 'DROP INDEX "Ledger_currency_idx";\nALTER TABLE "Ledger" DROP COLUMN currency;\n', [M3]: 'DROP TABLE "Audit";\n' },
    );
    const { s, io, req } = await engine(fx, db);
    const r = await withSession(s, async () => executeDeploy(s, await req(), io));
    expect(r.outcome).toBe('failed-rolled-back');
    expect(r.steps.map((x) => [x.name, x.action, x.outcome])).toEqual([
      [M2, 'apply', 'applied'],
      [M3, 'apply', 'failed'],
      [M3, 'rollback', 'rolled-back'],
      [M2, 'rollback', 'rolled-back'],
    ]);
    expect(r.steps[1]!.error).toContain('division by zero');
    expect(r.finalState).toMatchObject({ applied: [M1], pending: [M2, M3], failed: [], equalsBefore: true });
    expect(r.finalState.fingerprintAfter).toBe(r.finalState.fingerprintBefore);
    expect(r.restoreCommand).toBeNull();
    expect(r.failure?.message).toContain('division by zero');

    const rows = await prismaRows(db.url);
    const of = (name: string) => rows.filter((x) => x.migration_name === name);
    expect(of(M2)).toHaveLength(1);
    expect(of(M2)[0]!.finished_at).not.toBeNull(); // it had been applied …
    expect(of(M2)[0]!.rolled_back_at).not.toBeNull(); // … and is marked rolled back, as resolve --rolled-back marks rows
    expect(of(M3)[0]).toMatchObject({ finished_at: null });
    expect(of(M3)[0]!.rolled_back_at).not.toBeNull();
    expect(await tableExists(db.url, 'public."Audit"')).toBe(false);
    expect(await db.query(`SELECT column_name FROM information_schema.columns WHERE table_name = 'Ledger' ORDER BY 1`)).toEqual([
      { column_name: 'amount' },
      { column_name: 'id' },
    ]);

    // `dbops migrate status` sees both as pending again, and the next deploy (with the fix) applies them.
    const status = await dbops(['migrate', 'status', '--database-url', db.url, '--migrations-dir', fx.migrationsDir], fx.env);
    expect(status.code).toBe(1);
    expect(status.stdout).toContain(M2);
    expect(status.stdout).toContain(M3);
    await fx.addMigrations({ [M3]: 'CREATE TABLE "Audit"(id int);\n' }, { [M3]: 'DROP TABLE "Audit";\n' });
    const again = await engine(fx, db);
    const fixed = await withSession(again.s, async () => executeDeploy(again.s, await again.req(), again.io));
    expect(fixed.outcome).toBe('succeeded');
    expect(fixed.finalState.applied).toEqual([M1, M2, M3]);
  });

  it('an irreversible migration among those applied: no rollback script runs, and the restore command is given', async () => {
    const db = await fresh();
    const fx = await deployFixture({
      urls: { production: db.url },
      migrations: { ...base, [M2]: 'ALTER TABLE "Ledger" DROP COLUMN amount;\n', [M3]: 'SELECT 1/0;\n' },
      rollbacks: {
        ...baseRollback,
        [M2]: '-- dbops:irreversible drops "Ledger"."amount" with its data\nALTER TABLE "Ledger" ADD COLUMN amount numeric;\n',
        [M3]: 'SELECT 1;\n',
      },
    });
    const { s, io, req } = await engine(fx, db);
    const r = await withSession(s, async () => executeDeploy(s, await req(), io));
    expect(r.outcome).toBe('failed');
    expect(r.steps.filter((x) => x.action === 'rollback').map((x) => [x.name, x.outcome])).toEqual([
      [M3, 'rolled-back'],
      [M2, 'not-run'],
    ]);
    expect(r.steps.find((x) => x.name === M2 && x.action === 'rollback')!.error).toContain('irreversible');
    expect(r.finalState).toMatchObject({ applied: [M1, M2], equalsBefore: false });
    expect(r.restoreCommand).toBe(
      `dbops backup restore 20260101T000000Z-pre-deploy-abc --target server --target-url "$PRODUCTION_DATABASE_URL" --force --policies-dir ${fx.policiesDir}`,
    );
    expect(r.failure?.message).toContain(`\`${M2}\``);
    // M1 was not rolled back either: one impossible rollback means none runs.
    expect(await tableExists(db.url, 'public."Ledger"')).toBe(true);
  });

  it('on_failure stop leaves what was applied and gives the restore command', async () => {
    const db = await fresh();
    const fx = await deployFixture({ urls: { production: db.url }, migrations: { ...base, [M2]: 'SELECT 1/0;\n' }, rollbacks: baseRollback });
    const { s, io, req } = await engine(fx, db, { on_failure: 'stop' });
    const r = await withSession(s, async () => executeDeploy(s, await req(), io));
    expect(r.outcome).toBe('failed');
    expect(r.steps.map((x) => [x.name, x.action, x.outcome])).toEqual([
      [M1, 'apply', 'applied'],
      [M2, 'apply', 'failed'],
    ]);
    expect(r.finalState).toMatchObject({ applied: [M1], failed: [M2], equalsBefore: false });
    expect(r.restoreCommand).toContain('dbops backup restore 20260101T000000Z-pre-deploy-abc');
    expect(await tableExists(db.url, 'public."Ledger"')).toBe(true);
  });

  it('a failed smoke query counts as a failed deploy and rolls back', async () => {
    const db = await fresh();
    const fx = await deployFixture({ urls: { production: db.url }, migrations: base, rollbacks: baseRollback });
    const { s, io, req } = await engine(fx, db, {
      smoke: [
        { name: 'has a ledger row', sql: 'SELECT * FROM "Ledger"', expect: 'rows' },
        { name: 'read only', sql: 'INSERT INTO "Ledger" VALUES (1, 1)' },
      ],
    });
    const r = await withSession(s, async () => executeDeploy(s, await req(), io));
    expect(r.outcome).toBe('failed-rolled-back');
    expect(r.smoke.map((x) => [x.name, x.ok])).toEqual([
      ['has a ledger row', false],
      ['read only', false],
    ]);
    expect(r.smoke[1]!.error).toContain('read-only transaction');
    expect(r.failure?.message).toContain('smoke');
    expect(r.finalState).toMatchObject({ applied: [], pending: [M1], equalsBefore: true });
    expect(await tableExists(db.url, 'public."Ledger"')).toBe(false);
  });
});
