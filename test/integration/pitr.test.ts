// Point-in-time recovery with the real pgBackRest against the embedded cluster the commands create.
import { chmod, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { dbops, spawnDbops, testEnv, type CliRun } from '../helpers/cli.ts';
import { startWebhook } from '../helpers/webhook.ts';
import type { SlackPayload } from '../../pipeline/report/backup-event.ts';
import { queryUrl } from '../helpers/db.ts';
import { tempDir } from '../helpers/migrations.ts';
import { waitFor } from '../helpers/wait.ts';
import { execFileSync } from 'node:child_process';
import { sleep } from '../../pipeline/core/duration.ts';
import { silentLogger } from '../../pipeline/core/logger.ts';
import { stopServerAt } from '../../pipeline/infra/pg/cluster.ts';

describe('dbops pitr (pgBackRest on the embedded cluster)', async () => {
  const home = await tempDir('dbops-pitr-');
  await chmod(home, 0o755);
  const localDir = join(home, 'local');
  const env = testEnv({ DBOPS_LOCAL_DIR: localDir });
  const runs: CliRun[] = [];
  const run = async (...args: string[]) => {
    const r = await dbops(args, env);
    runs.push(r);
    return r;
  };
  let url = '';
  let password = '';
  const sql = (text: string, database = 'dbops') => queryUrl(url.replace(/\/dbops$/, `/${database}`), text);
  const restored: string[] = [];

  beforeAll(async () => {
    const up = await run('local', 'up', '--json');
    expect(up.code).toBe(0);
    const state = JSON.parse(await readFile(join(localDir, 'cluster.json'), 'utf8'));
    password = state.password;
    url = `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${state.port}/dbops`;
  });

  afterAll(async () => {
    for (const dir of restored) await stopServerAt(dir, silentLogger(), 'immediate');
    const down = await dbops(['local', 'down', '--destroy'], env);
    runs.push(down);
    // The cluster's pgBackRest state goes with it: a new cluster's stanza would refuse the old repository.
    expect(down.stdout).toMatch(/Stopped and deleted the embedded cluster in .*\.\n$/);
    // No password (the cluster's, which the restored clusters share) in anything printed.
    for (const r of runs) expect(r.all).not.toContain(password);
  });

  it('enable turns archiving on (restart for archive_mode), again changes nothing, and repairs a drifted archive_command', async () => {
    const first = await run('pitr', 'enable', '--json');
    expect(first.code, first.all).toBe(0);
    const data = JSON.parse(first.stdout).data;
    expect(data.restarted).toBe(true);
    expect(data.actions).toEqual(expect.arrayContaining([expect.stringMatching(/^wrote .*pgbackrest\.conf$/), 'created stanza main']));
    const [mode] = await sql("SELECT current_setting('archive_mode') AS m, current_setting('archive_command') AS c");
    expect(mode).toMatchObject({ m: 'on', c: expect.stringContaining('archive-push %p') });
    // The configuration can hold secrets: only its owner reads it.
    const conf = join(localDir, 'pitr', 'pgbackrest.conf');
    expect((await stat(conf)).mode & 0o777).toBe(0o600);

    // The heartbeat table exists and holds a first beat; without pg_cron the service writes it.
    expect(data.heartbeat).toBe('dbops pitr heartbeat');
    expect(data.actions).toContain('created dbops.heartbeat');
    expect(await sql('SELECT beats FROM dbops.heartbeat')).toEqual([{ beats: '1' }]);

    const again = await run('pitr', 'enable', '--json');
    expect(again.code, again.all).toBe(0);
    expect(JSON.parse(again.stdout).data).toMatchObject({ actions: [], restarted: false });

    // Someone edits dbops' include file: the next enable writes it back and reloads, without a restart.
    const include = join(localDir, 'data', 'dbops-pitr.conf');
    await writeFile(include, (await readFile(include, 'utf8')).replace(/archive_command = .*/, "archive_command = '/bin/false'"));
    await sql('SELECT pg_reload_conf()');
    const repaired = await run('pitr', 'enable', '--json');
    expect(repaired.code, repaired.all).toBe(0);
    const r = JSON.parse(repaired.stdout).data;
    expect(r.actions).toEqual([`wrote ${include}`, 'reloaded the server configuration']);
    expect(r.restarted).toBe(false);
    expect((await sql("SELECT current_setting('archive_command') AS c"))[0]!['c']).toContain('pgbackrest');
  });

  it('a setting overridden after the include file (ALTER SYSTEM) is named with its file and the fix, exit 2', async () => {
    await sql('ALTER SYSTEM SET archive_timeout = 300');
    await sql('SELECT pg_reload_conf()');
    try {
      const r = await run('pitr', 'enable');
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/archive_timeout is set to '300' by .*postgresql\.auto\.conf:\d+.*ALTER SYSTEM RESET archive_timeout/);
    } finally {
      await sql('ALTER SYSTEM RESET archive_timeout');
      await sql('SELECT pg_reload_conf()');
    }
  });

  it('restores to a time between two commits, to a restore point and to the latest', async () => {
    const backup = await run('pitr', 'backup', '--type', 'full', '--json');
    expect(backup.code, backup.all).toBe(0);
    expect(JSON.parse(backup.stdout).data.backups).toEqual([expect.objectContaining({ type: 'full', repo: 1, label: expect.stringMatching(/F$/) })]);

    // The heartbeat service writes every 200 ms meanwhile; SIGTERM stops it cleanly.
    const service = spawnDbops(['pitr', 'heartbeat', '--interval', '200ms'], env);
    // The service is beating before T1 is taken, however slowly Node starts on a busy machine.
    const enabledBeat = (await sql('SELECT at FROM dbops.heartbeat'))[0]!['at'] as Date;
    await waitFor(
      'the heartbeat service to beat',
      async () => ((await sql('SELECT at FROM dbops.heartbeat'))[0]!['at'] as Date).getTime() > enabledBeat.getTime(),
      30_000,
      50,
    );
    await sql('CREATE TABLE marks (id int PRIMARY KEY)');
    await sql('INSERT INTO marks VALUES (1)');
    await sleep(1100);
    const t1 = (await sql('SELECT to_char(clock_timestamp() AT TIME ZONE \'UTC\', \'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\') AS t'))[0]!['t'] as string;
    await sleep(1100);
    await sql('INSERT INTO marks VALUES (2)');
    await sql('SELECT pg_switch_wal()');
    await sql("SELECT pg_create_restore_point('before-drop')");
    await sql('DROP TABLE marks');
    await sleep(500);
    service.child.kill('SIGTERM');
    const stopped = await service.done;
    runs.push(stopped);
    expect(stopped.code, stopped.all).toBe(0);
    expect(stopped.stdout).toMatch(/^(\d+) heartbeat\(s\) written, the last at /m);
    expect(Number(/^(\d+) heartbeat/m.exec(stopped.stdout)![1])).toBeGreaterThan(5);
    const lastBeat = (await sql(`SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at FROM dbops.heartbeat`))[0]!['at'] as string;
    await sql('SELECT pg_switch_wal()');

    const restoreTo = async (name: string, ...args: string[]) => {
      const dir = join(home, name);
      restored.push(dir);
      const r = await run('pitr', 'restore', ...args, '--target-dir', dir, '--json');
      expect(r.code, r.all).toBe(0);
      const d = JSON.parse(r.stdout).data;
      expect(d.url).toMatch(/^postgresql:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/dbops$/);
      expect(d.phases.map((p: { name: string }) => p.name)).toEqual(['fetch', 'restore', 'WAL replay', 'verify']);
      return { d, query: (text: string) => queryUrl(`postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${d.port}/dbops`, text) };
    };

    const atT1 = await restoreTo('at-t1', '--to', t1);
    expect(await atT1.query('SELECT id FROM marks ORDER BY id')).toEqual([{ id: 1 }]);
    expect((await atT1.query('SELECT pg_is_in_recovery() AS r'))[0]).toEqual({ r: false });

    // A backup taken after the restore point cannot reach it: pgBackRest starts from the newest, dbops falls back to older ones.
    expect((await run('pitr', 'backup', '--type', 'incr')).code).toBe(0);
    const beforeDrop = await restoreTo('before-drop', '--to-restore-point', 'before-drop');
    expect(await beforeDrop.query('SELECT id FROM marks ORDER BY id')).toEqual([{ id: 1 }, { id: 2 }]);
    expect(beforeDrop.d.phases.find((p: { name: string }) => p.name === 'restore').message).toMatch(/attempt 2/);
    const unknown = await run('pitr', 'restore', '--to-restore-point', 'no-such-point', '--target-dir', join(home, 'unknown'));
    restored.push(join(home, 'unknown'));
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("The target is not in the archive: no backup's WAL reaches restore point no-such-point");

    const latest = await restoreTo('latest', '--latest');
    expect((await latest.query("SELECT to_regclass('marks') AS t"))[0]).toEqual({ t: null });
    // The RPO this restore achieved is measured: the newest heartbeat came back, nothing was lost.
    expect(latest.d.heartbeat).toEqual({ restored: lastBeat, source: lastBeat, lostMs: 0 });
    // Restored to T1, the newest heartbeat it holds is the last one before T1.
    expect(Date.parse(atT1.d.heartbeat.restored)).toBeLessThanOrEqual(Date.parse(t1));
    expect(Date.parse(t1) - Date.parse(atT1.d.heartbeat.restored)).toBeLessThan(1_000);

    // Never over existing files; a time before the first backup ended is refused with the earliest one.
    const busy = await run('pitr', 'restore', '--latest', '--target-dir', join(home, 'at-t1'));
    expect(busy.code).toBe(2);
    expect(busy.stderr).toMatch(/not empty \(it holds a PostgreSQL cluster\)/);
    const early = await run('pitr', 'restore', '--to', '2020-01-01T00:00:00Z', '--target-dir', join(home, 'early'));
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(/No backup ended before 2020-01-01T00:00:00\.000Z: the earliest time/);
    const two = await run('pitr', 'restore', '--latest', '--to', t1, '--target-dir', join(home, 'x'));
    expect(two.code).toBe(2);
  });

  it('status is healthy while archiving works, and exits 1 naming the failure when archive_command fails; backup notify announces it', async () => {
    // The status reports go where `dbops backup notify` reads them, as in pitr.yml; the webhook is on loopback.
    const hook = await startWebhook();
    onTestFinished(() => hook.close());
    const notify = async (reportsDir: string) => {
      const r = await dbops(['backup', 'notify', '--reports-dir', reportsDir], { ...env, DBOPS_BACKUP_WEBHOOK: hook.url });
      runs.push(r);
      return r;
    };
    const healthyReports = join(home, 'reports-healthy');
    const ok = await run('pitr', 'status', '--json', '--reports-dir', healthyReports);
    expect(ok.code, ok.all).toBe(0);
    // Healthy: archiving works now (an archive-push that timed out on a loaded machine and succeeded later is history, not a failure).
    expect(JSON.parse(ok.stdout).data).toMatchObject({
      archiving: { lastArchivedWal: expect.any(String) },
      repository: { backups: { full: expect.any(Object) } },
    });
    // A passing status is a success, which is not sent: every 15 minutes would bury the failures.
    const quiet = await notify(healthyReports);
    expect(quiet.code, quiet.all).toBe(0);
    expect(quiet.stdout).toContain('✅ Point-in-time recovery status of main succeeded');
    expect(quiet.stdout).toContain(`Webhook: not sent to ${hook.host}: a passing pitr status is not announced`);
    expect(hook.requests).toHaveLength(0);

    await sql("ALTER SYSTEM SET archive_command = 'exit 1'");
    await sql('SELECT pg_reload_conf()');
    try {
      await sql('CREATE TABLE IF NOT EXISTS churn (i int)');
      await sql('INSERT INTO churn SELECT generate_series(1, 1000)');
      await sql('SELECT pg_switch_wal()');
      for (let i = 0; i < 100 && Number((await sql('SELECT failed_count FROM pg_stat_archiver'))[0]!['failed_count']) === 0; i++) await sleep(100);
      const failingReports = join(home, 'reports-failing');
      const bad = await run('pitr', 'status', '--reports-dir', failingReports);
      expect(bad.code).toBe(1);
      expect(bad.stdout).toMatch(/WAL archiving is failing: \d+ failed attempt\(s\), the newest for [0-9A-F]{24}/);
      const report = JSON.parse(await readFile(join(failingReports, 'pitr-status.json'), 'utf8'));
      expect(report).toMatchObject({ step: 'pitr-status', verdict: 'fail', exitCode: 1, data: { stanza: 'main' } });
      expect(report.findings.map((f: { rule: string }) => f.rule)).toContain('pitr/archiving-failing');

      // The failure is announced: one Slack message naming the failing archive, and notify exits 1 (the job fails).
      const announced = await notify(failingReports);
      expect(announced.code).toBe(1);
      expect(announced.stderr).toMatch(/Error: pitr status failed: WAL archiving is failing: \d+ failed attempt\(s\)/);
      expect(hook.requests).toHaveLength(1);
      const payload = hook.requests[0]!.body as SlackPayload;
      expect(payload.blocks[0]).toMatchObject({ type: 'header', text: { text: '❌ Point-in-time recovery status of main failed' } });
      expect((payload.blocks[1] as { text: { text: string } }).text.text).toMatch(
        /^\*pitr status\* failed: WAL archiving is failing: \d+ failed attempt\(s\), the newest for [0-9A-F]{24} at /,
      );
      expect(payload.text).toContain('Point-in-time recovery status of main failed: pitr status failed: WAL archiving is failing');
      // The webhook URL is a secret: neither the message nor the output carries it, nor the cluster's password.
      for (const text of [JSON.stringify(payload), announced.all, quiet.all]) {
        expect(text).not.toContain(hook.token);
        expect(text).not.toContain(password);
      }
    } finally {
      await sql('ALTER SYSTEM RESET archive_command');
      await sql('SELECT pg_reload_conf()');
    }
    // Once archiving catches up, the status is healthy again.
    let healthy: CliRun | undefined;
    for (let i = 0; i < 50; i++) {
      await sql('SELECT pg_switch_wal()');
      healthy = await run('pitr', 'status');
      if (healthy.code === 0) break;
      await sleep(200);
    }
    expect(healthy!.code, healthy!.all).toBe(0);
  });

  it('a killed backup leaves nothing listed; the next backup succeeds', async () => {
    const before = JSON.parse((await run('pitr', 'list', '--json')).stdout).data.backups.length;
    const child = spawnDbops(['pitr', 'backup', '--type', 'full'], env);
    // Kill dbops and the pgBackRest it started as soon as pgBackRest copies files, as a crash would.
    const backupDir = join(localDir, 'pitr', 'repo', 'backup', 'main');
    const known = new Set(await readdir(backupDir));
    let killed: string | undefined;
    for (let i = 0; i < 400 && !killed; i++) {
      killed = (await readdir(backupDir).catch(() => [] as string[])).find((e) => /F$/.test(e) && !known.has(e));
      if (!killed) await sleep(10);
    }
    expect(killed, 'pgBackRest started copying').toBeDefined();
    child.child.kill('SIGKILL');
    // Only this cluster's backup (other test files take full backups at the same time): the main process and
    // its backup:local workers, which inherit the lock file; the next backup needs all of them gone.
    const ours = `pgbackrest --config=${join(localDir, 'pitr', 'pgbackrest.conf')} .*backup`;
    const alive = () => {
      try {
        return execFileSync('pgrep', ['-f', ours]).toString().trim() !== '';
      } catch {
        return false; // pgrep exits 1 when nothing matches
      }
    };
    for (let i = 0; i < 100 && alive(); i++) {
      try {
        execFileSync('pkill', ['-9', '-f', ours]);
      } catch {
        /* it may have finished */
      }
      await sleep(100);
    }
    expect(alive(), 'the killed backup’s pgBackRest processes are gone').toBe(false);
    await child.done;
    const list = await run('pitr', 'list', '--json');
    expect(list.code, list.all).toBe(0);
    const listed = JSON.parse(list.stdout).data.backups as Array<{ label: string }>;
    // The half-written backup is in the repository's folder but never listed.
    expect(listed.map((b) => b.label)).not.toContain(killed);
    expect(listed).toHaveLength(before);
    const next = await run('pitr', 'backup', '--type', 'full', '--json');
    expect(next.code, next.all).toBe(0);
    const after = JSON.parse((await run('pitr', 'list', '--json')).stdout).data.backups as Array<{ label: string }>;
    expect(after.map((b) => b.label)).toContain(JSON.parse(next.stdout).data.backups[0].label);
  });

  it('verify passes on an intact repository and exits 1 naming a flipped file; restoring from it fails loudly', async () => {
    const ok = await run('pitr', 'verify', '--json');
    expect(ok.code, ok.all).toBe(0);
    const listOk = JSON.parse((await run('pitr', 'list', '--json')).stdout).data.backups as Array<{ label: string; verified: { ok: boolean } | null }>;
    expect(listOk.at(-1)!.verified).toMatchObject({ ok: true });

    const newest = listOk.at(-1)!.label;
    const files: string[] = [];
    const walk = async (d: string): Promise<void> => {
      for (const e of await readdir(d, { withFileTypes: true })) {
        if (e.isDirectory()) await walk(join(d, e.name));
        else if (e.name.endsWith('.zst')) files.push(join(d, e.name));
      }
    };
    await walk(join(localDir, 'pitr', 'repo', 'backup', 'main', newest, 'pg_data', 'base'));
    const sizes = await Promise.all(files.map(async (f) => ({ f, size: (await readFile(f)).length })));
    const victim = sizes.sort((a, b) => b.size - a.size)[0]!.f;
    const bytes = await readFile(victim);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    await writeFile(victim, bytes);

    const bad = await run('pitr', 'verify');
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(victim.slice(victim.indexOf(newest)));
    const status = await run('pitr', 'status');
    expect(status.code).toBe(1);
    expect(status.stdout).toMatch(/newest repository verification .* found problems/);

    const dir = join(home, 'from-corrupt');
    restored.push(dir);
    const restore = await run('pitr', 'restore', '--latest', '--target-dir', dir);
    expect(restore.code).not.toBe(0);
    expect(restore.stderr).toMatch(/pgbackrest restore failed|checksum/i);
  });
});
