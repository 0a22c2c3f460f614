// `dbops rollback --environment NAME --to MIGRATION` on a real database: newest first down to MIGRATION,
// rows marked rolled back as `prisma migrate resolve --rolled-back` marks them, an evidence bundle, and
// the restore command instead of a partial rollback when one script cannot run.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { rollbackSet } from '../../pipeline/change/migrations/index.ts';
import type { ExecutionData } from '../../pipeline/evidence/records.ts';
import type { EvidenceBundle } from '../../pipeline/evidence/bundle.ts';
import type { MigrationRow } from '../../pipeline/change/migrations/history.ts';
import { dbops } from '../helpers/cli.ts';
import { databasePerTest } from '../helpers/db.ts';
import { deployFixture, type DeployFixture } from '../helpers/environments.ts';
import { prismaRows, tableExists } from '../helpers/migrations.ts';

const fresh = databasePerTest('rollback');

const M1 = '20260101000000_ledger';
const M2 = '20260102000000_ledger_currency';
const M3 = '20260103000000_audit';
const migrations = {
  [M1]: 'CREATE TABLE "Ledger"(id int PRIMARY KEY, amount numeric NOT NULL);\n',
  [M2]: 'ALTER TABLE "Ledger" ADD COLUMN currency text;\n',
  [M3]: 'CREATE TABLE "Audit"(id int);\n',
};
const rollbacks = { [M1]: 'DROP TABLE "Ledger";\n', [M2]: 'ALTER TABLE "Ledger" DROP COLUMN currency;\n', [M3]: 'DROP TABLE "Audit";\n' };

const cli = (fx: DeployFixture, command: string, ...extra: string[]) => dbops([command, '--environment', 'production', ...fx.flags, ...extra], fx.env);

async function bundles(fx: DeployFixture): Promise<EvidenceBundle[]> {
  const dir = join(fx.storageDir, 'evidence', 'production');
  const names = (await readdir(dir)).filter((n) => /^\d{6}-.*\.json$/.test(n)).sort();
  return Promise.all(names.map(async (n) => JSON.parse(await readFile(join(dir, n), 'utf8')) as EvidenceBundle));
}

const row = (migrationName: string, startedAt: string, finished: boolean, rolledBack = false): MigrationRow => ({
  id: migrationName,
  checksum: '',
  migrationName,
  startedAt,
  finishedAt: finished ? startedAt : null,
  rolledBackAt: rolledBack ? startedAt : null,
  logs: null,
  appliedStepsCount: finished ? 1 : 0,
});

describe('rollbackSet', () => {
  it('takes what was applied after the named migration, newest applied first, skipping rolled-back and failed rows', () => {
    const rows = [row(M1, '1', true), row(M3, '2', true), row('x_failed', '3', false), row(M2, '4', false, true), row(M2, '5', true)];
    expect(rollbackSet(rows, M1)).toEqual({ names: [M2, M3], known: true });
    expect(rollbackSet(rows, M2)).toEqual({ names: [], known: true });
    expect(rollbackSet(rows, 'x_failed')).toEqual({ names: [], known: false });
  });
});

describe('dbops rollback', () => {
  it('--to M1 rolls back M3 then M2 by their scripts, marks them rolled back, records a rollback bundle, and a deploy brings them back', async () => {
    const db = await fresh();
    const fx = await deployFixture({ urls: { production: db.url }, migrations, rollbacks });
    expect((await cli(fx, 'deploy')).code).toBe(0);

    const run = await cli(fx, 'rollback', '--to', M1);
    expect(run.code, run.all).toBe(0);
    expect(run.stdout).toContain('Rollback of production: ✔ SUCCEEDED');
    expect(run.stdout).toMatch(new RegExp(`↩ ${M3}[\\s\\S]*↩ ${M2}`));
    const data = JSON.parse(await readFile(join(fx.reportsDir, 'rollback.json'), 'utf8')).data as ExecutionData;
    expect(data).toMatchObject({ action: 'rollback', outcome: 'succeeded', finalState: { applied: [M1], pending: [M2, M3], failed: [] } });
    expect(data.gate).toMatchObject({ action: 'rollback', rollbackTo: M1 });
    expect(data.steps.map((s) => [s.name, s.action, s.outcome, s.mode])).toEqual([
      [M3, 'rollback', 'rolled-back', 'atomic'],
      [M2, 'rollback', 'rolled-back', 'atomic'],
    ]);
    expect(await tableExists(db.url, 'public."Audit"')).toBe(false);
    expect(await db.query(`SELECT column_name FROM information_schema.columns WHERE table_name = 'Ledger' ORDER BY 1`)).toEqual([
      { column_name: 'amount' },
      { column_name: 'id' },
    ]);
    const rows = await prismaRows(db.url);
    expect(
      rows
        .filter((r) => r.rolled_back_at !== null)
        .map((r) => r.migration_name)
        .sort(),
    ).toEqual([M2, M3]);

    const chain = await bundles(fx);
    expect(chain.map((b) => [b.sequence, b.kind, b.execution?.outcome])).toEqual([
      [1, 'deploy', 'succeeded'],
      [2, 'rollback', 'succeeded'],
    ]);
    expect(chain[1]!.previous?.sha256).toBe(chain[0]!.sha256);

    const status = await dbops(['migrate', 'status', '--database-url', db.url, '--migrations-dir', fx.migrationsDir], fx.env);
    expect(status.stdout).toContain(`${M2}\n${M3}`);
    const again = await cli(fx, 'deploy');
    expect(again.code, again.all).toBe(0);
    expect((await prismaRows(db.url)).filter((r) => r.finished_at !== null && r.rolled_back_at === null).map((r) => r.migration_name)).toEqual([M1, M2, M3]);
  });

  it('an irreversible migration in the way: no script runs, and the restore command of the pre-deploy backup is given', async () => {
    const db = await fresh();
    const fx = await deployFixture({
      urls: { production: db.url },
      migrations,
      rollbacks: { ...rollbacks, [M2]: '-- dbops:irreversible the currency column is filled by the application\nALTER TABLE "Ledger" DROP COLUMN currency;\n' },
    });
    expect((await cli(fx, 'deploy')).code).toBe(0);
    const run = await cli(fx, 'rollback', '--to', M1, '--take-backup');
    expect(run.code, run.all).toBe(1);
    expect(run.all).toContain(M2);
    expect(run.all).toContain('irreversible');
    expect(await tableExists(db.url, 'public."Audit"')).toBe(true);
    expect((await prismaRows(db.url)).filter((r) => r.rolled_back_at !== null)).toEqual([]);
    const data = JSON.parse(await readFile(join(fx.reportsDir, 'rollback.json'), 'utf8')).data as ExecutionData;
    // The gate refuses it up front (nothing changes), and the way back it offers is the backup it verified.
    expect(data.outcome).toBe('refused');
    expect(data.restoreCommand).toBe(
      `dbops backup restore ${data.gate!.backup!.id} --target server --target-url "$PRODUCTION_DATABASE_URL" --force --policies-dir ${fx.policiesDir}`,
    );
    expect(run.stdout).toContain(data.restoreCommand);
    expect((await bundles(fx)).at(-1)!.kind).toBe('rollback');
  });

  it('--to a migration that is not applied is a usage error naming it; nothing is recorded', async () => {
    const db = await fresh();
    const fx = await deployFixture({ urls: { production: db.url }, migrations, rollbacks });
    expect((await cli(fx, 'deploy')).code).toBe(0);
    const run = await cli(fx, 'rollback', '--to', '20250101000000_nope');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--to 20250101000000_nope: that migration is not applied on production');
    expect(await bundles(fx)).toHaveLength(1);
  });
});
