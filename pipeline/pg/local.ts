import { resolve } from 'node:path';
import { withClient } from '../db/client.ts';
import { parseDatabaseUrl, quoteIdent } from '../db/url.ts';
import type { Logger } from '../core/logger.ts';
import { clusterUrl, createCluster, openCluster, startCluster, withDirLock, type Cluster } from './cluster.ts';

/** The database every command uses on the embedded cluster. */
export const LOCAL_DATABASE = 'dbops';

/** `.dbops/local` under the working directory; DBOPS_LOCAL_DIR moves it (tests, several checkouts sharing one cluster). */
export const localDir = (env: NodeJS.ProcessEnv = process.env): string => resolve(env['DBOPS_LOCAL_DIR'] ?? '.dbops/local');

/** Creates (first time) and starts the project's embedded cluster; safe to call from several processes at once. */
export async function ensureLocalCluster(log: Logger, dir = localDir()): Promise<{ cluster: Cluster; created: boolean }> {
  return withDirLock(`${dir}.lock`, async () => {
    let cluster = await openCluster(dir);
    const created = !cluster;
    cluster ??= await createCluster({ dir, log });
    cluster = await startCluster(cluster, log);
    const admin = parseDatabaseUrl(clusterUrl(cluster, 'postgres'));
    await withClient(admin, { log, applicationName: 'dbops local' }, async (client) => {
      const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [LOCAL_DATABASE]);
      if (!rowCount) await client.query(`CREATE DATABASE ${quoteIdent(LOCAL_DATABASE)}`);
    });
    await withClient(parseDatabaseUrl(clusterUrl(cluster, LOCAL_DATABASE)), { log, applicationName: 'dbops local' }, (client) =>
      client.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements'),
    );
    return { cluster, created };
  });
}

export async function ensureLocalDatabase(log: Logger): Promise<{ url: string; dir: string; port: number; major: number }> {
  const { cluster } = await ensureLocalCluster(log);
  return { url: clusterUrl(cluster, LOCAL_DATABASE), dir: cluster.dir, port: cluster.state.port, major: cluster.state.major };
}
