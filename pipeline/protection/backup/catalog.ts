import { randomBytes } from 'node:crypto';
import { text } from 'node:stream/consumers';
import { RefusedError, UsageError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { Tier } from '../../policy/backups.ts';
import type { Storage, StoredObject } from '../../infra/storage/types.ts';
import { BACKUP_ID, BackupManifest, compactUtc, LAYOUT, VerificationRecord, type BackupEntry } from './manifest.ts';
import { mapLimit } from '../../core/concurrency.ts';
import { noun } from '../../core/format.ts';

export { openTargets, type Targets } from '../../infra/storage/open.ts';

/**
 * The backups a storage target holds, read from the target itself: a backup exists once its manifest is
 * there (written last), so a killed or failing upload is never listed, whatever else it left behind.
 */

/** Small objects (manifests, verification records) are read this many at a time: S3 round trips dominate. */
const READ_CONCURRENCY = 8;

async function readJson(storage: Storage, key: string): Promise<unknown> {
  return JSON.parse(await text(await storage.get(key))) as unknown;
}

const firstIssue = (issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>) => {
  const i = issues[0];
  return i ? `${i.path.map(String).join('.') || '<root>'}: ${i.message}` : 'invalid';
};

/**
 * The status of one stored copy from its verification records (oldest first). The newest record decides,
 * with one rule on top: a `copy` record (replicate checked the SHA-256 of a copy) only carries forward the
 * result of a real verification (read or restore) made before it. A copy of a never-verified backup stays
 * unverified, so replicating cannot turn an unchecked backup into one that retention counts.
 */
export function statusOf(records: readonly VerificationRecord[]): Pick<BackupEntry, 'status' | 'verified'> {
  const newest = records.at(-1);
  if (!newest) return { status: 'unverified' };
  if (!newest.ok) return { status: 'failed' };
  const real = records.filter((r) => r.level !== 'copy').at(-1);
  if (!real) return { status: 'unverified' };
  if (!real.ok) return { status: 'failed' };
  return { status: 'verified', verified: newest };
}

/** Ids (BACKUP_ID) that have at least one object on the target, with their objects. */
async function objectsById(storage: Storage): Promise<Map<string, StoredObject[]>> {
  const byId = new Map<string, StoredObject[]>();
  for (const object of await storage.list('')) {
    const id = object.key.split('/')[0]!;
    if (!BACKUP_ID.test(id)) continue;
    const list = byId.get(id) ?? [];
    list.push(object);
    byId.set(id, list);
  }
  return byId;
}

async function readVerifications(storage: Storage, id: string, objects: readonly StoredObject[], log: Logger): Promise<VerificationRecord[]> {
  const prefix = LAYOUT.verificationPrefix(id);
  const keys = objects.filter((o) => o.key.startsWith(prefix) && o.key.endsWith('.json')).map((o) => o.key);
  const records = await mapLimit(keys, READ_CONCURRENCY, async (key) => {
    try {
      const parsed = VerificationRecord.safeParse(await readJson(storage, key));
      if (parsed.success && parsed.data.backupId === id) return { key, record: parsed.data };
      log.warn(
        { target: storage.name, key },
        `ignoring verification record ${key} on target "${storage.name}": ${parsed.success ? `backupId is ${parsed.data.backupId}` : firstIssue(parsed.error.issues)}`,
      );
    } catch (e) {
      if (e instanceof SyntaxError)
        log.warn({ target: storage.name, key }, `ignoring verification record ${key} on target "${storage.name}": not JSON (${e.message})`);
      else throw e;
    }
    return undefined;
  });
  return records
    .filter((r) => r !== undefined)
    .sort((a, b) => a.record.at.localeCompare(b.record.at) || a.key.localeCompare(b.key))
    .map((r) => r.record);
}

/**
 * Every backup on the target that has a manifest which parses, oldest first (by finishedAt, then id).
 * A broken manifest is a warning, never an error: one damaged backup must not hide the others.
 */
export async function listBackups(storage: Storage, log: Logger): Promise<BackupEntry[]> {
  const byId = await objectsById(storage);
  const entries = await mapLimit([...byId], READ_CONCURRENCY, async ([id, objects]): Promise<BackupEntry | undefined> => {
    const manifestKey = LAYOUT.manifest(id);
    if (!objects.some((o) => o.key === manifestKey)) {
      log.debug({ target: storage.name, id }, 'objects without a manifest (incomplete backup): not listed');
      return undefined;
    }
    let manifest: BackupManifest;
    try {
      const parsed = BackupManifest.safeParse(await readJson(storage, manifestKey));
      if (!parsed.success) {
        log.warn(
          { target: storage.name, key: manifestKey },
          `ignoring backup ${id} on target "${storage.name}": its manifest is invalid (${firstIssue(parsed.error.issues)})`,
        );
        return undefined;
      }
      manifest = parsed.data;
    } catch (e) {
      if (!(e instanceof SyntaxError)) throw e;
      log.warn({ target: storage.name, key: manifestKey }, `ignoring backup ${id} on target "${storage.name}": its manifest is not JSON (${e.message})`);
      return undefined;
    }
    if (manifest.id !== id) {
      log.warn({ target: storage.name, key: manifestKey }, `ignoring backup ${id} on target "${storage.name}": its manifest names ${manifest.id}`);
      return undefined;
    }
    const verifications = await readVerifications(storage, id, objects, log);
    return { manifest, verifications, ...statusOf(verifications) };
  });
  return entries
    .filter((e) => e !== undefined)
    .sort((a, b) => a.manifest.finishedAt.localeCompare(b.manifest.finishedAt) || a.manifest.id.localeCompare(b.manifest.id));
}

/**
 * Ids that have objects but no manifest: uploads that were killed, failed or are still running. Never
 * backups; prune may delete those older than retention.partial_after. `modified` is their newest object.
 */
export async function listIncomplete(storage: Storage): Promise<Array<{ id: string; keys: string[]; bytes: number; modified: Date }>> {
  const out = [];
  for (const [id, objects] of await objectsById(storage)) {
    if (objects.some((o) => o.key === LAYOUT.manifest(id))) continue;
    out.push({
      id,
      keys: objects.map((o) => o.key),
      bytes: objects.reduce((n, o) => n + o.size, 0),
      modified: new Date(Math.max(...objects.map((o) => o.modified.getTime()))),
    });
  }
  return out;
}

/**
 * Removes what interrupted writers left, once older than `olderThanMs` (retention.partial_after): partial
 * uploads (hidden files, unfinished multipart uploads) and ids with objects but no manifest (killed between
 * the upload and the manifest, or a deletion cut short). Neither was ever a backup: nothing lists them.
 * Younger ones may belong to an upload still running, and `0` turns sweeping off rather than sweeping
 * uploads in flight. Returns what was removed (`<id>/ (no manifest: N objects)` for whole ids); a dry run
 * removes nothing and returns the ids it would remove (partial files cannot be listed without removing them).
 */
export async function sweepLeftovers(storage: Storage, olderThanMs: number, log: Logger, options: { dryRun?: boolean; now?: Date } = {}): Promise<string[]> {
  if (olderThanMs <= 0) return [];
  const cutoff = (options.now ?? new Date()).getTime() - olderThanMs;
  const stale = (await listIncomplete(storage)).filter((i) => i.modified.getTime() < cutoff);
  if (options.dryRun) return stale.map((i) => `${i.id}/ (no manifest)`);
  const swept = await storage.sweepPartial(olderThanMs);
  for (const i of stale) {
    await storage.delete(i.keys);
    swept.push(`${i.id}/ (no manifest: ${i.keys.length} ${noun(i.keys.length, 'object')})`);
  }
  if (swept.length > 0) log.info({ target: storage.name, swept }, `removed ${swept.length} leftover(s) of interrupted uploads from target "${storage.name}"`);
  return swept;
}

export interface BackupSelector {
  id?: string | undefined;
  latest?: boolean | undefined;
  oldest?: boolean | undefined;
  tier?: Tier | undefined;
}

const where = (storage: Storage) => `target "${storage.name}" (${storage.location})`;

function summary(entries: readonly BackupEntry[]): string {
  if (entries.length === 0) return 'it holds no backups';
  const tiers = new Map<string, number>();
  for (const e of entries) tiers.set(e.manifest.tier, (tiers.get(e.manifest.tier) ?? 0) + 1);
  const counts = [...tiers].map(([t, n]) => `${n} ${t}`).join(', ');
  return `it holds ${entries.length} ${noun(entries.length, 'backup')} (${counts}), newest ${entries.at(-1)!.manifest.id}`;
}

/**
 * One backup by id, or the newest/oldest (of a tier). Errors say what the target does hold, so the next
 * command can be typed without a separate `backup list`.
 */
export async function findBackup(storage: Storage, selector: BackupSelector, log: Logger): Promise<BackupEntry> {
  const { id, latest = false, oldest = false, tier } = selector;
  const listHint = `See what exists with \`dbops backup list --target ${storage.name}\`.`;
  if (latest && oldest) throw new UsageError('Give either --latest or --oldest, not both.');
  if (id !== undefined && (latest || oldest)) throw new UsageError(`Give either a backup id or --${latest ? 'latest' : 'oldest'}, not both.`);
  if (id === undefined && !latest && !oldest) {
    throw new UsageError('Which backup? Give a backup id, --latest or --oldest (with --tier to pick a tier).', { hint: listHint });
  }
  if (id !== undefined) {
    if (!BACKUP_ID.test(id)) {
      throw new UsageError(`"${id}" is not a backup id; ids look like 20261124T020003Z-daily-3f9a.`, { hint: listHint });
    }
    const entries = await listBackups(storage, log);
    const found = entries.find((e) => e.manifest.id === id);
    if (found) {
      if (tier && found.manifest.tier !== tier) throw new UsageError(`Backup ${id} is a ${found.manifest.tier} backup, not ${tier}.`);
      return found;
    }
    const objects = await storage.list(`${id}/`);
    if (objects.length > 0) {
      const hasManifest = objects.some((o) => o.key === LAYOUT.manifest(id));
      throw new RefusedError(
        hasManifest
          ? `Backup ${id} on ${where(storage)} has a manifest that cannot be read (see the warning above); it is not usable.`
          : `Backup ${id} on ${where(storage)} is incomplete: it has ${objects.length} object(s) but no manifest (the upload was killed, failed or is still running).`,
        { hint: `Use another backup; ${summary(entries)}. \`dbops backup prune\` removes incomplete backups.` },
      );
    }
    throw new RefusedError(`No backup ${id} on ${where(storage)}; ${summary(entries)}.`, { hint: listHint });
  }
  const entries = await listBackups(storage, log);
  const candidates = tier ? entries.filter((e) => e.manifest.tier === tier) : entries;
  const chosen = latest ? candidates.at(-1) : candidates[0];
  if (!chosen) {
    throw new RefusedError(`No ${tier ? `${tier} ` : ''}backup on ${where(storage)}; ${summary(entries)}.`, {
      hint: tier ? `Drop --tier, or take one with \`dbops backup create --tier ${tier}\`.` : 'Take one with `dbops backup create`.',
    });
  }
  return chosen;
}

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

/**
 * Stores the manifest: the commit point of a backup, written after its object (and by replicate after
 * everything else). Refuses an invalid manifest, which would otherwise commit a backup nothing can list.
 */
export async function writeManifest(storage: Storage, manifest: BackupManifest, options: { signal?: AbortSignal } = {}): Promise<void> {
  const checked = BackupManifest.parse(manifest);
  if (!BACKUP_ID.test(checked.id)) throw new UsageError(`Refusing to write a manifest with the id "${checked.id}": not a backup id.`);
  await storage.put(LAYOUT.manifest(checked.id), json(checked), options.signal ? { signal: options.signal } : {});
}

/**
 * Stores one verification record beside its backup and returns its key. Records are never rewritten: two
 * records of the same second and level get distinct keys (`…-read.1.json`).
 */
export async function recordVerification(storage: Storage, record: VerificationRecord): Promise<string> {
  const checked = VerificationRecord.parse(record);
  const base = LAYOUT.verification(checked.backupId, new Date(checked.at), checked.level);
  let key = base;
  for (let n = 1; await storage.head(key); n++) key = base.replace(/\.json$/, `.${n}.json`);
  await storage.put(key, json(checked));
  return key;
}

/**
 * Deletes a backup: the manifest first, so it stops being listed at once and a crash halfway leaves only an
 * incomplete backup (swept by prune), never a listed backup without its object. Returns the deleted keys.
 */
export async function deleteBackup(storage: Storage, id: string): Promise<string[]> {
  if (!BACKUP_ID.test(id)) throw new UsageError(`"${id}" is not a backup id.`);
  const manifestKey = LAYOUT.manifest(id);
  const keys = (await storage.list(`${id}/`)).map((o) => o.key);
  const rest = keys.filter((k) => k !== manifestKey);
  await storage.delete([manifestKey]);
  if (rest.length > 0) await storage.delete(rest);
  return keys.includes(manifestKey) ? [manifestKey, ...rest] : rest;
}

/** `20261124T020003Z-daily-3f9a`: sorts by time; the random suffix separates two backups of one second. */
export function newBackupId(tier: Tier, at: Date): string {
  return `${compactUtc(at)}-${tier}-${randomBytes(2).toString('hex')}`;
}
