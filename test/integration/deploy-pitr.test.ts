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
import { waitFor } from '../helpers/wait.ts';

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
  /** `dbops pitr restore` to a restore point of production, into a new folder under home. */
  const restoreTo = (name: string, folder: string, ...extra: string[]) => {
    const dir = join(home, folder);
    restored.push(dir);
    return run(['pitr', 'restore', '--to-restore-point', name, '--target-dir', dir, '--database-url', prodUrl, '--policies-dir', fx.policiesDir, ...extra]);
  };
  const restoredUrl = (port: number) => `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/prod`;
  const verifyPhase = (d: { phases: Array<{ name: string }> }) => d.phases.find((p) => p.name === 'verify');

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
    const firstData = JSON.parse(first.stdout).data;
    expect(firstData.restorePoint).toMatchObject({ name: 'dbops-production-1', lsn: expect.stringMatching(/^[0-9A-F]+\/[0-9A-F]+$/) });

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
    const restoredData = JSON.parse(back!.stdout).data;
    const rows = await queryUrl(restoredUrl(restoredData.port), 'SELECT count(*)::int AS n, sum(amount)::int AS total FROM "Ledger"');
    expect(rows).toEqual([{ n: 50, total: 12750 }]);

    // The restore names the bundle of the deploy that created the restore point, and proves on the restored
    // ledger that this is the database from before it: deploy 1's migration is applied, deploy 2's is not.
    expect(restoredData.evidence).toEqual({
      name: 'dbops-production-2',
      environment: 'production',
      bundle: {
        environment: 'production',
        sequence: 2,
        kind: 'deploy',
        key: data.evidence.key,
        sha256: data.evidence.sha256,
        createdAt: bundle.createdAt,
        outcome: 'succeeded',
        lsn: data.restorePoint.lsn,
      },
      migrations: [M2],
      note: null,
      warning: false,
      proof: { ok: true, expect: 'absent', wrong: [], message: expect.stringContaining('none of the 1 migration(s) deploy #2 applied is applied here') },
    });
    expect(verifyPhase(restoredData)).toMatchObject({ ok: true, message: expect.stringMatching(/^heap .*; none of the 1 migration\(s\) deploy #2 applied/) });
    expect(
      await queryUrl(restoredUrl(restoredData.port), 'SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL'),
    ).toEqual([{ migration_name: M1 }]);

    // In text: the bundle, its migrations, and the proof in the verify phase (before deploy 1 there is no ledger at all).
    const bundle1 = JSON.parse(await readFile(firstData.evidence.localJson ?? join(fx.storageDir, firstData.evidence.key), 'utf8'));
    const before1 = await restoreTo('dbops-production-1', 'before-1');
    expect(before1.code, before1.all).toBe(0);
    expect(before1.stdout).toContain(
      `  evidence: deploy bundle #1 of production (${firstData.evidence.key}, succeeded, ${bundle1.createdAt}) recorded dbops-production-1 at LSN ${firstData.restorePoint.lsn}\n    its migrations: ${M1}\n`,
    );
    expect(before1.stdout).toMatch(
      /✓ verify .*; none of the 1 migration\(s\) deploy #1 applied is applied here \(_prisma_migrations\): the database from before that deploy\n/,
    );
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
      // Failing now: a failure newer than the last success (an earlier one, e.g. an archive-push that timed out
      // on a loaded machine and succeeded on retry, does not count).
      const failingNow = async () =>
        (await sql("SELECT last_failed_time > coalesce(last_archived_time, '-infinity') AS f FROM pg_stat_archiver"))[0]!['f'] === true;
      // The archiver applies the reload on its own time: a segment switched before it did is archived the
      // old way, so new segments keep coming until one fails.
      // Up to 90 s: an archive-push of the segment before still running (a loaded machine) holds the archiver.
      for (let i = 0; i < 900 && !(await failingNow()); i++) {
        if (i % 10 === 9) {
          await sql('INSERT INTO churn SELECT generate_series(1, 100)');
          await sql('SELECT pg_switch_wal()');
        }
        await sleep(100);
      }
      const { r, data: g } = await gate();
      expect(r.code).toBe(1);
      // On failure, what the archiver and the server said, to tell a slow archiver from a wrong judgement.
      const archiver = JSON.stringify({
        archiver: await sql("SELECT *, current_setting('archive_command') AS command FROM pg_stat_archiver"),
        process: await sql("SELECT pid, wait_event_type, wait_event, state FROM pg_stat_activity WHERE backend_type = 'archiver'"),
        ready: await sql("SELECT count(*)::int AS n FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'"),
      });
      expect(
        g.checks.find((c: { name: string }) => c.name === 'backup').reasons.map((x: { rule: string }) => x.rule),
        archiver,
      ).toContain('backup/pitr-archiving-failing');
    } finally {
      await sql('ALTER SYSTEM RESET archive_command');
      await sql('SELECT pg_reload_conf()');
    }
  });

  it("a restore point no bundle records is only said; a restored ledger holding the recorded deploy's migration fails the verify phase, naming it", async () => {
    // After a newer backup, deploy 2's restore point name is created once more: recovery from that backup
    // stops at the second one, after deploy 2, which is not the database its bundle describes.
    const full = await run(['pitr', 'backup', '--type', 'full', '--database-url', prodUrl, '--policies-dir', fx.policiesDir]);
    expect(full.code, full.all).toBe(0);
    await sql("SELECT pg_create_restore_point('dbops-production-99')");
    await sql("SELECT pg_create_restore_point('dbops-production-2')");
    const segment = (await sql('SELECT pg_walfile_name(pg_switch_wal()) AS w'))[0]!['w'] as string;
    // Both names must be in the archive: otherwise the restore falls back to an older backup, which reaches the first one.
    await waitFor(
      'the restore points to be archived',
      async () => String((await sql('SELECT last_archived_wal FROM pg_stat_archiver'))[0]!['last_archived_wal'] ?? '') >= segment,
      60_000,
      100,
    );

    const manual = await restoreTo('dbops-production-99', 'no-bundle');
    expect(manual.code, manual.all).toBe(0);
    expect(manual.stdout).toContain('  evidence: no evidence bundle records this restore point\n');

    const after = await restoreTo('dbops-production-2', 'after-2', '--json');
    expect(after.code, after.all).toBe(1);
    const out = JSON.parse(after.stdout);
    expect(out.data.evidence).toMatchObject({ bundle: { sequence: 2, kind: 'deploy' }, migrations: [M2], proof: { ok: false, expect: 'absent', wrong: [M2] } });
    expect(verifyPhase(out.data)).toMatchObject({
      ok: false,
      message: expect.stringContaining(`${M2} is applied in the restored database (_prisma_migrations)`),
    });
    expect(out.findings).toContainEqual(
      expect.objectContaining({
        rule: 'pitr/restore-check',
        severity: 'error',
        message: expect.stringContaining('this is not the database from before that deploy'),
      }),
    );
  });
});
