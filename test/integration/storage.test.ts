import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvError, UsageError } from '../../pipeline/core/errors.ts';
import { BackupsPolicy } from '../../pipeline/policy/backups.ts';
import { DirectoryStorage } from '../../pipeline/infra/storage/directory.ts';
import { openTargets } from '../../pipeline/infra/storage/open.ts';
import { NotFoundError, type Storage } from '../../pipeline/infra/storage/types.ts';
import { s3Env, s3Target, startS3rver, startS3rverProcess, type S3Server } from '../helpers/s3.ts';

const MiB = 1024 * 1024;

/** `total` random bytes in 64 KiB chunks; `failAt` makes the stream error once that many bytes were sent. */
function source(total: number, opts: { failAt?: number; onBytes?: (sent: number) => void | Promise<void> } = {}): { stream: Readable; sha256: () => string } {
  const hash = createHash('sha256');
  let sent = 0;
  const stream = new Readable({
    highWaterMark: 64 * 1024,
    async read() {
      if (opts.failAt !== undefined && sent >= opts.failAt) {
        this.destroy(new Error('source failed: pg_dump exited with status 1'));
        return;
      }
      if (sent >= total) {
        this.push(null);
        return;
      }
      const chunk = randomBytes(Math.min(64 * 1024, total - sent));
      hash.update(chunk);
      sent += chunk.length;
      await opts.onBytes?.(sent);
      this.push(chunk);
    },
  });
  return { stream, sha256: () => hash.digest('hex') };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

interface Kind {
  kind: 'directory' | 's3';
  storage: Storage;
  /** Files the target keeps on disk (the folder, or s3rver's folder), to prove nothing partial is left. */
  disk: string;
}

const kinds: Array<{ name: 'directory' | 's3'; setup: () => Promise<Kind & { stop(): Promise<void> }> }> = [
  {
    name: 'directory',
    async setup() {
      const dir = await mkdtemp(join(tmpdir(), 'dbops-storage-'));
      const storage = new DirectoryStorage({ name: 'local', path: dir });
      return { kind: 'directory', storage, disk: dir, stop: () => rm(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: 's3',
    async setup() {
      const server = await startS3rver({ bucket: 'dbops-storage' });
      const policy = BackupsPolicy.parse({ version: 1, targets: { local: { type: 'directory', path: 'unused', primary: true }, offsite: s3Target(server) } });
      const storage = openTargets(policy, s3Env(server)).get('offsite');
      return { kind: 's3', storage, disk: server.directory, stop: () => server.stop() };
    },
  },
];

describe.each(kinds)('$name storage', ({ setup }) => {
  let t: Kind & { stop(): Promise<void> };
  beforeAll(async () => {
    t = await setup();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('round-trips a multi-part stream: put, head, list, get, delete', async () => {
    const src = source(12 * MiB + 12345); // more than two 5 MiB parts, not a multiple of the part size
    let progress = 0;
    const { bytes } = await t.storage.put('20261124T020003Z-daily-3f9a/backup.dump.age', src.stream, { onProgress: (b) => (progress = b) });
    expect(bytes).toBe(12 * MiB + 12345);
    expect(progress).toBe(bytes);
    await t.storage.put('20261124T020003Z-daily-3f9a/manifest.json', '{"id":1}\n');
    await t.storage.put('other/x.json', Buffer.from('x'));

    const head = await t.storage.head('20261124T020003Z-daily-3f9a/backup.dump.age');
    expect(head).toMatchObject({ key: '20261124T020003Z-daily-3f9a/backup.dump.age', size: bytes });
    expect(await t.storage.head('20261124T020003Z-daily-3f9a/missing')).toBeUndefined();

    expect((await t.storage.list('')).map((o) => o.key)).toEqual([
      '20261124T020003Z-daily-3f9a/backup.dump.age',
      '20261124T020003Z-daily-3f9a/manifest.json',
      'other/x.json',
    ]);
    expect((await t.storage.list('20261124T020003Z-daily-3f9a/')).map((o) => [o.key, o.size])).toEqual([
      ['20261124T020003Z-daily-3f9a/backup.dump.age', bytes],
      ['20261124T020003Z-daily-3f9a/manifest.json', 9],
    ]);
    expect((await t.storage.list('2026')).length).toBe(2);

    expect(sha(await buffer(await t.storage.get('20261124T020003Z-daily-3f9a/backup.dump.age')))).toBe(src.sha256());
    expect((await buffer(await t.storage.get('20261124T020003Z-daily-3f9a/manifest.json'))).toString()).toBe('{"id":1}\n');

    // A second put replaces the object whole.
    await t.storage.put('other/x.json', 'second');
    expect((await buffer(await t.storage.get('other/x.json'))).toString()).toBe('second');

    await t.storage.delete(['20261124T020003Z-daily-3f9a/manifest.json', 'never-existed/y']);
    expect((await t.storage.list('')).map((o) => o.key)).toEqual(['20261124T020003Z-daily-3f9a/backup.dump.age', 'other/x.json']);
    await t.storage.delete(['20261124T020003Z-daily-3f9a/backup.dump.age', 'other/x.json']);
    expect(await t.storage.list('')).toEqual([]);
    await expect(t.storage.get('other/x.json')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('a put whose source fails midway rethrows the source error and leaves nothing listed or partial', async () => {
    const src = source(20 * MiB, { failAt: 7 * MiB });
    await expect(t.storage.put('20261124T030000Z-weekly-0001/backup.dump.age', src.stream)).rejects.toThrow('pg_dump exited with status 1');
    expect(await t.storage.list('')).toEqual([]);
    expect(await t.storage.sweepPartial(0)).toEqual([]);
    if (t.kind === 'directory') expect(await filesUnder(t.disk)).toEqual([]);
  });

  it('a put with an aborted signal stores nothing, whether aborted before or during the upload', async () => {
    const before = new AbortController();
    before.abort();
    await expect(t.storage.put('a/b', 'x', { signal: before.signal })).rejects.toThrow(/Interrupted/);

    const during = new AbortController();
    const src = source(30 * MiB, { onBytes: (n) => (n >= 6 * MiB ? during.abort() : undefined) });
    const err = await t.storage.put('20261124T040000Z-monthly-0002/backup.dump.age', src.stream, { signal: during.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EnvError);
    expect((err as Error).message).toMatch(/Interrupted: 20261124T040000Z-monthly-0002\/backup.dump.age was not stored/);
    expect(src.stream.destroyed).toBe(true);
    expect(await t.storage.list('')).toEqual([]);
    if (t.kind === 'directory') expect(await filesUnder(t.disk)).toEqual([]);
  });

  it('keys cannot leave the target', async () => {
    for (const key of ['../escape', 'a/../../escape', '/etc/passwd', 'a//b', 'a/./b', '.hidden', 'a/.partial', 'a\\..\\b', '']) {
      await expect(t.storage.put(key, 'x'), key).rejects.toBeInstanceOf(UsageError);
      await expect(t.storage.get(key), key).rejects.toBeInstanceOf(UsageError);
      await expect(t.storage.head(key), key).rejects.toBeInstanceOf(UsageError);
      await expect(t.storage.delete([key]), key).rejects.toBeInstanceOf(UsageError);
    }
    await expect(t.storage.list('../')).rejects.toBeInstanceOf(UsageError);
    expect(await t.storage.list('')).toEqual([]);
  });
});

describe('directory storage', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dbops-storage-dir-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('sweeps partials of dead writers older than the limit, keeps live ones, and never lists any', async () => {
    const root = join(dir, 'sweep');
    await mkdir(join(root, '20261124T020003Z-daily-3f9a'), { recursive: true });
    const storage = new DirectoryStorage({ name: 'local', path: root });
    const dead = spawnSync(process.execPath, ['-e', '']).pid!; // a pid that certainly has no process any more
    const old = new Date(Date.now() - 7 * 3600_000);
    const stale = join(root, '20261124T020003Z-daily-3f9a', `.backup.dump.age.partial-${dead}-a1b2c3`);
    const live = join(root, '20261124T020003Z-daily-3f9a', `.manifest.json.partial-${process.pid}-d4e5f6`);
    const young = join(root, `.x.partial-${dead}-0a0b0c`);
    for (const f of [stale, live, young]) await writeFile(f, 'partial bytes');
    await utimes(stale, old, old);
    await utimes(live, old, old);

    expect(await storage.list('')).toEqual([]);
    expect(await storage.sweepPartial(6 * 3600_000)).toEqual([`20261124T020003Z-daily-3f9a/.backup.dump.age.partial-${dead}-a1b2c3`]);
    expect((await filesUnder(root)).sort()).toEqual([live, young].sort());
    expect(await storage.sweepPartial(0)).toEqual([`.x.partial-${dead}-0a0b0c`]);
  });

  it('an absolute folder that does not exist (backup server not mounted) is an environment error with the fix', async () => {
    const missing = join(dir, 'not-mounted', 'astrofinance');
    const storage = new DirectoryStorage({ name: 'backup-server', path: missing });
    const err = await storage.put('a/b', 'x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EnvError);
    expect((err as EnvError).message).toBe(`Could not use the folder of target "backup-server" (${missing}): it does not exist or is not a folder.`);
    expect((err as EnvError).hint).toContain('Mount the backup server');
    await expect(storage.list('')).rejects.toBeInstanceOf(EnvError);
    await expect(storage.get('a/b')).rejects.toBeInstanceOf(EnvError);
    await expect(readdir(join(dir, 'not-mounted'))).rejects.toThrow(/ENOENT/); // nothing was created in its place
  });

  it('a relative folder is created on first use', async () => {
    const storage = new DirectoryStorage({ name: 'local', path: '.dbops/backups', cwd: join(dir, 'work') });
    expect(await storage.list('')).toEqual([]);
    await storage.put('k/v', 'x');
    expect(await filesUnder(join(dir, 'work'))).toEqual([join(dir, 'work', '.dbops', 'backups', 'k', 'v')]);
  });

  it('a folder that is a file is an environment error naming it', async () => {
    await writeFile(join(dir, 'plain-file'), 'x');
    const storage = new DirectoryStorage({ name: 'local', path: join(dir, 'plain-file') });
    await expect(storage.put('a/b', 'x')).rejects.toThrow(/target "local" .*plain-file/);
  });
});

describe('s3 storage failures', () => {
  it('a server killed mid-upload is an EnvError; after a restart nothing is listed', async () => {
    const server = await startS3rverProcess({ bucket: 'dbops-killed' });
    try {
      const storage = openTargets(BackupsPolicy.parse({ version: 1, targets: { offsite: { ...s3Target(server), primary: true } } }), s3Env(server)).primary;
      let killed: Promise<void> | undefined;
      const src = source(40 * MiB, {
        onBytes: async (n) => {
          if (n >= 11 * MiB) await (killed ??= server.kill());
        },
      });
      const err = await storage.put('20261124T020003Z-daily-3f9a/backup.dump.age', src.stream).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(EnvError);
      expect((err as EnvError).message).toMatch(
        /Could not upload s3:\/\/dbops-killed\/backups\/20261124T020003Z-daily-3f9a\/backup.dump.age \(target "offsite", endpoint http:\/\/127.0.0.1:\d+\): the endpoint is unreachable/,
      );
      expect(`${(err as EnvError).message} ${(err as EnvError).hint}`).not.toContain(server.secretAccessKey);
      await server.restart();
      expect(await storage.list('')).toEqual([]);
      expect(await storage.head('20261124T020003Z-daily-3f9a/backup.dump.age')).toBeUndefined();
    } finally {
      await server.stop();
    }
  });

  describe('with an in-process server', () => {
    let server: S3Server;
    beforeAll(async () => {
      server = await startS3rver({ bucket: 'dbops-errors' });
    });
    afterAll(async () => {
      await server.stop();
    });
    const open = (target: Record<string, unknown>, env: NodeJS.ProcessEnv) =>
      openTargets(
        BackupsPolicy.parse({ version: 1, targets: { local: { type: 'directory', path: 'unused', primary: true }, offsite: s3Target(server, target) } }),
        env,
      ).get('offsite');

    it('errors name the bucket and the fix and never contain the secret key', async () => {
      const errors: unknown[] = [];
      // Unknown access key (s3rver's equivalent of bad credentials).
      errors.push(
        await open({}, { ...s3Env(server), DBOPS_TEST_S3_KEY_ID: 'WRONGKEY' })
          .list('')
          .catch((e: unknown) => e),
      );
      // A bucket that does not exist.
      errors.push(
        await open({ bucket: 'no-such-bucket' }, s3Env(server))
          .put('a/b', 'x')
          .catch((e: unknown) => e),
      );
      // Nothing listening on the endpoint.
      errors.push(
        await open({}, { ...s3Env(server), DBOPS_TEST_S3_ENDPOINT: 'http://127.0.0.1:9' })
          .get('a/b')
          .catch((e: unknown) => e),
      );
      const [denied, noBucket, refused] = errors as EnvError[];
      expect(denied).toBeInstanceOf(EnvError);
      expect(denied!.message).toMatch(/access denied \(InvalidAccessKeyId\)/);
      expect(denied!.hint).toContain('$DBOPS_TEST_S3_KEY_ID / $DBOPS_TEST_S3_SECRET');
      expect(noBucket!.message).toContain('the bucket no-such-bucket does not exist');
      expect(noBucket!.hint).toContain('targets.offsite.bucket');
      expect(refused!.message).toMatch(/s3:\/\/dbops-errors\/backups\/a\/b .*unreachable \(ECONNREFUSED\)/);
      for (const e of errors as EnvError[]) {
        expect(e).toBeInstanceOf(EnvError);
        expect(`${e.message}\n${e.hint}\n${e.stack}`).not.toContain(server.secretAccessKey);
      }
    });

    it('an access key without its secret is an environment error naming both variables', async () => {
      const storage = open({}, { DBOPS_TEST_S3_KEY_ID: 'S3RVER', DBOPS_TEST_S3_ENDPOINT: server.endpoint });
      await expect(storage.list('')).rejects.toThrow('$DBOPS_TEST_S3_KEY_ID is set but $DBOPS_TEST_S3_SECRET is not');
    });

    it('sweepPartial on a server without ListMultipartUploads returns nothing instead of failing', async () => {
      expect(await open({}, s3Env(server)).sweepPartial(0)).toEqual([]);
    });

    it('unknown target names list the ones that exist', () => {
      const policy = BackupsPolicy.parse({ version: 1, targets: { local: { type: 'directory', path: 'x', primary: true }, offsite: s3Target(server) } });
      const targets = openTargets(policy, {});
      expect(targets.names).toEqual(['local', 'offsite']);
      expect(targets.get().name).toBe('local');
      expect(targets.all().map((s) => s.kind)).toEqual(['directory', 's3']);
      expect(() => targets.get('offsit')).toThrow(UsageError);
      expect(() => targets.get('offsit')).toThrow('Unknown storage target "offsit"; policies/backups.yaml defines "local", "offsite".');
    });
  });
});
