// `dbops evidence reconcile`: every change `_prisma_migrations` records is matched against the evidence
// bundles of the pipeline; what no bundle covers was changed outside it and fails the command.
import { describe, expect, it } from 'vitest';
import type { EvidenceReconcileData } from '../../pipeline/evidence/report.ts';
import { dbops } from '../helpers/cli.ts';
import { databasePerTest } from '../helpers/db.ts';
import { deployFixture } from '../helpers/environments.ts';

const fresh = databasePerTest('reconcile_cli');

const M0 = '20260101000000_base';
const M1 = '20260102000000_ledger';
const M2 = '20260103000000_hotfix';

describe('dbops evidence reconcile', () => {
  it('explains pipeline changes by their bundle, names a change made by hand, and lists history older than the evidence', async () => {
    const db = await fresh();
    const fx = await deployFixture({
      urls: { production: db.url },
      migrations: { [M0]: 'CREATE TABLE "Base"(id int);\n' },
      rollbacks: { [M0]: 'DROP TABLE "Base";\n' },
    });
    const reconcile = async () => {
      const run = await dbops(
        ['evidence', 'reconcile', '--environment', 'production', '--policies-dir', fx.policiesDir, '--reports-dir', fx.reportsDir, '--json'],
        fx.env,
      );
      return { run, data: (JSON.parse(run.stdout) as { data: EvidenceReconcileData }).data };
    };
    const migrateByHand = async () => {
      const run = await dbops(['migrate', 'deploy', '--database-url', db.url, '--migrations-dir', fx.migrationsDir, '--policies-dir', fx.policiesDir], fx.env);
      expect(run.code, run.all).toBe(0);
    };

    // History from before the pipeline kept evidence: applied a day ago.
    await migrateByHand();
    await db.query(`UPDATE _prisma_migrations SET started_at = started_at - interval '1 day', finished_at = finished_at - interval '1 day'`);
    let { run, data } = await reconcile();
    expect(run.code, run.all).toBe(0);
    expect(data.rows).toEqual([expect.objectContaining({ migration: M0, event: 'applied', status: 'before-evidence', bundle: null })]);

    await fx.addMigrations({ [M1]: 'CREATE TABLE "Ledger"(id int);\n' }, { [M1]: 'DROP TABLE "Ledger";\n' });
    const deployed = await dbops(['deploy', '--environment', 'production', ...fx.flags], fx.env);
    expect(deployed.code, deployed.all).toBe(0);
    ({ run, data } = await reconcile());
    expect(run.code, run.all).toBe(0);
    expect(data.chain).toMatchObject({ ok: true, bundles: 1 });
    expect(data.rows.map((r) => [r.migration, r.event, r.status, r.bundle])).toEqual([
      [M0, 'applied', 'before-evidence', null],
      [M1, 'applied', 'explained', '#1 deploy'],
    ]);

    // A hotfix applied by hand, past the pipeline; then rolled back through the pipeline.
    await fx.addMigrations({ [M2]: 'CREATE INDEX "Ledger_id_idx" ON "Ledger"(id);\n' }, { [M2]: 'DROP INDEX "Ledger_id_idx";\n' });
    await migrateByHand();
    ({ run, data } = await reconcile());
    expect(run.code).toBe(1);
    expect(data.rows.find((r) => r.migration === M2)).toMatchObject({ event: 'applied', status: 'outside', bundle: null });
    expect(run.stderr + run.stdout).toContain(`${M2} was applied at`);

    const rolledBack = await dbops(['rollback', '--environment', 'production', '--to', M1, ...fx.flags], fx.env);
    expect(rolledBack.code, rolledBack.all).toBe(0);
    ({ run, data } = await reconcile());
    expect(run.code).toBe(1);
    expect(data.rows.filter((r) => r.migration === M2).map((r) => [r.event, r.status, r.bundle])).toEqual([
      ['applied', 'outside', null],
      ['rolled-back', 'explained', '#2 rollback'],
    ]);

    const human = await dbops(
      ['evidence', 'reconcile', '--environment', 'production', '--policies-dir', fx.policiesDir, '--reports-dir', fx.reportsDir],
      fx.env,
    );
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(new RegExp(`✘ ${M2} +applied .*OUTSIDE THE PIPELINE`));
    expect(human.stdout).toMatch(new RegExp(`✔ ${M1} +applied .*bundle #1 deploy`));
    expect(human.all).not.toContain(new URL(db.url).password || '\u0000');
  });
});
