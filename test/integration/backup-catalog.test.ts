import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  deleteBackup,
  findBackup,
  listBackups,
  listIncomplete,
  newBackupId,
  recordVerification,
  statusOf,
  writeManifest,
} from '../../pipeline/protection/backup/catalog.ts';
import { BACKUP_ID, LAYOUT } from '../../pipeline/protection/backup/manifest.ts';
import { RefusedError, UsageError } from '../../pipeline/core/errors.ts';
import type { Tier } from '../../pipeline/policy/backups.ts';
import { DirectoryStorage } from '../../pipeline/infra/storage/directory.ts';
import type { Storage } from '../../pipeline/infra/storage/types.ts';
import { manifestFor, record } from '../helpers/backup-catalog.ts';

const A = '20261120T020003Z-daily-aaaa';
const B = '20261122T030000Z-weekly-bbbb';
const C = '20261123T020001Z-daily-cccc';
const D = '20261124T020002Z-daily-dddd';

describe('backup catalog over a folder', () => {
  let dir: string;
  let storage: Storage;
  let lines: Array<{ level: number; msg: string }>;
  const log = () => pino({ level: 'debug' }, { write: (l: string) => lines.push(JSON.parse(l) as { level: number; msg: string }) });
  const warnings = () => lines.filter((l) => l.level === 40).map((l) => l.msg);

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dbops-catalog-'));
    storage = new DirectoryStorage({ name: 'local', path: dir });
    lines = [];
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function backup(id: string, tier: Tier, finishedAt: string) {
    await storage.put(LAYOUT.object(id), 'ciphertext');
    await writeManifest(storage, manifestFor(id, tier, finishedAt));
  }

  it('lists only ids with a manifest that parses, oldest first by finishedAt', async () => {
    await backup(C, 'daily', '2026-11-23T02:05:00.000Z');
    await backup(A, 'daily', '2026-11-20T02:05:00.000Z');
    await backup(B, 'weekly', '2026-11-22T03:09:00.000Z');
    // An upload killed before its manifest: an object only.
    await storage.put(LAYOUT.object(D), 'half of a backup');
    // Broken manifests: not JSON, not a manifest, and one that names another backup.
    await storage.put(LAYOUT.manifest('20261119T020000Z-daily-0001'), '{"formatVersion": 1, "id": ');
    await storage.put(
      LAYOUT.manifest('20261119T020000Z-daily-0002'),
      JSON.stringify({ ...manifestFor('20261119T020000Z-daily-0002', 'daily', '2026-11-19T02:00:00Z'), object: { key: 'x' } }),
    );
    await storage.put(LAYOUT.manifest('20261119T020000Z-daily-0003'), JSON.stringify(manifestFor(A, 'daily', '2026-11-19T02:00:00Z')));
    // Folders that are not backups at all.
    await storage.put('notes/readme.txt', 'hello');

    const entries = await listBackups(storage, log());
    expect(entries.map((e) => e.manifest.id)).toEqual([A, B, C]);
    expect(entries.every((e) => e.status === 'unverified' && e.verifications.length === 0)).toBe(true);
    expect(warnings().sort()).toEqual([
      expect.stringMatching(/ignoring backup 20261119T020000Z-daily-0001 on target "local": its manifest is not JSON/),
      expect.stringMatching(/ignoring backup 20261119T020000Z-daily-0002 on target "local": its manifest is invalid \(object.ciphertextBytes: /),
      `ignoring backup 20261119T020000Z-daily-0003 on target "local": its manifest names ${A}`,
    ]);
    expect((await listIncomplete(storage)).map((i) => [i.id, i.keys])).toEqual([[D, [LAYOUT.object(D)]]]);
  });

  it('status comes from the verification records: the newest decides, and a copy record never verifies alone', async () => {
    const ids = [
      '20261101T020000Z-daily-0001',
      '20261102T020000Z-daily-0002',
      '20261103T020000Z-daily-0003',
      '20261104T020000Z-daily-0004',
      '20261105T020000Z-daily-0005',
      '20261106T020000Z-daily-0006',
    ];
    for (const [i, id] of ids.entries()) await backup(id, 'daily', `2026-11-0${i + 1}T02:10:00.000Z`);
    const [none, read, readThenFail, failThenRestore, copyOnly, readThenCopy] = ids as [string, string, string, string, string, string];
    await recordVerification(storage, record(read, '2026-11-02T03:00:00.000Z', 'read', true));
    await recordVerification(storage, record(readThenFail, '2026-11-03T03:00:00.000Z', 'read', true));
    await recordVerification(storage, record(readThenFail, '2026-11-10T03:00:00.000Z', 'restore', false));
    await recordVerification(storage, record(failThenRestore, '2026-11-04T03:00:00.000Z', 'read', false));
    await recordVerification(storage, record(failThenRestore, '2026-11-11T03:00:00.000Z', 'restore', true));
    await recordVerification(storage, record(copyOnly, '2026-11-05T03:00:00.000Z', 'copy', true));
    await recordVerification(storage, record(readThenCopy, '2026-11-06T03:00:00.000Z', 'read', true, 'primary'));
    await recordVerification(storage, record(readThenCopy, '2026-11-06T04:00:00.000Z', 'copy', true));
    // A damaged record is skipped with a warning; it does not hide the backup.
    await storage.put(`${read}/verify/20261102T050000Z-read.json`, 'garbage');

    const byId = new Map((await listBackups(storage, log())).map((e) => [e.manifest.id, e]));
    expect(ids.map((id) => byId.get(id)!.status)).toEqual(['unverified', 'verified', 'failed', 'verified', 'unverified', 'verified']);
    expect(byId.get(none)!.verified).toBeUndefined();
    expect(byId.get(read)!.verified).toMatchObject({ level: 'read', at: '2026-11-02T03:00:00.000Z' });
    expect(byId.get(failThenRestore)!.verified).toMatchObject({ level: 'restore' });
    expect(byId.get(readThenCopy)!.verified).toMatchObject({ level: 'copy' });
    expect(byId.get(readThenFail)!.verifications.map((v) => v.level)).toEqual(['read', 'restore']);
    expect(warnings()).toEqual([expect.stringMatching(/ignoring verification record .*20261102T050000Z-read.json .*not JSON/)]);

    // A failed copy check after a good read means the stored object changed: failed.
    expect(statusOf([record(read, '2026-11-02T03:00:00Z', 'read', true), record(read, '2026-11-09T03:00:00Z', 'copy', false)]).status).toBe('failed');
  });

  it('verification records are never overwritten, even two in the same second', async () => {
    await backup(A, 'daily', '2026-11-20T02:05:00.000Z');
    const k1 = await recordVerification(storage, record(A, '2026-11-20T03:00:00.100Z', 'read', false));
    const k2 = await recordVerification(storage, record(A, '2026-11-20T03:00:00.900Z', 'read', true));
    expect(k1).toBe(`${A}/verify/20261120T030000Z-read.json`);
    expect(k2).toBe(`${A}/verify/20261120T030000Z-read.1.json`);
    const [entry] = await listBackups(storage, log());
    expect(entry!.verifications.map((v) => v.ok)).toEqual([false, true]);
    expect(entry!.status).toBe('verified');
  });

  it('findBackup by id, latest, oldest and tier, with errors that say what exists', async () => {
    await backup(A, 'daily', '2026-11-20T02:05:00.000Z');
    await backup(B, 'weekly', '2026-11-22T03:09:00.000Z');
    await backup(C, 'daily', '2026-11-23T02:05:00.000Z');
    await storage.put(LAYOUT.object(D), 'partial');

    expect((await findBackup(storage, { id: B }, log())).manifest.id).toBe(B);
    expect((await findBackup(storage, { latest: true }, log())).manifest.id).toBe(C);
    expect((await findBackup(storage, { oldest: true }, log())).manifest.id).toBe(A);
    expect((await findBackup(storage, { latest: true, tier: 'weekly' }, log())).manifest.id).toBe(B);
    expect((await findBackup(storage, { oldest: true, tier: 'daily' }, log())).manifest.id).toBe(A);

    await expect(findBackup(storage, {}, log())).rejects.toThrow(UsageError);
    await expect(findBackup(storage, { latest: true, oldest: true }, log())).rejects.toThrow(UsageError);
    await expect(findBackup(storage, { id: A, latest: true }, log())).rejects.toThrow('Give either a backup id or --latest, not both.');
    await expect(findBackup(storage, { id: '../etc' }, log())).rejects.toThrow('"../etc" is not a backup id; ids look like 20261124T020003Z-daily-3f9a.');
    await expect(findBackup(storage, { id: A, tier: 'weekly' }, log())).rejects.toThrow(`Backup ${A} is a daily backup, not weekly.`);

    const missing = await findBackup(storage, { id: '20261101T000000Z-daily-ffff' }, log()).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(RefusedError);
    expect((missing as Error).message).toBe(
      `No backup 20261101T000000Z-daily-ffff on target "local" (${dir}); it holds 3 backups (2 daily, 1 weekly), newest ${C}.`,
    );
    const incomplete = await findBackup(storage, { id: D }, log()).catch((e: unknown) => e);
    expect(incomplete).toBeInstanceOf(RefusedError);
    expect((incomplete as Error).message).toMatch(new RegExp(`Backup ${D} on target "local" .* is incomplete: it has 1 object\\(s\\) but no manifest`));
    await expect(findBackup(storage, { latest: true, tier: 'monthly' }, log())).rejects.toThrow(
      `No monthly backup on target "local" (${dir}); it holds 3 backups (2 daily, 1 weekly), newest ${C}.`,
    );

    await mkdir(join(dir, 'empty'));
    const empty = new DirectoryStorage({ name: 'offsite', path: join(dir, 'empty') });
    await expect(findBackup(empty, { latest: true }, log())).rejects.toThrow('No backup on target "offsite"');
  });

  it('deleteBackup removes the manifest first, then the object and its records, and leaves no folder', async () => {
    await backup(A, 'daily', '2026-11-20T02:05:00.000Z');
    await backup(B, 'weekly', '2026-11-22T03:09:00.000Z');
    await recordVerification(storage, record(A, '2026-11-20T03:00:00.000Z', 'read', true));
    const calls: string[][] = [];
    const spy: Storage = {
      name: storage.name,
      kind: storage.kind,
      location: storage.location,
      put: storage.put.bind(storage),
      get: storage.get.bind(storage),
      head: storage.head.bind(storage),
      list: storage.list.bind(storage),
      sweepPartial: storage.sweepPartial.bind(storage),
      delete: (keys) => (calls.push(keys), storage.delete(keys)),
    };

    const deleted = await deleteBackup(spy, A);
    expect(calls[0]).toEqual([LAYOUT.manifest(A)]);
    expect(calls.slice(1).flat().sort()).toEqual([LAYOUT.object(A), `${A}/verify/20261120T030000Z-read.json`]);
    expect(deleted).toEqual([LAYOUT.manifest(A), LAYOUT.object(A), `${A}/verify/20261120T030000Z-read.json`]);
    expect((await listBackups(storage, log())).map((e) => e.manifest.id)).toEqual([B]);
    expect(await readdir(dir)).toEqual([B]);
    await expect(deleteBackup(storage, 'not-an-id')).rejects.toThrow(UsageError);
  });

  it('writeManifest refuses an invalid manifest; newBackupId sorts by time', async () => {
    await expect(
      writeManifest(storage, { ...manifestFor(A, 'daily', '2026-11-20T02:05:00Z'), object: { key: 'x', ciphertextBytes: 1, sha256: 'nothex' } }),
    ).rejects.toThrow();
    await expect(writeManifest(storage, manifestFor('daily-1', 'daily', '2026-11-20T02:05:00Z'))).rejects.toThrow(UsageError);
    expect(await storage.list('')).toEqual([]);

    const id = newBackupId('pre-deploy', new Date('2026-11-24T02:00:03.456Z'));
    expect(id).toMatch(BACKUP_ID);
    expect(id).toMatch(/^20261124T020003Z-pre-deploy-[0-9a-f]{4}$/);
    expect(newBackupId('daily', new Date('2026-11-24T02:00:03Z')) < newBackupId('daily', new Date('2026-11-24T02:00:04Z'))).toBe(true);
  });
});
