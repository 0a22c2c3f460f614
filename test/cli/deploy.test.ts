// `dbops deploy` end to end on real PostgreSQL: the gate, the executor, the automatic rollback, the evidence
// bundle, the restore command, concurrent deploys, kill -9, and no secret anywhere.
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ExecutionData } from '../../pipeline/evidence/records.ts';
import type { EvidenceBundle } from '../../pipeline/evidence/bundle.ts';
import { dbops, spawnDbops, type CliRun } from '../helpers/cli.ts';
import { databasePerTest, serverPassword, type TestDb } from '../helpers/db.ts';
import { deployFixture, type DeployFixture } from '../helpers/environments.ts';
import { prismaRows, tableExists } from '../helpers/migrations.ts';
import { waitFor } from '../helpers/wait.ts';

const fresh = databasePerTest('deploy_cli');

const M1 = '20260101000000_ledger';
const M2 = '20260102000000_ledger_currency';
const M3 = '20260103000000_audit';
const ledger = { [M1]: 'CREATE TABLE "Ledger"(id int PRIMARY KEY, amount numeric NOT NULL);\nINSERT INTO "Ledger" VALUES (1, 10);\n' };
const ledgerRollback = { [M1]: 'DROP TABLE "Ledger";\n' };

const deploy = (fx: DeployFixture, ...extra: string[]) => dbops(['deploy', '--environment', 'production', ...fx.flags, ...extra], fx.env);

async function report(fx: DeployFixture, name = 'deploy'): Promise<ExecutionData> {
  return JSON.parse(await readFile(join(fx.reportsDir, `${name}.json`), 'utf8')).data as ExecutionData;
}

/** Every stored bundle of an environment, oldest first. */
async function bundles(fx: DeployFixture, environment = 'production'): Promise<EvidenceBundle[]> {
  const dir = join(fx.storageDir, 'evidence', environment);
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => /^\d{6}-.*\.json$/.test(n)).sort();
  return Promise.all(names.map(async (n) => JSON.parse(await readFile(join(dir, n), 'utf8')) as EvidenceBundle));
}

async function inflight(fx: DeployFixture, environment = 'production'): Promise<boolean> {
  return (await readdir(join(fx.storageDir, 'evidence', environment)).catch(() => [] as string[])).includes('inflight.json');
}

/** Backends of dbops deploy in the test's own database (other files share the server). */
const deployBackends = (db: TestDb) =>
  db.query<{ pid: number; query: string; state: string }>(
    `SELECT pid, query, state FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'dbops deploy'`,
  );

const holdsDeployLock = async (db: TestDb) =>
  (
    await db.query(
      `SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = ${0x64626f70} AND objid = 1 AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    )
  ).length > 0;

function expectNoSecrets(fx: DeployFixture, text: string) {
  expect(text).not.toContain(serverPassword());
  expect(text).not.toContain(fx.identity);
  expect(text).not.toContain('AGE-SECRET-KEY');
}

async function allFiles(dir: string): Promise<string> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const texts = await Promise.all(entries.filter((e) => e.isFile() && /\.(json|md)$/.test(e.name)).map((e) => readFile(join(e.parentPath, e.name), 'utf8')));
  return texts.join('\n');
}

describe('dbops deploy', () => {
  it('deploys, verifies, stores a chained evidence bundle (and a local copy), and leaks no secret', async () => {
    const db = await fresh();
    const fx = await deployFixture({ urls: { production: db.url }, migrations: ledger, rollbacks: ledgerRollback });
    await fx.writeEnvironments({
      production: { approvals: 0, backup: { required: false }, smoke: [{ name: 'ledger has rows', sql: 'SELECT * FROM "Ledger"', expect: 'rows' }] },
    });
    const first = await deploy(fx);
    expect(first.code, first.all).toBe(0);
    expect(first.stdout).toContain('SUCCEEDED');
    expect(first.stdout).toMatch(new RegExp(`✔ ${M1}`));
    expect(first.stdout).toContain('✔ ledger has rows');
    const data = await report(fx);
    expect(data).toMatchObject({ environment: 'production', action: 'deploy', outcome: 'succeeded', finalState: { applied: [M1], pending: [], failed: [] } });
    expect(data.gate?.decision).toBe('allowed');
    expect(data.evidence).toMatchObject({ sequence: 1, target: 'server' });
    expect(first.stdout).toContain(data.evidence!.sha256);
    expect(await readFile(data.evidence!.localJson!, 'utf8')).toBe(await readFile(join(fx.storageDir, data.evidence!.key), 'utf8'));
    expect((await prismaRows(db.url)).map((r) => [r.migration_name, r.applied_steps_count, r.finished_at !== null])).toEqual([[M1, 1, true]]);
    expect(await inflight(fx)).toBe(false);

    await fx.addMigrations({ [M2]: 'ALTER TABLE "Ledger" ADD COLUMN currency text;\n' }, { [M2]: 'ALTER TABLE "Ledger" DROP COLUMN currency;\n' });
    // In Actions the bundle's page is also the job summary (appended: other steps keep their parts).
    const summary = join(fx.root, 'step-summary.md');
    await writeFile(summary, '## earlier step\n');
    const second = await dbops(['deploy', '--environment', 'production', ...fx.flags, '--json'], { ...fx.env, GITHUB_STEP_SUMMARY: summary });
    expect(second.code, second.all).toBe(0);
    const secondData = await report(fx);
    expect(await readFile(summary, 'utf8')).toBe(`## earlier step\n${(await readFile(secondData.evidence!.localMarkdown!, 'utf8')).replace(/\n*$/, '')}\n\n`);
    const chain = await bundles(fx);
    expect(chain.map((b) => [b.sequence, b.kind, b.execution?.outcome])).toEqual([
      [1, 'deploy', 'succeeded'],
      [2, 'deploy', 'succeeded'],
    ]);
    expect(chain[1]!.previous).toEqual({ sequence: 1, sha256: chain[0]!.sha256 });
    expect(chain[1]!.execution!.steps.map((s) => s.name)).toEqual([M2]);

    expectNoSecrets(fx, first.all + second.all);
    expectNoSecrets(fx, await allFiles(fx.reportsDir));
    expectNoSecrets(fx, await allFiles(fx.storageDir));
  });

  it('a second migration that fails: the first is rolled back by its script, the schema equals the pre-deploy fingerprint, and the bundle says so', async () => {
    const db = await fresh();
    const fx = await deployFixture({ urls: { production: db.url }, migrations: ledger, rollbacks: ledgerRollback });
    expect((await deploy(fx)).code).toBe(0);
    await fx.addMigrations(
      { [M2]: 'ALTER TABLE "Ledger" ADD COLUMN currency text NOT NULL DEFAULT \'EUR\';\n', [M3]: 'CREATE TABLE "Audit"(id int);\nSELECT 1/0;\n' },
      { [M2]: 'ALTER TABLE "Ledger" DROP COLUMN currency;\n', [M3]: 'DROP TABLE "Audit";\n' },
    );
    const run = await deploy(fx);
    expect(run.code, run.all).toBe(1);
    expect(run.stdout).toContain('rolled back automatically');
    expect(run.stdout).toMatch(new RegExp(`✘ ${M3}`));
    expect(run.stdout).toMatch(new RegExp(`↩ ${M2}`));
    expect(run.stderr).toContain('division by zero');

    const [, bundle] = await bundles(fx);
    const e = bundle!.execution!;
    expect(e.outcome).toBe('failed-rolled-back');
    expect(e.steps.map((s) => [s.name, s.action, s.outcome])).toEqual([
      [M2, 'apply', 'applied'],
      [M3, 'apply', 'failed'],
      [M3, 'rollback', 'rolled-back'],
      [M2, 'rollback', 'rolled-back'],
    ]);
    expect(e.finalState).toMatchObject({ applied: [M1], pending: [M2, M3], failed: [], equalsBefore: true });
    expect(e.finalState.fingerprintAfter).toBe(e.finalState.fingerprintBefore);
    expect(e.restoreCommand).toBeNull();
    expect((await prismaRows(db.url)).filter((r) => r.migration_name === M2).map((r) => [r.finished_at !== null, r.rolled_back_at !== null])).toEqual([
      [true, true],
    ]);
    const status = await dbops(['migrate', 'status', '--database-url', db.url, '--migrations-dir', fx.migrationsDir], fx.env);
    expect(status.stdout).toContain(`${M2}\n${M3}`);
    expect(await inflight(fx)).toBe(false);
  });

  it('--take-backup, then an irreversible migration in a failed deploy: nothing is rolled back, and the printed restore command brings the database back', async () => {
    const db = await fresh();
    const fx = await deployFixture({ urls: { production: db.url }, migrations: ledger, rollbacks: ledgerRollback });
    expect((await deploy(fx)).code).toBe(0);
    await fx.addMigrations(
      { [M2]: 'ALTER TABLE "Ledger" ALTER COLUMN amount SET DEFAULT 0;\nUPDATE "Ledger" SET amount = 0 WHERE id = 1;\n', [M3]: 'SELECT 1/0;\n' },
      { [M2]: '-- dbops:irreversible overwrites the amount of entry 1\nALTER TABLE "Ledger" ALTER COLUMN amount DROP DEFAULT;\n', [M3]: 'SELECT 1;\n' },
    );
    const run = await deploy(fx, '--take-backup');
    expect(run.code, run.all).toBe(1);
    const data = await report(fx);
    expect(data.outcome, run.all).toBe('failed');
    const backup = data.gate!.backup!;
    expect(backup.taken).toBe(true);
    expect(data.restoreCommand).toBe(
      `dbops backup restore ${backup.id} --target server --target-url "$PRODUCTION_DATABASE_URL" --force --policies-dir ${fx.policiesDir}`,
    );
    expect(run.stdout).toContain(data.restoreCommand);
    expect(run.stdout).toContain('NOT back to its pre-deploy state');
    expect(data.finalState.equalsBefore).toBe(false);

    // The command works as printed (the variable expanded by the shell).
    const args = data
      .restoreCommand!.split(' ')
      .slice(1)
      .map((a) => (a === '"$PRODUCTION_DATABASE_URL"' ? db.url : a));
    const restored = await dbops(args, fx.env);
    expect(restored.code, restored.all).toBe(0);
    expect(await db.query('SELECT id, amount::int FROM "Ledger"')).toEqual([{ id: 1, amount: 10 }]);
    expect(await db.query(`SELECT column_default FROM information_schema.columns WHERE table_name = 'Ledger' AND column_name = 'amount'`)).toEqual([
      { column_default: null },
    ]);
    expect((await prismaRows(db.url)).map((r) => r.migration_name)).toEqual([M1]);
  });

  it('two concurrent deploys: the second fails at once naming the holder; with --wait it runs after the first', async () => {
    const db = await fresh();
    const fx = await deployFixture({
      urls: { production: db.url },
      migrations: { ...ledger, [M2]: 'SELECT pg_sleep(2);\nCREATE TABLE "Slow"(id int);\n' },
      rollbacks: { ...ledgerRollback, [M2]: 'DROP TABLE "Slow";\n' },
    });
    const first = spawnDbops(['deploy', '--environment', 'production', ...fx.flags], fx.env);
    await waitFor('the first deploy to hold the deploy lock', () => holdsDeployLock(db));
    const second = await deploy(fx);
    expect(second.code, second.all).toBe(3);
    expect(second.stderr).toMatch(/deploy lock is held by pid \d+ \(dbops deploy/);
    expect(second.stderr).toContain('--wait');
    const queued = await deploy(fx, '--wait', '--wait-timeout', '2min');
    const done: CliRun = await first.done;
    expect(done.code, done.all).toBe(0);
    expect(queued.code, queued.all).toBe(0);
    expect(queued.stdout).toContain('Waiting for the deploy lock');
    expect(queued.stdout).toContain('No pending migrations');
    expect((await bundles(fx)).map((b) => b.execution?.steps.length)).toEqual([2, 0]);
    expect(await tableExists(db.url, 'public."Slow"')).toBe(true);
  });

  it('kill -9 during the second migration: the gate names the interrupted deploy precisely, and the next deploy records it and finishes', async () => {
    const db = await fresh();
    const fx = await deployFixture({
      urls: { production: db.url },
      migrations: { ...ledger, [M2]: 'SELECT pg_sleep(5);\nCREATE TABLE "Slow"(id int);\n' },
      rollbacks: { ...ledgerRollback, [M2]: 'DROP TABLE "Slow";\n' },
    });
    const killed = spawnDbops(['deploy', '--environment', 'production', ...fx.flags], fx.env);
    await waitFor('the second migration to run', async () => (await deployBackends(db)).some((b) => b.query.includes('pg_sleep') && b.state === 'active'));
    killed.child.kill('SIGKILL');
    await killed.done;
    await waitFor('the killed backend to go', async () => (await deployBackends(db)).length === 0);
    expect(await inflight(fx)).toBe(true);
    expect(await tableExists(db.url, 'public."Slow"')).toBe(false);

    const gate = await dbops(['gate', '--environment', 'production', ...fx.flags, '--json'], fx.env);
    const interrupted = JSON.parse(gate.stdout).data.interrupted;
    expect(interrupted).toMatchObject({ action: 'deploy', planned: [M1, M2] });
    expect(interrupted.state).toEqual([
      expect.objectContaining({ migration: M1, state: 'applied' }),
      expect.objectContaining({ migration: M2, state: 'not-applied' }),
    ]);
    const human = await dbops(['gate', '--environment', 'production', ...fx.flags], fx.env);
    expect(human.stdout).toMatch(/interrupted/i);
    expect(human.stdout).toContain(M2);

    const next = await deploy(fx);
    expect(next.code, next.all).toBe(0);
    expect(next.stdout).toContain('recording it as interrupted');
    const chain = await bundles(fx);
    expect(chain.map((b) => b.kind)).toEqual(['interrupted', 'deploy']);
    expect(chain[0]!.interrupted!.state.map((s) => s.state)).toEqual(['applied', 'not-applied']);
    expect(chain[1]!.execution!.steps.map((s) => [s.name, s.outcome])).toEqual([[M2, 'applied']]);
    expect(await inflight(fx)).toBe(false);
  });

  it('a local evidence copy that cannot be written after the database changed: exit 3 saying what was done, the stored bundle is the record, the next deploy records no false interruption', async () => {
    const db = await fresh();
    const fx = await deployFixture({
      urls: { production: db.url },
      migrations: { ...ledger, [M2]: 'SELECT pg_sleep(1);\nCREATE TABLE "Slow"(id int);\n' },
      rollbacks: { ...ledgerRollback, [M2]: 'DROP TABLE "Slow";\n' },
    });
    const running = dbops(['deploy', '--environment', 'production', ...fx.flags], fx.env);
    await waitFor('the second migration to run', async () => (await deployBackends(db)).some((b) => b.query.includes('pg_sleep') && b.state === 'active'));
    // The folder was writable when the deploy checked it; now, mid-migration, it becomes a file.
    await rm(join(fx.reportsDir, 'evidence'), { recursive: true, force: true });
    await writeFile(join(fx.reportsDir, 'evidence'), 'in the way\n');
    const run = await running;
    expect(run.code, run.all).toBe(3);
    expect(run.stdout).toContain('SUCCEEDED');
    expect(run.stderr).toContain('The deploy succeeded.');
    expect(run.stderr).toMatch(
      /The evidence bundle #1 is stored as evidence\/production\/\S+\.json on target "server" \(that is the record\), but its local copy in \S+ could not be written/,
    );
    expect(run.stderr).not.toContain('Internal error');
    expect(await tableExists(db.url, 'public."Slow"')).toBe(true);
    expect(await inflight(fx)).toBe(false);
    expect((await bundles(fx)).map((b) => [b.sequence, b.kind, b.execution?.outcome])).toEqual([[1, 'deploy', 'succeeded']]);
    expect((await report(fx)).evidence).toMatchObject({ sequence: 1, localJson: null });

    await rm(join(fx.reportsDir, 'evidence'));
    await fx.addMigrations({ [M3]: 'CREATE TABLE "Audit"(id int);\n' }, { [M3]: 'DROP TABLE "Audit";\n' });
    const gate = JSON.parse((await dbops(['gate', '--environment', 'production', ...fx.flags, '--json'], fx.env)).stdout).data;
    expect(gate.interrupted).toBeNull();
    expect(gate.checks.find((c: { name: string }) => c.name === 'interrupted').status).toBe('pass');
    const next = await deploy(fx);
    expect(next.code, next.all).toBe(0);
    expect(next.stdout).not.toContain('recording it as interrupted');
    expect((await bundles(fx)).map((b) => [b.sequence, b.kind])).toEqual([
      [1, 'deploy'],
      [2, 'deploy'],
    ]);
  });

  it('Ctrl-C during the second migration: it finishes, the third never starts, both are rolled back by their scripts, and the bundle says so', async () => {
    const db = await fresh();
    const fx = await deployFixture({
      urls: { production: db.url },
      migrations: { ...ledger, [M2]: 'SELECT pg_sleep(2);\nCREATE TABLE "Slow"(id int);\n', [M3]: 'CREATE TABLE "Audit"(id int);\n' },
      rollbacks: { ...ledgerRollback, [M2]: 'DROP TABLE "Slow";\n', [M3]: 'DROP TABLE "Audit";\n' },
    });
    const running = spawnDbops(['deploy', '--environment', 'production', ...fx.flags], fx.env);
    await waitFor('the second migration to run', async () => (await deployBackends(db)).some((b) => b.query.includes('pg_sleep') && b.state === 'active'));
    running.child.kill('SIGINT');
    const run = await running.done;
    expect(run.code, run.all).toBe(1);
    expect(run.all).toContain('interrupted (Ctrl-C) after 2 migration(s)');
    const data = await report(fx);
    expect(data.outcome).toBe('failed-rolled-back');
    expect(data.steps.map((x) => [x.name, x.action, x.outcome])).toEqual([
      [M1, 'apply', 'applied'],
      [M2, 'apply', 'applied'],
      [M3, 'apply', 'not-run'],
      [M2, 'rollback', 'rolled-back'],
      [M1, 'rollback', 'rolled-back'],
    ]);
    expect(data.finalState).toMatchObject({ applied: [], pending: [M1, M2, M3], equalsBefore: true });
    for (const table of ['Ledger', 'Slow', 'Audit']) expect(await tableExists(db.url, `public."${table}"`)).toBe(false);
    expect((await bundles(fx)).map((b) => b.execution?.outcome)).toEqual(['failed-rolled-back']);
    expect(await inflight(fx)).toBe(false);
  });

  it('break-glass is announced loudly and recorded in the bundle', async () => {
    const db = await fresh();
    const fx = await deployFixture({ urls: { production: db.url }, migrations: ledger, rollbacks: ledgerRollback });
    await fx.writeEnvironments({ production: { approvals: 1, break_glass: true, backup: { required: false } } });
    const refused = await deploy(fx);
    expect(refused.code, refused.all).toBe(1);
    expect(await tableExists(db.url, 'public."Ledger"')).toBe(false);
    const run = await deploy(fx, '--break-glass', 'GitHub outage; CAB call 02:10, approved by J. Doe');
    expect(run.code, run.all).toBe(0);
    expect(run.stdout).toMatch(/!+\n! BREAK-GLASS DEPLOY of production/);
    expect(run.stdout).toContain('reason: GitHub outage; CAB call 02:10, approved by J. Doe');
    const chain = await bundles(fx);
    expect(chain.map((b) => [b.execution?.outcome, b.breakGlass?.reason ?? null])).toEqual([
      ['refused', null],
      ['succeeded', 'GitHub outage; CAB call 02:10, approved by J. Doe'],
    ]);
  });

  it('evidence storage gone after the database changed: the bundle is kept locally and the deploy fails with exit 3 saying so', async () => {
    const db = await fresh();
    const fx = await deployFixture({
      urls: { production: db.url },
      migrations: { ...ledger, [M2]: 'SELECT pg_sleep(1);\nCREATE TABLE "Slow"(id int);\n' },
      rollbacks: { ...ledgerRollback, [M2]: 'DROP TABLE "Slow";\n' },
    });
    const running = deploy(fx);
    await waitFor('the second migration to run', async () => (await deployBackends(db)).some((b) => b.query.includes('pg_sleep') && b.state === 'active'));
    // A file where the environment's evidence folder was: every write into it fails (also for root).
    const folder = join(fx.storageDir, 'evidence', 'production');
    await rm(folder, { recursive: true });
    await writeFile(folder, 'not a folder');
    const run = await running;
    expect(run.code, run.all).toBe(3);
    expect(run.stderr).toContain('The evidence bundle was NOT stored');
    expect(await tableExists(db.url, 'public."Slow"')).toBe(true);
    const local = join(fx.reportsDir, 'evidence', 'production');
    const [saved] = (await readdir(local)).filter((n) => n.startsWith('unstored-'));
    expect(run.stderr).toContain(join(local, saved!));
    const draft = JSON.parse(await readFile(join(local, saved!), 'utf8'));
    expect(draft).toMatchObject({ kind: 'deploy', execution: { outcome: 'succeeded', finalState: { applied: [M1, M2] } } });
  });
});
