import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { buffer } from 'node:stream/consumers';
import { EnvError } from '../../core/errors.ts';
import type { Runtime } from '../../core/runtime.ts';
import { withClient } from '../../infra/db/client.ts';
import { parseDatabaseUrl, type DbTarget } from '../../infra/db/url.ts';
import { DirectoryStorage } from '../../infra/storage/directory.ts';
import { NotFoundError, type Storage } from '../../infra/storage/types.ts';
import { measureDatabase, readUsage, type DatabaseFacts, type NodeUsage } from './facts.ts';

export const APPLICATION_NAME = 'dbops queries';

/**
 * One snapshot: the primary's facts and every node's index scans, stored as JSON under
 * `<UTC to the ms>-<label>.json` (labels: `snapshot`, `report`, `deploy-000042` before deploy 42's first migration).
 */
export interface QuerySnapshot extends DatabaseFacts {
  formatVersion: 1;
  label: string;
  environment: string | null;
  /** Taken by `dbops deploy` before the first migration of the bundle with this sequence. */
  deploy: { sequence: number } | null;
  /** The primary first, then each replica that could be read. */
  nodes: NodeUsage[];
  /** Replicas listed in policies/environments.yaml that could not be read, and why (their scans are then unknown). */
  unreachable: Array<{ node: string; reason: string }>;
}

/** A replica of policies/environments.yaml: its target, or why there is none (its variable unset or not a URL). */
export interface ReplicaTarget {
  name: string;
  target: DbTarget | null;
  problem: string | null;
}

export const deployLabel = (sequence: number): string => `deploy-${String(sequence).padStart(6, '0')}`;

/** Reads the primary and each replica. A replica that cannot be read is recorded, never fatal: its absence is named where it matters (unused indexes). */
export async function takeSnapshot(
  primary: DbTarget,
  replicas: ReplicaTarget[],
  meta: { label: string; environment: string | null; deploy?: { sequence: number } },
  rt: Pick<Runtime, 'log'>,
): Promise<QuerySnapshot> {
  const { facts, usage } = await withClient(primary, { log: rt.log, applicationName: APPLICATION_NAME }, measureDatabase);
  const nodes: NodeUsage[] = [usage];
  const unreachable: QuerySnapshot['unreachable'] = [];
  for (const r of replicas) {
    try {
      if (!r.target) throw new Error(r.problem ?? 'no URL');
      nodes.push(await withClient(r.target, { log: rt.log, applicationName: APPLICATION_NAME }, (c) => readUsage(c, r.name)));
    } catch (e) {
      unreachable.push({ node: r.name, reason: (e as Error).message.split('\n')[0]! });
      rt.log.warn({ replica: r.name }, `replica ${r.name} could not be read: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  return { formatVersion: 1, label: meta.label, environment: meta.environment, deploy: meta.deploy ?? null, ...facts, nodes, unreachable };
}

/** Where the snapshots of one database live: a folder of JSON files on a storage target. */
export interface SnapshotStore {
  storage: Storage;
  /** Key prefix ending in `/`. */
  folder: string;
}

/** `20261207T162519.123Z-report.json`: the server's clock to the millisecond, so two snapshots a second apart never clash. */
const NAME = /^(\d{8}T\d{6}\.\d{3}Z)-([a-z0-9-]+)\.json$/;
const stamp = (iso: string): string => new Date(iso).toISOString().replace(/[-:]/g, '');

export interface SnapshotEntry {
  key: string;
  takenAt: Date;
  label: string;
}

const instantOf = (s: string): Date => new Date(`${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}T${s.slice(9, 11)}:${s.slice(11, 13)}:${s.slice(13)}`);

/** The local folder of one database's snapshots (`snapshots.dir/<database>/`), created when missing. */
export async function localSnapshots(dir: string, database: string): Promise<SnapshotStore> {
  await mkdir(dir, { recursive: true });
  return { storage: new DirectoryStorage({ name: 'local', path: dir }), folder: `${database.replace(/[^A-Za-z0-9_.-]/g, '_')}/` };
}

/** The snapshots beside an environment's evidence bundles: `<prefix>/<environment>/query-snapshots/` (bundle verification reads only the folder's own files). */
export const evidenceSnapshots = (storage: Storage, evidenceFolder: string): SnapshotStore => ({ storage, folder: `${evidenceFolder}query-snapshots/` });

/** Every snapshot of the store, oldest first. */
export async function listSnapshots(store: SnapshotStore): Promise<SnapshotEntry[]> {
  const entries: SnapshotEntry[] = [];
  for (const o of await store.storage.list(store.folder)) {
    const name = o.key.slice(store.folder.length);
    const m = NAME.exec(name);
    if (m) entries.push({ key: o.key, takenAt: instantOf(m[1]!), label: m[2]! });
  }
  return entries.sort((a, b) => a.takenAt.getTime() - b.takenAt.getTime() || (a.key < b.key ? -1 : 1));
}

export interface ReadSnapshot {
  snapshot: QuerySnapshot;
  /** SHA-256 of the stored bytes (a query-review bundle names both snapshots by it). */
  sha256: string;
}

const sha256 = (bytes: Buffer | string): string => createHash('sha256').update(bytes).digest('hex');

export async function readSnapshot(store: SnapshotStore, entry: SnapshotEntry): Promise<ReadSnapshot> {
  let bytes: Buffer;
  try {
    bytes = await buffer(await store.storage.get(entry.key));
  } catch (e) {
    if (e instanceof NotFoundError)
      throw new EnvError(`The query snapshot ${entry.key} on ${store.storage.location} disappeared while it was read.`, { cause: e });
    throw e;
  }
  const parsed = JSON.parse(bytes.toString('utf8')) as QuerySnapshot;
  if (parsed.formatVersion !== 1 || !Array.isArray(parsed.statements) || !Array.isArray(parsed.nodes))
    throw new EnvError(`${entry.key} on ${store.storage.location} is not a dbops query snapshot (format 1).`, {
      hint: 'Remove the file; the next `dbops queries snapshot` starts a new history.',
    });
  return { snapshot: parsed, sha256: sha256(bytes) };
}

/** Stores the snapshot; returns its key and the SHA-256 of what was stored. */
export async function saveSnapshot(store: SnapshotStore, snapshot: QuerySnapshot): Promise<{ key: string; sha256: string }> {
  const key = `${store.folder}${stamp(snapshot.at)}-${snapshot.label}.json`;
  if (await store.storage.head(key))
    throw new EnvError(`A query snapshot ${key} already exists on ${store.storage.location}: another snapshot was taken at the same millisecond.`);
  const body = `${JSON.stringify(snapshot)}\n`;
  await store.storage.put(key, body);
  return { key, sha256: sha256(body) };
}

/** Removes the oldest snapshots beyond `keep`, never a deploy's (a later `--since-deploy` needs it). */
export async function pruneSnapshots(store: SnapshotStore, keep: number): Promise<string[]> {
  const all = await listSnapshots(store);
  const removable = all.filter((e) => !e.label.startsWith('deploy-'));
  const extra = all.length - keep;
  const gone = extra > 0 ? removable.slice(0, extra).map((e) => e.key) : [];
  if (gone.length > 0) await store.storage.delete(gone);
  return gone;
}

/** The replicas of an environment, their URLs from the variables policies/environments.yaml names. */
export function replicaTargets(replicas: Array<{ name: string; database_url_env: string }>, env: NodeJS.ProcessEnv): ReplicaTarget[] {
  return replicas.map((r) => {
    const url = env[r.database_url_env];
    if (!url) return { name: r.name, target: null, problem: `${r.database_url_env} is not set` };
    try {
      return { name: r.name, target: parseDatabaseUrl(url, undefined, r.database_url_env), problem: null };
    } catch (e) {
      return { name: r.name, target: null, problem: (e as Error).message.split('\n')[0]! };
    }
  });
}
