import { resolve } from 'node:path';
import { parseDuration } from '../../core/duration.ts';
import { RefusedError } from '../../core/errors.ts';
import type { Runtime } from '../../core/runtime.ts';
import { withClient } from '../../infra/db/client.ts';
import type { DbTarget } from '../../infra/db/url.ts';
import type { QueriesPolicy } from '../../policy/queries.ts';
import { compareStatements, type StatementComparison } from './compare.ts';
import { reviewIndexes, type IndexReview } from './indexes.ts';
import {
  APPLICATION_NAME,
  deployLabel,
  evidenceSnapshots,
  listSnapshots,
  localSnapshots,
  pruneSnapshots,
  readSnapshot,
  saveSnapshot,
  takeSnapshot,
  type QuerySnapshot,
  type ReplicaTarget,
  type SnapshotEntry,
  type SnapshotStore,
} from './snapshot.ts';
import { addWhatIfs } from './whatif.ts';
import type { Storage } from '../../infra/storage/types.ts';

/** Where one database's snapshots go: the local folder always; beside the environment's evidence when there is one. */
export interface SnapshotPlaces {
  local: SnapshotStore;
  /** `<prefix>/<environment>/query-snapshots/` on the evidence target; where history is read from when set. */
  evidence: SnapshotStore | null;
}

export interface QueriesTarget {
  primary: DbTarget;
  replicas: ReplicaTarget[];
  environment: string | null;
  /** The evidence storage and folder of the environment (`<prefix>/<environment>/`), when there is one. */
  evidence: { storage: Storage; folder: string } | null;
}

export async function snapshotPlaces(target: QueriesTarget, policy: QueriesPolicy): Promise<SnapshotPlaces> {
  return {
    local: await localSnapshots(resolve(policy.snapshots.dir), target.primary.database),
    evidence: target.evidence ? evidenceSnapshots(target.evidence.storage, target.evidence.folder) : null,
  };
}

export interface SnapshotTaken {
  snapshot: QuerySnapshot;
  /** Where it was stored: `local` and, with an environment, `evidence`. */
  stored: Array<{ place: 'local' | 'evidence'; location: string; key: string; sha256: string }>;
}

/** Takes a snapshot and stores it in every place; prunes each place to snapshots.keep. */
export async function recordSnapshot(
  target: QueriesTarget,
  policy: QueriesPolicy,
  meta: { label: string; deploy?: { sequence: number } },
  rt: Pick<Runtime, 'log'>,
): Promise<SnapshotTaken> {
  const snapshot = await takeSnapshot(target.primary, target.replicas, { ...meta, environment: target.environment }, rt);
  const places = await snapshotPlaces(target, policy);
  const stored: SnapshotTaken['stored'] = [];
  for (const [place, store] of [
    ['local', places.local],
    ['evidence', places.evidence],
  ] as const) {
    if (!store) continue;
    stored.push({ place, location: store.storage.location, ...(await saveSnapshot(store, snapshot)) });
  }
  // Both places keep the newest snapshots.keep (deploys' always): the evidence target is not pruned by evidence retention.
  for (const store of [places.local, places.evidence]) if (store) await pruneSnapshots(store, policy.snapshots.keep);
  return { snapshot, stored };
}

export interface QueriesReview {
  database: string;
  environment: string | null;
  at: string;
  snapshot: SnapshotTaken['stored'];
  /** The snapshot compared with: the previous one, or the one taken before deploy `sinceDeploy`. */
  previous: { key: string; at: string; label: string; sha256: string } | null;
  /** The newest snapshot at least indexes.unused_window old, if any (the unused judgement). */
  baseline: { key: string; at: string } | null;
  sinceDeploy: number | null;
  statementsInfo: QuerySnapshot['statementsInfo'];
  statements: StatementComparison;
  indexes: IndexReview;
  hypopg: boolean;
}

/** The snapshot before deploy `sequence`, or a refusal that says why there is none. */
function deploySnapshot(entries: SnapshotEntry[], sequence: number, where: string): SnapshotEntry {
  const label = deployLabel(sequence);
  const found = entries.filter((e) => e.label === label).at(-1);
  if (!found)
    throw new RefusedError(`No query snapshot was taken before deploy ${sequence} (no *-${label}.json in ${where}).`, {
      hint: '`dbops deploy` takes it before its first migration when pg_stat_statements is installed in the database and the environment has evidence storage; pick a deploy that has one (`dbops evidence list`).',
    });
  return found;
}

/**
 * `dbops queries report`: snapshot now, then compare with the previous snapshot (or the one taken before deploy
 * `sinceDeploy`), review index usage over the primary and the replicas, and measure what-ifs with hypopg.
 */
export async function reviewQueries(
  target: QueriesTarget,
  policy: QueriesPolicy,
  options: { sinceDeploy?: number | undefined },
  rt: Pick<Runtime, 'log'>,
): Promise<QueriesReview> {
  const places = await snapshotPlaces(target, policy);
  const history = places.evidence ?? places.local;
  const entries = await listSnapshots(history);
  const previousEntry =
    options.sinceDeploy !== undefined ? deploySnapshot(entries, options.sinceDeploy, `${history.storage.location} ${history.folder}`) : entries.at(-1);
  const previousRead = previousEntry ? await readSnapshot(history, previousEntry) : null;
  const previous = previousRead?.snapshot ?? null;

  const taken = await recordSnapshot(target, policy, { label: 'report' }, rt);
  const now = taken.snapshot;
  const windowMs = parseDuration(policy.indexes.unused_window) ?? 0;
  const cutoff = Date.parse(now.at) - windowMs;
  const baselineEntry = entries.filter((e) => e.takenAt.getTime() <= cutoff).at(-1);
  const baseline = baselineEntry ? (baselineEntry === previousEntry ? previous : (await readSnapshot(history, baselineEntry)).snapshot) : null;

  const statements = compareStatements(previous, now, policy);
  const indexes = reviewIndexes(now, previous, baseline, policy);
  if (indexes.findings.some((f) => f.kind === 'unindexed-foreign-key'))
    await withClient(target.primary, { log: rt.log, applicationName: APPLICATION_NAME }, async (c) => {
      await c.query(`SET default_transaction_read_only = on; SET statement_timeout = '30s'`);
      await addWhatIfs(c, indexes.findings, now.foreignKeys, now.hypopg);
    });
  return {
    database: now.database,
    environment: target.environment,
    at: now.at,
    snapshot: taken.stored,
    previous:
      previousEntry && previousRead
        ? { key: previousEntry.key, at: previousRead.snapshot.at, label: previousRead.snapshot.label, sha256: previousRead.sha256 }
        : null,
    baseline: baselineEntry && baseline ? { key: baselineEntry.key, at: baseline.at } : null,
    sinceDeploy: options.sinceDeploy ?? null,
    statementsInfo: now.statementsInfo,
    statements,
    indexes,
    hypopg: now.hypopg,
  };
}
