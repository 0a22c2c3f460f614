// `dbops gate` as the release manager sees it: the check table, every reason with its fix, the loud
// break-glass line, the report file, exit codes, and a deploy that died (its in-flight marker) reported
// precisely — or, while another session holds the deploy lock, as a deploy that is still running.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../pipeline/core/logger.ts';
import { DEPLOY_LOCK } from '../../pipeline/change/release/lock.ts';
import type { GateData } from '../../pipeline/evidence/records.ts';
import { openEvidence, writeInflight } from '../../pipeline/evidence/store.ts';
import { loadPolicies } from '../../pipeline/policy/load.ts';
import { parseReport } from '../../pipeline/report/store.ts';
import { dbops, runDbops } from '../helpers/cli.ts';
import { adminUrl, databasePerTest } from '../helpers/db.ts';
import { deployFixture, type DeployFixture } from '../helpers/environments.ts';

const fresh = databasePerTest('gate_cli');

const M1 = '20260101000000_ledger';
const M2 = '20260102000000_ledger_note';
const migrations = { [M1]: 'CREATE TABLE "Ledger"(id int PRIMARY KEY);\n', [M2]: 'ALTER TABLE "Ledger" ADD COLUMN note text;\n' };
const rollbacks = { [M1]: 'DROP TABLE "Ledger";\n', [M2]: 'ALTER TABLE "Ledger" DROP COLUMN note;\n' };
const password = () => decodeURIComponent(new URL(adminUrl()).password);

async function fixture(production: Record<string, unknown>) {
  const db = await fresh();
  const fx = await deployFixture({ urls: { production: db.url }, environments: { production }, migrations, rollbacks });
  return { db, fx };
}

const gateJson = async (fx: DeployFixture, ...extra: string[]) => {
  const run = await dbops(['gate', '--environment', 'production', ...fx.flags, '--json', ...extra], fx.env);
  return { run, data: (JSON.parse(run.stdout) as { data: GateData }).data };
};

describe('dbops gate (the executable)', () => {
  it('prints the check table, then every reason with its fix; exit 1; writes reports/gate.json; no password anywhere', async () => {
    const { fx } = await fixture({ approvals: 1, backup: { required: true, max_age: '30min' }, windows: { zone: 'UTC', open: [] } });
    const run = await runDbops(['gate', '--environment', 'production', ...fx.flags], fx.env);
    expect(run.code, run.all).toBe(1);
    expect(run.stdout).toMatch(/Gate for the deploy to production: database t_gate_cli_\w+ \(postgresql:\/\//);
    expect(run.stdout).toMatch(/✘ backup\s+FAIL/);
    expect(run.stdout).toMatch(/✘ approval\s+FAIL/);
    expect(run.stdout).toMatch(/– staging-first\s+skipped/);
    expect(run.stdout).toMatch(/✔ window\s+pass\s+open: always/);
    expect(run.stdout).toContain(`→ ${M1}`);
    expect(run.stdout).toMatch(/✘ backup\/none: No backup of database t_gate_cli_\w+ \(system identifier \d+\) on target "server" .*it holds no backup at all/);
    expect(run.stdout).toMatch(/\n {4}fix: Take one: `dbops backup create --tier pre-deploy --database-url "\$PRODUCTION_DATABASE_URL"`/);
    expect(run.stdout).toContain('✘ approval/not-in-actions');
    expect(run.stdout).toMatch(/REFUSED: 2 of 8 checks failed \(backup, approval\), 2 reasons\./);
    if (password()) expect(run.all).not.toContain(password());
    expect(run.all).not.toContain(fx.identity);

    const text = await readFile(join(fx.reportsDir, 'gate.json'), 'utf8');
    const report = parseReport('gate.json', text, 'gate');
    expect(report.verdict).toBe('fail');
    expect(report.exitCode).toBe(1);
    expect((report.data as GateData).decision).toBe('refused');
    if (password()) expect(text).not.toContain(password());
  });

  it('break-glass is allowed, recorded and printed loudly', async () => {
    const { fx } = await fixture({ approvals: 1, break_glass: true, backup: { required: false } });
    const run = await dbops(['gate', '--environment', 'production', ...fx.flags, '--break-glass', 'INC-7: GitHub down'], fx.env);
    expect(run.code, run.all).toBe(0);
    expect(run.stdout).toMatch(/^!{20,}\n!!! BREAK-GLASS: approvals of production waived by .+ on .+ at \d{4}-.+ Reason: INC-7: GitHub down !!!/);
    expect(run.stdout).toMatch(/⚠ approval\s+WAIVED\s+BREAK-GLASS by/);
    expect(run.stdout).toContain('ALLOWED UNDER BREAK-GLASS');
  });

  it('a deploy that died is reported precisely; while another session holds the deploy lock it is a running deploy', async () => {
    const { db, fx } = await fixture({ approvals: 0, backup: { required: false } });
    const policies = await loadPolicies(fx.policiesDir, ['backups', 'environments']);
    const store = openEvidence({ backups: policies.backups.value, environments: policies.environments.value }, 'production', fx.env, silentLogger());
    const startedAt = new Date(Date.now() - 60_000).toISOString();
    await writeInflight(store, {
      formatVersion: 1,
      environment: 'production',
      action: 'deploy',
      startedAt,
      run: null,
      by: 'rita@laptop',
      database: { name: db.name, systemIdentifier: '1' },
      planned: [M1, M2],
      pid: 4242,
      host: 'laptop',
    });
    // The dead deploy got as far as the first migration.
    const migrated = await dbops(
      ['migrate', 'deploy', '--database-url', db.url, '--migrations-dir', fx.migrationsDir, '--policies-dir', fx.policiesDir],
      fx.env,
    );
    expect(migrated.code, migrated.all).toBe(0);
    await db.query(`DELETE FROM _prisma_migrations WHERE migration_name = $1`, [M2]);

    let { run, data } = await gateJson(fx);
    expect(run.code, run.all).toBe(0);
    const interrupted = data.checks.find((c) => c.name === 'interrupted')!;
    expect(interrupted.status).toBe('warn');
    expect(interrupted.reasons[0]!.rule).toBe('interrupted/deploy');
    expect(interrupted.reasons[0]!.message).toContain(`started ${startedAt} by rita@laptop`);
    expect(interrupted.reasons[0]!.message).toContain(`applied: ${M1}; not applied: ${M2}`);
    expect(interrupted.reasons[0]!.message).toContain('The database is consistent');
    expect(data.interrupted?.state.map((s) => [s.migration, s.state])).toEqual([
      [M1, 'applied'],
      [M2, 'not-applied'],
    ]);
    expect(data.interrupted?.state[0]!.detail).toContain('after the interrupted run began');

    const holder = new pg.Client({ connectionString: db.url, application_name: 'dbops deploy' });
    await holder.connect();
    try {
      await holder.query('SELECT pg_advisory_lock($1, $2)', [DEPLOY_LOCK.classId, DEPLOY_LOCK.objectId]);
      ({ run, data } = await gateJson(fx));
      expect(run.code).toBe(1);
      const running = data.checks.find((c) => c.name === 'interrupted')!;
      expect(running.reasons.map((r) => r.rule)).toEqual(['interrupted/running']);
      expect(running.reasons[0]!.message).toMatch(/the deploy lock is held by pid \d+ \(dbops deploy/);
      expect(data.interrupted).toBeNull();
    } finally {
      await holder.end();
    }
  });
});
