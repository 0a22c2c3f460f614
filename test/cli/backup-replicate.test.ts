import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { listBackups, recordVerification, writeManifest } from '../../pipeline/protection/backup/catalog.ts';
import { LAYOUT, type BackupEntry } from '../../pipeline/protection/backup/manifest.ts';
import { silentLogger } from '../../pipeline/core/logger.ts';
import { type Tier, BackupsPolicy } from '../../pipeline/policy/backups.ts';
import { openTargets, type Targets } from '../../pipeline/infra/storage/open.ts';
import { manifestFor, record } from '../helpers/backup-catalog.ts';
import { dbops, testEnv } from '../helpers/cli.ts';
import { s3Env, s3Target, startS3rver, type S3Server } from '../helpers/s3.ts';

const log = silentLogger();

describe('dbops backup replicate (folder primary → s3rver offsite)', () => {
  let dir: string;
  let server: S3Server;
  let targets: Targets;
  let env: NodeJS.ProcessEnv;
  const args = (...extra: string[]) => ['backup', 'replicate', '--policies-dir', join(dir, 'policies'), '--reports-dir', join(dir, 'reports'), ...extra];

  /** A backup on the primary: an object of random bytes and a manifest that states its real SHA-256. */
  async function backup(id: string, tier: Tier, finishedAt: string, size: number): Promise<Buffer> {
    const object = randomBytes(size);
    await targets.primary.put(LAYOUT.object(id), object);
    const m = manifestFor(id, tier, finishedAt);
    await writeManifest(targets.primary, {
      ...m,
      object: { key: 'backup.dump.age', ciphertextBytes: size, sha256: createHash('sha256').update(object).digest('hex') },
    });
    return object;
  }
  const offsite = async (): Promise<Map<string, BackupEntry>> => new Map((await listBackups(targets.get('offsite'), log)).map((e) => [e.manifest.id, e]));

  const A = '20261120T020003Z-daily-aaaa';
  const B = '20261122T030000Z-weekly-bbbb';
  const C = '20261123T020001Z-daily-cccc';
  const E = '20261124T020002Z-daily-eeee';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dbops-replicate-'));
    server = await startS3rver({ bucket: 'dbops-offsite' });
    const policy = {
      version: 1,
      targets: { primary: { type: 'directory', path: join(dir, 'primary'), primary: true }, offsite: s3Target(server) },
    };
    await mkdir(join(dir, 'policies'));
    await mkdir(join(dir, 'primary'));
    await writeFile(join(dir, 'policies', 'backups.yaml'), stringify(policy));
    env = testEnv(s3Env(server));
    targets = openTargets(BackupsPolicy.parse(policy), env);

    await backup(A, 'daily', '2026-11-20T02:09:00.000Z', 7 * 1024 * 1024 + 3); // two 5 MiB parts
    await backup(B, 'weekly', '2026-11-22T03:12:00.000Z', 4096);
    await backup(C, 'daily', '2026-11-23T02:08:00.000Z', 2048);
    await recordVerification(targets.primary, record(A, '2026-11-20T03:00:00.000Z', 'read', true, 'primary'));
    await recordVerification(targets.primary, record(A, '2026-11-21T03:00:00.000Z', 'restore', true, 'primary'));
    await recordVerification(targets.primary, record(C, '2026-11-23T03:00:00.000Z', 'read', false, 'primary'));
  });
  afterAll(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('copies what the offsite target misses, with the verification records and a copy record; skips a failed backup', async () => {
    const run = await dbops(args(), env);
    expect(run.code, run.all).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`offsite: ${A} copied, 7\\.0 MiB in .*SHA-256 checked`));
    expect(run.stdout).toContain(`offsite: ${C} skipped (its newest verification failed)`);
    expect(run.stdout).toContain('offsite (s3://dbops-offsite/backups/): 2 copied (7.0 MiB), 0 already there');
    expect(run.stdout).toContain(`${C} on target "primary" failed its newest verification; not copied to "offsite"`);
    expect(run.all).not.toContain(server.secretAccessKey);

    const there = await offsite();
    expect([...there.keys()]).toEqual([A, B]);
    // A: both records of the primary, byte for byte under the same keys, then this run's copy check.
    const a = there.get(A)!;
    expect(a.verifications.map((v) => [v.level, v.target, v.ok])).toEqual([
      ['read', 'primary', true],
      ['restore', 'primary', true],
      ['copy', 'offsite', true],
    ]);
    expect(a.status).toBe('verified');
    expect(a.verifications[2]!.checks).toEqual([
      expect.objectContaining({
        name: 'copy',
        ok: true,
        message: expect.stringContaining(`SHA-256 ${a.manifest.object.sha256} (7340035 bytes) matches the manifest`),
      }),
    ]);
    const primaryRecord = await readFile(join(dir, 'primary', A, 'verify', '20261120T030000Z-read.json'), 'utf8');
    expect(await text(await targets.get('offsite').get(`${A}/verify/20261120T030000Z-read.json`))).toBe(primaryRecord);
    // The manifest is copied as stored.
    expect(await text(await targets.get('offsite').get(LAYOUT.manifest(A)))).toBe(await readFile(join(dir, 'primary', A, 'manifest.json'), 'utf8'));
    // B was never verified: a copy check alone does not make it verified.
    expect(there.get(B)!.status).toBe('unverified');

    const report = JSON.parse(await readFile(join(dir, 'reports', 'backup-replicate.json'), 'utf8')) as {
      verdict: string;
      data: { from: { name: string }; targets: Array<{ copied: Array<{ id: string }>; present: string[]; failed: unknown[] }> };
    };
    expect(report.verdict).toBe('warn');
    expect(report.data.from.name).toBe('primary');
    expect(report.data.targets[0]!.copied.map((c) => c.id)).toEqual([A, B]);
  });

  it('a second run copies nothing; a backup verified since its copy gets its records after a fresh hash check', async () => {
    const again = await dbops(args('--json'), env);
    expect(again.code, again.all).toBe(0);
    const json = JSON.parse(again.stdout) as { data: { targets: Array<{ copied: unknown[]; present: string[] }> } };
    expect(json.data.targets[0]!.copied).toEqual([]);
    expect(json.data.targets[0]!.present).toEqual([A, B]);

    // Verified after its copy was made (records are ordered by time, so use the clock).
    await recordVerification(targets.primary, record(B, new Date().toISOString(), 'read', true, 'primary'));
    const third = await dbops(args(), env);
    expect(third.code, third.all).toBe(0);
    expect(third.stdout).toContain(`offsite: ${B} was there unverified; its hash matches, the verification of "primary" now applies`);
    expect(third.stdout).toContain('0 copied, 2 already there');
    const b = (await offsite()).get(B)!;
    expect(b.verifications.map((v) => v.level)).toEqual(['copy', 'read', 'copy']);
    expect(b.status).toBe('verified');
  });

  it('a damaged source object is refused: not listed offsite, nothing left there, and the source is marked failed', async () => {
    const object = await backup(E, 'daily', '2026-11-24T02:07:00.000Z', 6 * 1024 * 1024);
    await recordVerification(targets.primary, record(E, '2026-11-24T03:00:00.000Z', 'read', true, 'primary'));
    object[3 * 1024 * 1024] = object[3 * 1024 * 1024]! ^ 0x01; // one flipped bit, after the backup was verified
    await writeFile(join(dir, 'primary', E, 'backup.dump.age'), object);

    const run = await dbops(args(), env);
    expect(run.code, run.all).toBe(1);
    expect(run.stdout).toMatch(
      new RegExp(
        `FAILED +${E}: the object on target "primary" has SHA-256 [0-9a-f]{64} \\(6291456 bytes\\), the manifest says [0-9a-f]{64} \\(6291456 bytes\\): it is damaged; not copied`,
      ),
    );
    expect((await offsite()).has(E)).toBe(false);
    expect(await targets.get('offsite').list(`${E}/`)).toEqual([]);
    const source = (await listBackups(targets.primary, log)).find((e) => e.manifest.id === E)!;
    expect(source.status).toBe('failed');
    expect(source.verifications.at(-1)).toMatchObject({ level: 'copy', ok: false, target: 'primary', checks: [{ name: 'sha256', ok: false }] });

    // From now on it is skipped like any failed backup, and the run passes again (with a warning).
    const next = await dbops(args(), env);
    expect(next.code, next.all).toBe(0);
    expect(next.stdout).toContain(`offsite: ${E} skipped (its newest verification failed)`);
  });

  it('refuses a destination that is the source or unknown, and an unreachable endpoint is exit 3 without the secret', async () => {
    const same = await dbops(args('--to', 'primary'), env);
    expect(same.code).toBe(2);
    expect(same.stderr).toContain('--to primary is the source target itself.');
    const unknown = await dbops(args('--to', 'ofsite'), env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('Unknown storage target "ofsite"; policies/backups.yaml defines "primary", "offsite".');

    const down = await dbops(args(), { ...env, DBOPS_TEST_S3_ENDPOINT: 'http://127.0.0.1:9' });
    expect(down.code, down.all).toBe(3);
    expect(down.stderr).toMatch(
      /Replication to target "offsite" stopped: Could not .* \(target "offsite", endpoint http:\/\/127.0.0.1:9\): the endpoint is unreachable \(ECONNREFUSED\)/,
    );
    expect(down.all).not.toContain(server.secretAccessKey);
    const report = await readFile(join(dir, 'reports', 'backup-replicate.json'), 'utf8');
    expect(report).not.toContain(server.secretAccessKey);
    expect(JSON.parse(report)).toMatchObject({ verdict: 'fail', exitCode: 3 });
  });
});
