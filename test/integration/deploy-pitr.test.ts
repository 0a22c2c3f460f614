// The production path with point-in-time recovery: the gate's backup.mode pitr, a restore point before every
// deploy recorded in its bundle, and the restore to it that returns the database from before that deploy.
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from '../../pipeline/core/duration.ts';
import { silentLogger } from '../../pipeline/core/logger.ts';
import { stopServerAt } from '../../pipeline/infra/pg/cluster.ts';
import { dbops, testEnv, type CliRun } from '../helpers/cli.ts';
import { queryUrl } from '../helpers/db.ts';
import { deployFixture, type DeployFixture } from '../helpers/environments.ts';
import { tempDir } from '../helpers/migrations.ts';

const M1 = '20260101000000_ledger';
const M2 = '20260102000000_zero_amounts';
const M3 = '20260103000000_broken';

describe('deploys with PITR (backup.mode pitr)', async () => {
  const home = await tempDir('dbops-deploy-pitr-');
  await chmod(home, 0o755);
  const localDir = join(home, 'local');
  const localEnv = testEnv({ DBOPS_LOCAL_DIR: localDir });
  let fx: DeployFixture;
  let prodUrl = '';
  let password = '';
  const outputs: CliRun[] = [];
  const restored: string[] = [];
  const run = async (args: string[]) => {
    const r = await dbops(args, fx.env);
    outputs.push(r);
    return r;
  };
  const gate = async () => {
    const r = await run(['gate', '--environment', 'production', ...fx.flags, '--json']);
    return { r, data: JSON.parse(r.stdout).data };
  };
  const sql = (text: string) => queryUrl(prodUrl, text);

  beforeAll(async () => {
    expect((await dbops(['local', 'up'], localEnv)).code).toBe(0);
    const state = JSON.parse(await readFile(join(localDir, 'cluster.json'), 'utf8'));
    password = state.password;
    const admin = `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${state.port}/postgres`;
    await queryUrl(admin, 'CREATE DATABASE prod');
    prodUrl = admin.replace(/\/postgres$/, '/prod');
    fx = await deployFixture({
      urls: { production: prodUrl },
      environments: { production: { approvals: 0, backup: { mode: 'pitr' }, on_failure: 'stop' } },
      extraEnv: { DBOPS_LOCAL_DIR: localDir },
    });
    const backups = JSON.parse(await readFile(join(fx.policiesDir, 'backups.yaml'), 'utf8'));
    await writeFile(join(fx.policiesDir, 'backups.yaml'), JSON.stringify({ ...backups, pitr: { full_max_age: '1h' } }));
    const enabled = await run(['pitr', 'enable', '--database-url', prodUrl, '--policies-dir', fx.policiesDir]);
    expect(enabled.code, enabled.all).toBe(0);
  });

  afterAll(async () => {
    for (const dir of restored) await stopServerAt(dir, silentLogger(), 'immediate');
    await dbops(['local', 'down', '--destroy'], localEnv);
    for (const o of outputs) expect(o.all).not.toContain(password);
  });

  it('the gate refuses without a verified full backup, and accepts a healthy archive with one', async () => {
    let { r, data } = await gate();
    expect(r.code).toBe(1);
    expect(data.checks.find((c: { name: string }) => c.name === 'backup').reasons.map((x: { rule: string }) => x.rule)).toEqual(['backup/pitr-no-full']);

    expect((await run(['pitr', 'backup', '--type', 'full', '--database-url', prodUrl, '--policies-dir', fx.policiesDir])).code).toBe(0);
    ({ r, data } = await gate());
    expect(r.code).toBe(1);
    expect(data.checks.find((c: { name: string }) => c.name === 'backup').reasons.map((x: { rule: string }) => x.rule)).toEqual(['backup/pitr-unverified']);

    expect((await run(['pitr', 'verify', '--database-url', prodUrl, '--policies-dir', fx.policiesDir])).code).toBe(0);
    ({ r, data } = await gate());
    expect(r.code, r.all).toBe(0);
    expect(data.pitr).toMatchObject({ stanza: 'main', fullBackup: { verifiedAt: expect.any(String) }, rpoMs: 15 * 60_000 });
    expect(data.backup).toBeNull();
  });

  it('each deploy creates a restore point recorded in its bundle; restoring to it returns the database from before that deploy', async () => {
    await fx.addMigrations({
      [M1]: 'CREATE TABLE "Ledger"(id int PRIMARY KEY, amount numeric NOT NULL);\nINSERT INTO "Ledger" SELECT g, g * 10 FROM generate_series(1, 50) g;\n',
    });
    const first = await run(['deploy', '--environment', 'production', ...fx.flags, '--json']);
    expect(first.code, first.all).toBe(0);
    expect(JSON.parse(first.stdout).data.restorePoint).toMatchObject({ name: 'dbops-production-1', lsn: expect.stringMatching(/^[0-9A-F]+\/[0-9A-F]+$/) });

    await fx.addMigrations({ [M2]: 'UPDATE "Ledger" SET amount = 0 WHERE id > 0;\n' });
    const second = await run(['deploy', '--environment', 'production', ...fx.flags, '--json']);
    expect(second.code, second.all).toBe(0);
    const data = JSON.parse(second.stdout).data;
    expect(data.restorePoint.name).toBe('dbops-production-2');
    const bundle = JSON.parse(await readFile(data.evidence.localJson ?? join(fx.storageDir, data.evidence.key), 'utf8'));
    expect(bundle.execution.restorePoint).toEqual(data.restorePoint);

    // The restore point's WAL reaches the repository, then the database comes back as it was before deploy 2.
    await sql('SELECT pg_switch_wal()');
    const dir = join(home, 'before-2');
    restored.push(dir);
    let back: CliRun | undefined;
    for (let i = 0; i < 50; i++) {
      back = await run([
        'pitr',
        'restore',
        '--to-restore-point',
        'dbops-production-2',
        '--target-dir',
        dir,
        '--database-url',
        prodUrl,
        '--policies-dir',
        fx.policiesDir,
        '--json',
        '--force',
      ]);
      if (back.code === 0) break;
      await sleep(200);
    }
    expect(back!.code, back!.all).toBe(0);
    const port = JSON.parse(back!.stdout).data.port;
    const rows = await queryUrl(
      `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/prod`,
      'SELECT count(*)::int AS n, sum(amount)::int AS total FROM "Ledger"',
    );
    expect(rows).toEqual([{ n: 50, total: 12750 }]);
  });

  it('a drill of the environment restores its repository into scratch space, untouched, and chains a dr-drill bundle after its deploys', async () => {
    const before = await sql('SELECT count(*)::int AS n FROM "Ledger"');
    const drill = await run(['dr', 'drill', '--environment', 'production', '--policies-dir', fx.policiesDir, '--json']);
    expect(drill.code, drill.all).toBe(0);
    const d = JSON.parse(drill.stdout).data;
    expect(d.drill).toMatchObject({ scenario: 'lost-primary', rows: null, passed: true, recovery: { type: 'latest' } });
    expect(d.drill.rpo.achievedMs).not.toBeNull();
    expect(d.bundle).toMatchObject({ environment: 'production', sequence: 3 });
    // Production itself is untouched, and its chain (two deploys, then the drill) verifies.
    expect(await sql('SELECT count(*)::int AS n FROM "Ledger"')).toEqual(before);
    const verify = await run(['evidence', 'verify', '--environment', 'production', '--policies-dir', fx.policiesDir, '--json']);
    expect(verify.code, verify.all).toBe(0);
  });

  it('a failed deploy prints the PITR restore to its restore point; a failing archive makes the gate refuse', async () => {
    await fx.addMigrations({ [M3]: 'SELECT 1/0;\n' });
    const failed = await run(['deploy', '--environment', 'production', ...fx.flags, '--json']);
    expect(failed.code).toBe(1);
    const data = JSON.parse(failed.stdout).data;
    expect(data.restoreCommand).toBe(
      `dbops pitr restore --to-restore-point dbops-production-4 --target-dir .dbops/restore/dbops-production-4 --database-url "$PRODUCTION_DATABASE_URL" --policies-dir ${fx.policiesDir}`,
    );

    await sql("ALTER SYSTEM SET archive_command = 'exit 1'");
    await sql('SELECT pg_reload_conf()');
    try {
      await sql('CREATE TABLE churn AS SELECT generate_series(1, 1000) AS i');
      await sql('SELECT pg_switch_wal()');
      for (let i = 0; i < 100 && Number((await sql('SELECT failed_count FROM pg_stat_archiver'))[0]!['failed_count']) === 0; i++) await sleep(100);
      const { r, data: g } = await gate();
      expect(r.code).toBe(1);
      expect(g.checks.find((c: { name: string }) => c.name === 'backup').reasons.map((x: { rule: string }) => x.rule)).toContain(
        'backup/pitr-archiving-failing',
      );
    } finally {
      await sql('ALTER SYSTEM RESET archive_command');
      await sql('SELECT pg_reload_conf()');
    }
  });
});
