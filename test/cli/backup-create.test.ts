// `dbops backup create` as its own process: killed with SIGKILL mid-stream, or losing its S3 target
// mid-upload, it never leaves a backup that anything lists and never a manifest; the next run sweeps what the
// killed one left. No secret reaches any output, and a policy without recipients is refused with its key.
import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { beforeAll, describe, expect, it } from 'vitest';
import { openTargets } from '../../pipeline/protection/backup/catalog.ts';
import { LAYOUT } from '../../pipeline/protection/backup/manifest.ts';
import type { BackupCreateData } from '../../pipeline/protection/backup/report.ts';
import { silentLogger } from '../../pipeline/core/logger.ts';
import { BackupsPolicy } from '../../pipeline/policy/backups.ts';
import type { BackupListData } from '../../pipeline/commands/backup/list/run.ts';
import { runDbops, spawnDbops, testEnv } from '../helpers/cli.ts';
import { adminUrl, queryUrl, useDatabase } from '../helpers/db.ts';
import { tempDir } from '../helpers/migrations.ts';
import { s3Env, s3Target, startS3rver, startS3rverProcess } from '../helpers/s3.ts';
import { ageKey, type AgeKey } from '../helpers/age.ts';

interface Setup {
  policies: string;
  reports: string;
  /** The policy object written to backups.yaml (JSON is YAML). */
  policy: Record<string, unknown>;
}

async function setup(policy: Record<string, unknown>): Promise<Setup> {
  const policies = await tempDir('dbops-create-policies-');
  const reports = await tempDir('dbops-create-reports-');
  const full = { version: 1, ...policy };
  await writeFile(join(policies, 'backups.yaml'), JSON.stringify(full, null, 2));
  return { policies, reports, policy: full };
}

const args = (s: Setup, url: string, extra: string[] = []) => [
  'backup',
  'create',
  '--database-url',
  url,
  '--policies-dir',
  s.policies,
  '--reports-dir',
  s.reports,
  ...extra,
];

/** Every file under `dir`, hidden ones included, with its size. */
async function walk(dir: string, prefix = ''): Promise<Array<{ path: string; size: number }>> {
  const out: Array<{ path: string; size: number }> = [];
  let entries;
  try {
    entries = await readdir(join(dir, prefix), { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await walk(dir, rel)));
    else
      out.push({
        path: rel,
        size: await stat(join(dir, rel)).then(
          (s) => s.size,
          () => 0,
        ),
      });
  }
  return out;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Processes whose parent is `pid` (Linux /proc). */
async function children(pid: number): Promise<Array<{ pid: number; comm: string }>> {
  const out = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    const m = /^\d+ \((.*)\) \S+ (\d+)/.exec(s);
    if (m && Number(m[2]) === pid) out.push({ pid: Number(name), comm: m[1]! });
  }
  return out;
}

const alive = (pid: number) =>
  readFile(`/proc/${pid}/stat`, 'utf8').then(
    (s) => !/^\d+ \(.*\) Z/.test(s),
    () => false,
  );

async function listJson(s: Setup, env: NodeJS.ProcessEnv): Promise<BackupListData> {
  const out = await runDbops(['backup', 'list', '--json', '--policies-dir', s.policies], env);
  expect(out.code, out.all).toBe(0);
  return (JSON.parse(out.stdout) as { data: BackupListData }).data;
}

describe('backup create (real process)', () => {
  const big = useDatabase('backup_create_cli');
  const small = useDatabase('backup_create_cli_small');
  let key: AgeKey;

  beforeAll(async () => {
    // ~130 MB of table data: pg_dump needs a few seconds, long enough to be killed mid-stream.
    await big().query(
      `CREATE TABLE ledger AS SELECT g AS id, md5(g::text) AS a, md5((g * 7)::text) || md5((g * 13)::text) AS b, (g * 1.37)::numeric(14, 2) AS c FROM generate_series(1, 1000000) g`,
    );
    await small().query(`CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 100) g`);
    key = await ageKey();
  });

  it('kill -9 mid-stream: nothing is listed, no manifest exists, pg_dump goes away, and the next create sweeps the partial', async () => {
    const target = await tempDir('dbops-create-target-');
    const s = await setup({
      encryption: { recipients: [{ name: 'ops', key: key.recipient }] },
      targets: { server: { type: 'directory', path: target, primary: true } },
      retention: { partial_after: '1ms' },
    });
    const env = testEnv();
    const proc = spawnDbops(args(s, big().url), env);
    const partial = await until('the partial upload to grow past 1 MiB', async () => {
      const f = (await walk(target)).find((x) => /(^|\/)\.backup\.dump\.age\.partial-/.test(x.path) && x.size > 1024 * 1024);
      return f ?? (proc.child.exitCode !== null ? Promise.reject(new Error(`dbops exited early:\n${proc.output()}`)) : undefined);
    });

    // pg_dump runs as dbops' child with the password in its environment, never on its command line.
    const dump = (await children(proc.child.pid!)).find((c) => c.comm === 'pg_dump');
    expect(dump, 'pg_dump child').toBeDefined();
    const password = decodeURIComponent(new URL(adminUrl()).password);
    const cmdline = (await readFile(`/proc/${dump!.pid}/cmdline`, 'utf8')).split('\0');
    expect(cmdline.some((a) => a.startsWith('--snapshot='))).toBe(true);
    expect(cmdline.join(' ')).not.toContain(password);
    expect((await readFile(`/proc/${dump!.pid}/environ`, 'utf8')).split('\0')).toContain(`PGPASSWORD=${password}`);

    proc.child.kill('SIGKILL');
    const killed = await proc.done;
    expect(killed.code).toBe(128);
    // Orphaned, pg_dump dies on its next write into the closed pipe instead of dumping on for nobody.
    await until('pg_dump to exit', async () => ((await alive(dump!.pid)) ? undefined : true), 30_000);

    const left = await walk(target);
    expect(left.map((f) => f.path)).toContain(partial.path);
    expect(left.filter((f) => f.path.endsWith('manifest.json'))).toEqual([]);
    const listed = await listJson(s, env);
    expect(listed.backups).toEqual([]);

    const next = await runDbops(args(s, small().url, ['--json']), env);
    expect(next.code, next.all).toBe(0);
    const data = (JSON.parse(next.stdout) as { data: BackupCreateData }).data;
    expect(data.swept).toContain(partial.path);
    const after = (await walk(target)).map((f) => f.path);
    expect(after).toEqual([`${data.manifest.id}/backup.dump.age`, `${data.manifest.id}/manifest.json`]);
    expect((await listJson(s, env)).backups.map((b) => b.manifest.id)).toEqual([data.manifest.id]);
  });

  it('Ctrl-C mid-stream stops pg_dump, removes the partial upload and exits 3; pg_dump dying mid-stream does the same with its own message', async () => {
    const target = await tempDir('dbops-create-target-');
    const s = await setup({
      encryption: { recipients: [{ name: 'ops', key: key.recipient }] },
      targets: { server: { type: 'directory', path: target, primary: true } },
    });
    const env = testEnv();
    const streaming = async (proc: ReturnType<typeof spawnDbops>) =>
      until('the partial upload to grow past 1 MiB', async () => {
        if (proc.child.exitCode !== null) throw new Error(`dbops exited early:\n${proc.output()}`);
        return (await walk(target)).some((x) => x.path.includes('.partial-') && x.size > 1024 * 1024) ? true : undefined;
      });

    const interrupted = spawnDbops(args(s, big().url), env);
    await streaming(interrupted);
    const dump = (await children(interrupted.child.pid!)).find((c) => c.comm === 'pg_dump')!;
    interrupted.child.kill('SIGINT');
    const stopped = await interrupted.done;
    expect(stopped.code, stopped.all).toBe(3);
    expect(stopped.stderr).toMatch(/Interrupted: backup \S+ was not completed/);
    expect(await alive(dump.pid)).toBe(false);
    expect(await walk(target)).toEqual([]);

    // The server ends pg_dump's session mid-COPY: pg_dump exits 1 after a clean end of its output, which must
    // not complete the upload of a truncated archive.
    const failing = spawnDbops(args(s, big().url), env);
    await streaming(failing);
    const [{ n }] = (await big().query<{ n: number }>(
      // Only this database's: other test files take backups on the same server at the same time.
      `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = 'dbops backup create (pg_dump)' AND datname = current_database()`,
    )) as [{ n: number }];
    expect(n).toBe(1);
    const failed = await failing.done;
    expect(failed.code, failed.all).toBe(3);
    expect(failed.stderr).toMatch(/pg_dump failed \(exit 1\) while dumping 127\.0\.0\.1:\d+\/\S+:\npg_dump: error: /);
    expect(failed.all).not.toContain(decodeURIComponent(new URL(adminUrl()).password));
    expect(await walk(target)).toEqual([]);
    expect((await listJson(s, env)).backups).toEqual([]);
  });

  it('an S3 target stopped mid-upload: exit 3 naming the target; after a restart nothing is listed and no manifest exists', async () => {
    const s3 = await startS3rverProcess({ bucket: 'dbops-create-stop' });
    try {
      const s = await setup({
        encryption: { recipients: [{ name: 'ops', key: key.recipient }] },
        targets: { offsite: s3Target(s3, { primary: true }) },
        progress_interval: '50ms',
      });
      const env = testEnv(s3Env(s3));
      const proc = spawnDbops(args(s, big().url), env);
      // Several 5 MiB parts are under way once 20 MiB went through the encryption.
      await until('20 MiB to stream', async () => {
        const sizes = [...proc.output().matchAll(/: ([\d.]+) MiB/g)].map((m) => Number(m[1]));
        if (proc.child.exitCode !== null) throw new Error(`dbops exited early:\n${proc.output()}`);
        return sizes.some((n) => n >= 20) ? true : undefined;
      });
      await s3.kill();
      const failed = await proc.done;
      expect(failed.code, failed.all).toBe(3);
      expect(failed.stderr).toContain('"offsite"');
      expect(failed.all).not.toContain(s3.secretAccessKey);

      await s3.restart();
      const listed = await listJson(s, env);
      expect(listed.backups).toEqual([]);
      const storage = openTargets(BackupsPolicy.parse(s.policy), env, silentLogger()).primary;
      expect((await storage.list('')).filter((o) => o.key.endsWith('manifest.json'))).toEqual([]);
      expect((await walk(s3.directory)).filter((f) => f.path.includes('manifest.json'))).toEqual([]);
    } finally {
      await s3.stop();
    }
  });

  it('no secret (database password, S3 secret key, age identity) appears in stdout, stderr, the report or the manifest', async () => {
    const role = `backup_cli_${randomBytes(4).toString('hex')}`;
    const password = `Pw:${randomBytes(9).toString('base64url')}@/x`;
    await queryUrl(adminUrl(), `CREATE ROLE ${role} LOGIN PASSWORD '${password}' IN ROLE pg_read_all_data`);
    const s3 = await startS3rver({ bucket: 'dbops-create-secrets' });
    try {
      const s = await setup({
        encryption: { recipients: [{ name: 'ops', key: key.recipient }] },
        targets: { offsite: s3Target(s3, { primary: true }) },
        progress_interval: '10ms',
      });
      const u = new URL(small().url);
      u.username = role;
      u.password = encodeURIComponent(password);
      const env = testEnv({ ...s3Env(s3), DBOPS_BACKUP_IDENTITY: key.identity, DBOPS_LOG_LEVEL: 'debug' });
      const human = await runDbops(args(s, u.toString(), ['--verbose']), env);
      expect(human.code, human.all).toBe(0);
      expect(human.stdout).toMatch(/Backup \S+ stored\./);
      const json = await runDbops(args(s, u.toString(), ['--json']), env);
      expect(json.code, json.all).toBe(0);
      const id = (JSON.parse(json.stdout) as { data: BackupCreateData }).data.manifest.id;
      const report = await readFile(join(s.reports, 'backup-create.json'), 'utf8');
      const storage = openTargets(BackupsPolicy.parse(s.policy), env, silentLogger()).primary;
      const manifest = await text(await storage.get(LAYOUT.manifest(id)));
      expect(manifest).toContain(id);
      const everything = [human.all, json.all, report, manifest].join('\n');
      for (const secret of [password, encodeURIComponent(password), s3.secretAccessKey, key.identity]) expect(everything).not.toContain(secret);
      // The failure path prints too: a wrong password is reported without the password.
      u.password = encodeURIComponent(`${password}-wrong`);
      const denied = await runDbops(args(s, u.toString()), env);
      expect(denied.code).toBe(3);
      expect(denied.all).not.toContain(`${password}-wrong`);
      expect(denied.all).not.toContain(encodeURIComponent(`${password}-wrong`));
    } finally {
      await s3.stop();
      await queryUrl(adminUrl(), `DROP ROLE IF EXISTS ${role}`);
    }
  });

  it('a policy without recipients is refused with exit 2 naming encryption.recipients, before anything is stored', async () => {
    const target = await tempDir('dbops-create-target-');
    const s = await setup({ targets: { server: { type: 'directory', path: target, primary: true } } });
    const out = await runDbops(args(s, small().url));
    expect(out.code, out.all).toBe(2);
    expect(out.stderr).toContain(`${join(s.policies, 'backups.yaml')}: encryption.recipients is empty`);
    expect(out.stderr).toContain('age-keygen');
    expect(await walk(target)).toEqual([]);
    const json = await runDbops(args(s, small().url, ['--json']));
    expect(json.code).toBe(2);
    expect((JSON.parse(json.stdout) as { error: { message: string; exitCode: number } }).error).toMatchObject({
      exitCode: 2,
      message: expect.stringContaining('encryption.recipients'),
    });
  });
});
