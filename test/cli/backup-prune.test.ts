// `dbops backup list` and `dbops backup prune` through the CLI, on a folder target filled with hand-made
// backups (manifest, object and verification records written through the catalog).
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { z } from 'zod';
import { newBackupId, recordVerification, writeManifest } from '../../pipeline/protection/backup/catalog.ts';
import { BackupManifest, LAYOUT, VerificationRecord } from '../../pipeline/protection/backup/manifest.ts';
import { BackupPruneData } from '../../pipeline/protection/backup/report.ts';
import { BackupsPolicy, type Tier } from '../../pipeline/policy/backups.ts';
import { DirectoryStorage } from '../../pipeline/infra/storage/directory.ts';
import { openTargets } from '../../pipeline/infra/storage/open.ts';
import type { Storage } from '../../pipeline/infra/storage/types.ts';
import { dbops, testEnv } from '../helpers/cli.ts';
import { tempDir } from '../helpers/migrations.ts';
import { s3Env, s3Target, startS3rver } from '../helpers/s3.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** 12:00 UTC `k` days before today: always in the past, and on a known UTC calendar day. */
const daysAgo = (k: number) => new Date(Math.floor(Date.now() / DAY) * DAY - k * DAY + 12 * HOUR);

interface Fixture {
  root: string;
  storage: DirectoryStorage;
  args: string[];
  reports: string;
}

async function fixture(retention: string, extraTargets = ''): Promise<Fixture> {
  const dir = await tempDir('dbops-cli-prune-');
  const root = join(dir, 'store');
  await mkdir(root);
  await mkdir(join(dir, 'policies'));
  await writeFile(
    join(dir, 'policies', 'backups.yaml'),
    `version: 1\ntargets:\n  local:\n    type: directory\n    path: ${JSON.stringify(root)}\n    primary: true\n${extraTargets}retention:\n${retention}`,
  );
  const reports = join(dir, 'reports');
  return { root, storage: new DirectoryStorage({ name: 'local', path: root }), args: ['--policies-dir', join(dir, 'policies')], reports };
}

type Check = 'sha256' | 'decrypt' | 'archive';
async function addBackup(
  storage: Storage,
  at: Date,
  o: { tier?: Tier; status?: 'verified' | 'failed' | 'unverified'; failed?: Check; database?: string; level?: 'read' | 'restore' } = {},
): Promise<string> {
  const tier = o.tier ?? 'daily';
  const id = newBackupId(tier, at);
  const body = randomBytes(1536 + Math.floor(Math.random() * 512));
  await storage.put(LAYOUT.object(id), body);
  const manifest: BackupManifest = {
    formatVersion: 1,
    id,
    tier,
    database: { name: o.database ?? 'astrofinance', systemIdentifier: '7400000000000000001', serverVersion: '15.18', serverVersionNum: 150018 },
    startedAt: new Date(at.getTime() - 60_000).toISOString(),
    finishedAt: at.toISOString(),
    dump: { format: 'custom', compressionLevel: 1, pgDump: 'pg_dump (PostgreSQL) 15.18', plaintextBytes: body.length * 3, durationMs: 60_000 },
    object: { key: 'backup.dump.age', ciphertextBytes: body.length, sha256: createHash('sha256').update(body).digest('hex') },
    encryption: {
      format: 'age-v1',
      recipients: [{ name: 'ops', recipient: 'age1xy0gsm09d4v3htt3n27a76pzjce9ztr82nkhty0t7dwpf8xjeqdsdwrfkl', fingerprint: '0123456789abcdef' }],
    },
    tables: [{ schema: 'public', name: 'Account', rows: '3', hash: '12345' }],
    dbops: { version: '0.1.0', commit: null },
  };
  await writeManifest(storage, manifest);
  const status = o.status ?? 'verified';
  if (status !== 'unverified') {
    const ok = status === 'verified';
    const failed = o.failed ?? 'decrypt';
    const record: VerificationRecord = {
      formatVersion: 1,
      backupId: id,
      target: 'local',
      at: new Date(at.getTime() + 10 * 60_000).toISOString(),
      level: o.level ?? 'read',
      ok,
      checks: (['sha256', 'decrypt', 'archive'] as const).map((name) => ({
        name,
        ok: ok || name !== failed,
        durationMs: 3,
        ...(!ok && name === failed ? { message: `${name} check failed on purpose` } : {}),
      })),
      durationMs: 9,
      dbops: { version: '0.1.0', commit: null },
    };
    await recordVerification(storage, record);
  }
  return id;
}

const ListJson = z.object({
  command: z.literal('backup list'),
  verdict: z.literal('pass'),
  data: z.object({
    target: z.object({ name: z.string(), location: z.string() }),
    tier: z.string().nullable(),
    backups: z.array(z.object({ manifest: BackupManifest, verifications: z.array(VerificationRecord), status: z.enum(['verified', 'failed', 'unverified']) })),
    incomplete: z.array(z.object({ id: z.string(), bytes: z.number(), modified: z.string() })),
  }),
});
const PruneJson = z.object({ command: z.literal('backup prune'), verdict: z.string(), data: BackupPruneData });

async function listIds(f: Fixture): Promise<string[]> {
  const run = await dbops(['backup', 'list', '--json', ...f.args]);
  expect(run.code).toBe(0);
  return ListJson.parse(JSON.parse(run.stdout)).data.backups.map((b) => b.manifest.id);
}

const DAILY2 = '  zone: UTC\n  daily: 2\n  weekly: 0\n  monthly: 0\n  keep_last: 1\n  unverified_grace: 2d\n  partial_after: 6h\n';

describe('dbops backup list', () => {
  it('prints a table oldest first with tier, time, age, size and verification status; --tier filters; --json gives the entries', async () => {
    const f = await fixture(DAILY2);
    const monthly = await addBackup(f.storage, daysAgo(40), { tier: 'monthly', level: 'restore' });
    const failed = await addBackup(f.storage, daysAgo(2), { status: 'failed', failed: 'decrypt' });
    const fresh = await addBackup(f.storage, new Date(Date.now() - 3 * HOUR), { status: 'unverified', database: 'ledger' });

    const run = await dbops(['backup', 'list', ...f.args]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`3 backups on target "local" (${f.root}), oldest first:`);
    expect(run.stdout).toMatch(/ID\s+TIER\s+FINISHED \(UTC\)\s+AGE\s+SIZE\s+STATUS\s+DATABASE/);
    const rows = run.stdout.split('\n').filter((l) => /^\s+\d{8}T/.test(l));
    expect(rows.map((l) => l.trim().split(/\s+/)[0])).toEqual([monthly, failed, fresh]);
    expect(rows[0]).toMatch(
      new RegExp(
        `monthly\\s+${daysAgo(40).toISOString().slice(0, 10)} 12:00Z\\s+(39|40) d( \\d+ h)?\\s+\\d\\.\\d KiB\\s+verified restore ${daysAgo(40).toISOString().slice(0, 10)} 12:10Z\\s+astrofinance`,
      ),
    );
    expect(rows[1]).toContain('FAILED: decrypt');
    expect(rows[2]).toMatch(/\s3 h\s.*unverified\s+ledger$/);
    expect(run.stdout).toContain('1 verified, 1 failed, 1 unverified.');

    const filtered = await dbops(['backup', 'list', '--tier', 'monthly', ...f.args]);
    expect(filtered.stdout).toContain('1 monthly backup on target "local"');
    expect(filtered.stdout).not.toContain(failed);

    const json = ListJson.parse(JSON.parse((await dbops(['backup', 'list', '--json', '--tier', 'daily', ...f.args])).stdout));
    expect(json.data.target).toEqual({ name: 'local', location: f.root });
    expect(json.data.backups.map((b) => [b.manifest.id, b.status])).toEqual([
      [failed, 'failed'],
      [fresh, 'unverified'],
    ]);
    expect(json.data.backups[0]!.verifications[0]!.checks.find((c) => !c.ok)?.name).toBe('decrypt');
  });

  it('an empty target says so and exits 0; an unknown --target is a usage error naming the targets', async () => {
    const f = await fixture(DAILY2);
    const run = await dbops(['backup', 'list', ...f.args]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`No backups on target "local" (${f.root}).`);
    const json = ListJson.parse(JSON.parse((await dbops(['backup', 'list', '--json', ...f.args])).stdout));
    expect(json.data.backups).toEqual([]);
    const none = await dbops(['backup', 'list', '--tier', 'weekly', ...f.args]);
    expect(none.code).toBe(0);
    expect(none.stdout).toContain('No weekly backups on target "local"');
    const bad = await dbops(['backup', 'list', '--target', 'offsite', ...f.args]);
    expect(bad.code).toBe(2);
    expect(bad.all).toContain('Unknown storage target "offsite"');
    expect(bad.all).toContain('"local"');
  });
});

describe('dbops backup prune', () => {
  async function typical() {
    const f = await fixture(DAILY2);
    const ids = {
      v5: await addBackup(f.storage, daysAgo(5)),
      v4: await addBackup(f.storage, daysAgo(4)),
      v3: await addBackup(f.storage, daysAgo(3)),
      v2: await addBackup(f.storage, daysAgo(2)),
      v1: await addBackup(f.storage, daysAgo(1)),
      failed: await addBackup(f.storage, new Date(daysAgo(1).getTime() + 4 * HOUR), { status: 'failed', failed: 'sha256' }),
      fresh: await addBackup(f.storage, new Date(Date.now() - HOUR), { status: 'unverified' }),
    };
    return { f, ids };
  }

  it('--dry-run deletes nothing and shows each decision with its reasons', async () => {
    const { f, ids } = await typical();
    const before = await listIds(f);
    const run = await dbops(['backup', 'prune', '--dry-run', '--reports-dir', f.reports, ...f.args]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('dry run: nothing deleted.');
    expect(run.stdout).toMatch(/ID\s+TIER\s+FINISHED \(UTC\)\s+FINISHED \(UTC\)\s+STATUS\s+DECISION\s+REASONS/);
    const line = (id: string) => run.stdout.split('\n').find((l) => l.includes(id)) ?? '';
    expect(line(ids.v1)).toMatch(/verified\s+KEEP\s+newest verified; keep_last 1\/1; daily \d{4}-\d\d-\d\d$/);
    expect(line(ids.v2)).toMatch(/KEEP\s+daily /);
    expect(line(ids.v3)).toMatch(/DELETE\s+not the newest of any kept day\/week\/month$/);
    expect(line(ids.failed)).toMatch(/FAILED\s+DELETE\s+verification failed: sha256 \(sha256 check failed on purpose\)$/);
    expect(line(ids.fresh)).toMatch(/unverified\s+KEEP\s+not verified yet, kept 2d$/);
    expect(run.stdout).toContain('3 kept, 4 to delete');
    expect(await listIds(f)).toEqual(before);

    const json = PruneJson.parse(JSON.parse((await dbops(['backup', 'prune', '--dry-run', '--json', '--reports-dir', f.reports, ...f.args])).stdout));
    expect(json.data.dryRun).toBe(true);
    expect(json.data.zone).toBe('UTC');
    const [t] = json.data.targets;
    expect(t!.name).toBe('local');
    expect(t!.deleted).toEqual([]);
    expect(
      t!.decisions
        .filter((d) => !d.keep)
        .map((d) => d.id)
        .sort(),
    ).toEqual([ids.v3, ids.v4, ids.v5, ids.failed].sort());
    // The report file carries the same data.
    const report = JSON.parse(await readFile(join(f.reports, 'backup-prune.json'), 'utf8')) as { data: unknown };
    expect(BackupPruneData.parse(report.data).targets[0]!.decisions).toHaveLength(7);
  });

  it('deletes exactly the planned backups; they disappear from backup list and from the folder', async () => {
    const { f, ids } = await typical();
    const planned = PruneJson.parse(JSON.parse((await dbops(['backup', 'prune', '--dry-run', '--json', '--reports-dir', f.reports, ...f.args])).stdout))
      .data.targets[0]!.decisions.filter((d) => !d.keep)
      .map((d) => d.id);
    const run = await dbops(['backup', 'prune', '--json', '--reports-dir', f.reports, ...f.args]);
    expect(run.code).toBe(0);
    const data = PruneJson.parse(JSON.parse(run.stdout)).data;
    expect(data.dryRun).toBe(false);
    expect([...data.targets[0]!.deleted].sort()).toEqual([...planned].sort());
    expect((await listIds(f)).sort()).toEqual([ids.v2, ids.v1, ids.fresh].sort());
    expect((await readdir(f.root)).sort()).toEqual([ids.v2, ids.v1, ids.fresh].sort());
    // Planning again deletes nothing more.
    const again = await dbops(['backup', 'prune', '--reports-dir', f.reports, ...f.args]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('3 kept, 0 deleted');
    expect(again.stdout).not.toContain('dry run');
  });

  it('keeps the newest verified backup when every newer backup failed', async () => {
    const f = await fixture(DAILY2);
    const good = await addBackup(f.storage, daysAgo(6));
    for (let k = 5; k >= 1; k--) await addBackup(f.storage, daysAgo(k), { status: 'failed', failed: k % 2 ? 'archive' : 'sha256' });
    const run = await dbops(['backup', 'prune', '--reports-dir', f.reports, ...f.args]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`${good}.*KEEP\\s+newest verified; keep_last 1/1; daily`));
    expect(run.stdout).toContain('1 kept, 5 deleted');
    expect(await listIds(f)).toEqual([good]);
  });

  it('sweeps partial uploads and manifest-less folders older than partial_after (not in a dry run, not younger ones)', async () => {
    const f = await fixture(DAILY2);
    const kept = await addBackup(f.storage, daysAgo(1));
    const old = new Date(Date.now() - 7 * HOUR);
    // A killed writer's hidden partial file (its pid is above any pid_max, so it is dead).
    const partialDir = join(f.root, newBackupId('daily', old));
    await mkdir(partialDir);
    const partial = join(partialDir, '.backup.dump.age.partial-4194999-0a1b2c3d4e5f');
    await writeFile(partial, randomBytes(100));
    await utimes(partial, old, old);
    // A backup whose object was stored but whose manifest never was (killed between the two).
    const orphan = newBackupId('daily', old);
    await f.storage.put(LAYOUT.object(orphan), randomBytes(100));
    await utimes(join(f.root, LAYOUT.object(orphan)), old, old);
    // One still being written: young, so it stays.
    const running = newBackupId('daily', new Date());
    await f.storage.put(LAYOUT.object(running), randomBytes(100));

    const listed = ListJson.parse(JSON.parse((await dbops(['backup', 'list', '--json', ...f.args])).stdout)).data;
    expect(listed.backups.map((b) => b.manifest.id)).toEqual([kept]);
    expect(listed.incomplete.map((i) => i.id).sort()).toEqual([orphan, running].sort());

    const dry = PruneJson.parse(JSON.parse((await dbops(['backup', 'prune', '--dry-run', '--json', '--reports-dir', f.reports, ...f.args])).stdout)).data;
    expect(dry.targets[0]!.swept).toEqual([`${orphan}/ (no manifest)`]);
    expect((await readdir(partialDir)).length).toBe(1);

    const run = await dbops(['backup', 'prune', '--json', '--reports-dir', f.reports, ...f.args]);
    expect(run.code).toBe(0);
    const swept = PruneJson.parse(JSON.parse(run.stdout)).data.targets[0]!.swept;
    expect(swept).toContain(`${partialDir.slice(f.root.length + 1)}/.backup.dump.age.partial-4194999-0a1b2c3d4e5f`);
    expect(swept).toContain(`${orphan}/ (no manifest: 1 object)`);
    expect(swept).toHaveLength(2);
    expect((await readdir(f.root)).sort()).toEqual([kept, running].sort());
  });

  it('prunes every target by its own records; an unreachable target or a failed deletion is reported after the rest were done (exit 3)', async () => {
    const dir = await tempDir('dbops-cli-prune-copy-');
    const copyRoot = join(dir, 'copy');
    await mkdir(copyRoot);
    const missing = join(dir, 'not-mounted');
    const f = await fixture(
      DAILY2,
      `  copy:\n    type: directory\n    path: ${JSON.stringify(copyRoot)}\n  gone:\n    type: directory\n    path: ${JSON.stringify(missing)}\n`,
    );
    const copy = new DirectoryStorage({ name: 'copy', path: copyRoot });
    const local = [await addBackup(f.storage, daysAgo(3)), await addBackup(f.storage, daysAgo(2)), await addBackup(f.storage, daysAgo(1))];
    const copies = [
      await addBackup(copy, daysAgo(5)),
      await addBackup(copy, daysAgo(4)),
      await addBackup(copy, daysAgo(3)),
      await addBackup(copy, daysAgo(2), { status: 'failed' }),
    ];

    // Block the deletion of the oldest local backup: chmod works for ordinary users, root needs the immutable flag.
    const blocked = join(f.root, local[0]!);
    const root = process.getuid?.() === 0;
    const lock = root ? spawnSync('chattr', ['+i', join(blocked, 'manifest.json')]).status === 0 : (await chmod(blocked, 0o555), true);
    try {
      const run = await dbops(['backup', 'prune', '--json', '--reports-dir', f.reports, ...f.args]);
      expect(run.code).toBe(3);
      const out = JSON.parse(run.stdout) as z.input<typeof PruneJson> & { findings: Array<{ message: string }>; error: { message: string } };
      const data = BackupPruneData.parse(out.data);
      expect(data.targets.map((t) => t.name)).toEqual(['local', 'copy', 'gone']);
      expect(data.targets[1]!.deleted.sort()).toEqual([copies[0]!, copies[3]!].sort());
      expect(data.targets[2]!.decisions).toEqual([]);
      const messages = out.findings.map((x) => x.message).join('\n');
      expect(messages).toContain('Target "gone": could not list backups');
      if (lock) {
        expect(data.targets[0]!.deleted).toEqual([]);
        expect(messages).toContain(`Target "local": could not delete ${local[0]}`);
        expect(out.error.message).toContain(`local: delete ${local[0]}`);
      } else {
        expect(data.targets[0]!.deleted).toEqual([local[0]]);
      }
      expect(out.error.message).toContain('gone: list backups');
      // The human rendering marks what could not be deleted.
      const human = await dbops(['backup', 'prune', '--target', 'local', '--reports-dir', f.reports, ...f.args]);
      expect(human.code).toBe(lock ? 3 : 0);
      if (lock) expect(human.stdout).toMatch(new RegExp(`${local[0]}.*DELETE \\(failed\\)`));
    } finally {
      if (root) spawnSync('chattr', ['-i', join(blocked, 'manifest.json')]);
      else await chmod(blocked, 0o755);
    }
    expect(await listIds(f)).toEqual(lock ? local : local.slice(1));
  });

  it('lists and prunes an S3 target; the secret key appears in no output or report', async () => {
    const server = await startS3rver();
    try {
      const dir = await tempDir('dbops-cli-prune-s3-');
      const root = join(dir, 'store');
      await mkdir(root);
      await mkdir(join(dir, 'policies'));
      const policy = {
        version: 1,
        targets: { local: { type: 'directory', path: root, primary: true }, offsite: s3Target(server) },
        retention: { zone: 'Europe/Berlin', daily: 1, weekly: 0, monthly: 0, keep_last: 1 },
      };
      await writeFile(join(dir, 'policies', 'backups.yaml'), stringify(policy));
      const env = testEnv(s3Env(server));
      const offsite = openTargets(BackupsPolicy.parse(policy), env).get('offsite');
      const old = await addBackup(offsite, daysAgo(3));
      const newest = await addBackup(offsite, daysAgo(2));
      const args = ['--policies-dir', join(dir, 'policies'), '--target', 'offsite'];

      const list = await dbops(['backup', 'list', ...args], env);
      expect(list.code).toBe(0);
      expect(list.stdout).toContain(`2 backups on target "offsite" (s3://${server.bucket}/backups/)`);
      const prune = await dbops(['backup', 'prune', '--reports-dir', join(dir, 'reports'), ...args], env);
      expect(prune.code).toBe(0);
      expect(prune.stdout).toMatch(new RegExp(`${old}.*DELETE\\s+not the newest`));
      expect(prune.stdout).toContain('1 kept, 1 deleted');
      const after = await dbops(['backup', 'list', '--json', ...args], env);
      expect(ListJson.parse(JSON.parse(after.stdout)).data.backups.map((b) => b.manifest.id)).toEqual([newest]);
      const report = await readFile(join(dir, 'reports', 'backup-prune.json'), 'utf8');
      for (const text of [list.all, prune.all, after.all, report]) {
        expect(text).not.toContain(server.secretAccessKey);
      }
    } finally {
      await server.stop();
    }
  });
});
