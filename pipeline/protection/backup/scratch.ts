import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from '../../core/logger.ts';
import { connect, type Client } from '../../infra/db/client.ts';
import { dropDatabase, markOwner, onDatabase, ownership, sweepOrphans } from '../../infra/db/clone.ts';
import { parseDatabaseUrl, quoteIdent, type DbTarget } from '../../infra/db/url.ts';
import { clusterUrl, createCluster, destroyCluster, startCluster, type Cluster } from '../../infra/pg/cluster.ts';

/**
 * Where `backup verify --restore` restores to: a server (a throwaway cluster it starts itself, or one given
 * with --scratch-url) on which it creates a database for the test and drops it afterwards.
 */
export interface ScratchServer {
  /** A maintenance connection target on the server. */
  admin: DbTarget;
  /** For humans, e.g. "a throwaway PostgreSQL 15 cluster (port 40321)". */
  description: string;
  /** Server major version. */
  major: number;
  /** Stops and deletes a throwaway cluster; nothing for a server given by URL. */
  dispose(): Promise<void>;
}

export const SCRATCH_PREFIX = 'dbops_verify_';

/**
 * A cluster of its own in `dir`, started on a free port. Autovacuum is off: it would start vacuuming and
 * analysing the freshly loaded tables while the restore still runs and compete for the same cores, and the
 * restore time is the RTO evidence. Durability settings stay at their defaults so that this time is what a
 * real restore would take.
 */
export async function startThrowawayCluster(dir: string, log: Logger): Promise<ScratchServer> {
  let cluster: Cluster | undefined;
  try {
    cluster = await createCluster({ dir: join(dir, 'cluster'), log, settings: { autovacuum: 'off', 'pg_stat_statements.track': "'none'" } });
    cluster = await startCluster(cluster, log);
  } catch (e) {
    if (cluster) await destroyCluster(cluster, log).catch(() => undefined);
    throw e;
  }
  const started = cluster;
  return {
    admin: parseDatabaseUrl(clusterUrl(started, 'postgres')),
    description: `a throwaway PostgreSQL ${started.state.major} cluster (port ${started.state.port})`,
    major: started.state.major,
    dispose: () => destroyCluster(started, log),
  };
}

/** A server given by URL: databases are created through the URL's own database (a maintenance one, typically `postgres`). */
export async function urlServer(url: string, log: Logger): Promise<ScratchServer> {
  const admin = parseDatabaseUrl(url, undefined, '--scratch-url');
  const client = await connect(admin, { log, applicationName: 'dbops backup verify' });
  try {
    const { rows } = await client.query<{ major: number }>(`SELECT current_setting('server_version_num')::int / 10000 AS major`);
    // Scratch databases of verifications that were killed (kill -9, a cancelled CI job) on this machine.
    await sweepOrphans(client, SCRATCH_PREFIX, log);
    return { admin, description: `the scratch server ${admin.host}:${admin.port}`, major: rows[0]!.major, dispose: async () => undefined };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** `dbops_verify_20261124t020003z_daily_3f9a_1c2d`: tells which backup it tests; unique per run. */
export const scratchDatabaseName = (backupId: string): string =>
  `${SCRATCH_PREFIX}${backupId
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .slice(0, 40)}_${randomBytes(2).toString('hex')}`;

/**
 * Creates the scratch database (from template0: nothing in template1 may collide with the archive), runs
 * `fn` and drops the database whatever happens. The database is marked with this process as its owner,
 * so a later run sweeps it if this one is killed.
 */
export async function withScratchDatabase<T>(server: ScratchServer, name: string, log: Logger, fn: (db: DbTarget, admin: Client) => Promise<T>): Promise<T> {
  const admin = await connect(server.admin, { log, applicationName: 'dbops backup verify (admin)' });
  try {
    await admin.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0`);
    try {
      await markOwner(admin, name, ownership());
      return await fn(onDatabase(server.admin, name), admin);
    } finally {
      await dropDatabase(admin, name).catch((e: unknown) => log.warn({ database: name, err: (e as Error).message }, 'could not drop the scratch database'));
    }
  } finally {
    await admin.end().catch(() => undefined);
  }
}

/** Stops and deletes a throwaway cluster (nothing for a server given by URL), whether or not it ever started; never throws. */
export async function disposeScratch(scratch: Promise<ScratchServer> | undefined, log: Logger): Promise<void> {
  if (!scratch) return;
  await scratch
    .then(
      (s) => s.dispose(),
      () => undefined,
    )
    .catch((e: unknown) => log.warn({ err: (e as Error).message }, 'could not remove the throwaway cluster'));
}
