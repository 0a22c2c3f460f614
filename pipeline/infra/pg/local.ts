import { resolve } from 'node:path';
import { withClient } from '../db/client.ts';
import { parseDatabaseUrl, quoteIdent, type DbTarget } from '../db/url.ts';
import { ConfigError, EnvError, type DbopsError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import {
  clusterUrl,
  createCluster,
  inspectCluster,
  isRunning,
  isRunningIn,
  loadCluster,
  lockOwner,
  removeClusterFiles,
  startCluster,
  stopServerIn,
  withDirLock,
  type Cluster,
  type ClusterSite,
} from './cluster.ts';

/** The database every command uses on the embedded cluster. */
export const LOCAL_DATABASE = 'dbops';

/**
 * `.dbops/local` under the working directory; DBOPS_LOCAL_DIR moves it (tests, several checkouts sharing
 * one cluster). Read from the command's environment, which is not process.env when dbops runs in-process.
 */
export const localDir = (env: NodeJS.ProcessEnv): string => resolve(env['DBOPS_LOCAL_DIR'] ?? '.dbops/local');

export interface LocalProblem {
  message: string;
  hint: string;
}

/**
 * Why the embedded cluster at this site cannot be used, or undefined when it can (or can be created).
 * Only a broken cluster is something `local down --destroy` repairs; a file in the way is the user's.
 */
function localProblem(site: ClusterSite): LocalProblem | undefined {
  if (site.kind === 'not-a-folder') {
    const what =
      site.blocker === site.dir
        ? `${site.dir} is ${site.what}, not a folder`
        : `${site.blocker} is ${site.what}, not a folder, so ${site.dir} cannot be created`;
    return {
      message: `The embedded cluster cannot live in ${site.dir}: ${what}.`,
      hint: `Point DBOPS_LOCAL_DIR at a folder (dbops creates it when missing), or move or remove ${site.blocker}. dbops did not create it and leaves it alone.`,
    };
  }
  if (site.kind === 'broken') {
    return {
      message: `The embedded cluster in ${site.dir} is unusable: ${site.problem}.`,
      hint: `\`dbops local down --destroy\` stops its server and removes the cluster with its data (files dbops did not create stay); the next command that needs it creates a new one.`,
    };
  }
  return undefined;
}

function problemError(site: ClusterSite): DbopsError | undefined {
  const problem = localProblem(site);
  if (!problem) return undefined;
  // A file in the way is a configuration mistake (exit 2); a damaged cluster is the environment (exit 3).
  return site.kind === 'not-a-folder' ? new ConfigError(problem.message, { hint: problem.hint }) : new EnvError(problem.message, { hint: problem.hint });
}

/** Creates (first time) and starts the project's embedded cluster; safe to call from several processes at once. */
export async function ensureLocalCluster(log: Logger, env: NodeJS.ProcessEnv): Promise<{ cluster: Cluster; created: boolean }> {
  const dir = localDir(env);
  // A file in the folder's (or a parent's) place is reported before the lock, whose file is made beside
  // the folder and would trip over it. Nothing else is judged before the lock: while another process
  // creates the cluster, data/ already exists and cluster.json does not yet.
  const outside = await inspectCluster(dir);
  if (outside.kind === 'not-a-folder') throw problemError(outside);
  return withDirLock(`${dir}.lock`, async () => {
    const site = await inspectCluster(dir);
    const error = problemError(site);
    if (error) throw error;
    let cluster = site.kind === 'cluster' ? await loadCluster(site.dir, site.state, env) : undefined;
    const created = !cluster;
    cluster ??= await createCluster({ dir, log, env });
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

export async function ensureLocalDatabase(log: Logger, env: NodeJS.ProcessEnv): Promise<{ url: string; dir: string; port: number; major: number }> {
  const { cluster } = await ensureLocalCluster(log, env);
  return { url: clusterUrl(cluster, LOCAL_DATABASE), dir: cluster.dir, port: cluster.state.port, major: cluster.state.major };
}

/**
 * The server a command creates databases of its own on (rehearsal clones and templates, the schema engine's
 * throwaway databases): the one `url` names, else the embedded cluster, started when it is not running;
 * never DATABASE_URL, whose server is a real environment's. `purpose` completes the progress line.
 */
export async function databaseServer(
  url: string | undefined,
  flag: string,
  purpose: string,
  rt: { log: Logger; env: NodeJS.ProcessEnv; progress(line: string): void },
): Promise<DbTarget> {
  if (url) return parseDatabaseUrl(url, undefined, flag);
  const local = await ensureLocalDatabase(rt.log, rt.env);
  rt.progress(`Using the embedded PostgreSQL ${local.major} cluster in ${local.dir} (port ${local.port}) ${purpose}; pass ${flag} to use another server.`);
  return parseDatabaseUrl(local.url);
}

export interface LocalStatus {
  dir: string;
  exists: boolean;
  running: boolean;
  port: number | null;
  version: string | null;
  binDir: string | null;
  database: string;
  /** Connection URL with the password masked; the password is in cluster.json (mode 0600). */
  url: string | null;
  createdAt: string | null;
  /** Why the cluster cannot be used (a corrupt cluster.json, a file in its place) and what to do. */
  problem: LocalProblem | null;
}

/** What `dbops local status` reports; never fails on a broken cluster or a file in its place, it describes them. */
export async function localStatus(env: NodeJS.ProcessEnv): Promise<LocalStatus> {
  const dir = localDir(env);
  const site = await inspectCluster(dir);
  const none = {
    dir,
    exists: false,
    running: false,
    port: null,
    version: null,
    binDir: null,
    database: LOCAL_DATABASE,
    url: null,
    createdAt: null,
    problem: null,
  };
  if (site.kind === 'absent' || site.kind === 'foreign') return none;
  if (site.kind === 'not-a-folder') return { ...none, problem: localProblem(site)! };
  if (site.kind === 'broken') {
    // While `local up` creates the cluster, data/ exists before cluster.json: that is not damage.
    const creator = await lockOwner(`${dir}.lock`);
    const problem = creator
      ? {
          message: `The embedded cluster in ${dir} is being created or started by dbops (pid ${creator}).`,
          hint: 'Run `dbops local status` again when it has finished.',
        }
      : localProblem(site)!;
    return { ...none, exists: true, running: await isRunningIn(dir, env), problem };
  }
  const cluster = await loadCluster(site.dir, site.state, env);
  return {
    dir,
    exists: true,
    running: await isRunning(cluster),
    port: cluster.state.port,
    version: cluster.bins.version,
    binDir: cluster.bins.binDir,
    database: LOCAL_DATABASE,
    url: parseDatabaseUrl(clusterUrl(cluster, LOCAL_DATABASE)).display,
    createdAt: cluster.state.createdAt,
    problem: null,
  };
}

export interface LocalDown {
  dir: string;
  /** A server was running on the cluster's data directory and was stopped. */
  stopped: boolean;
  /** The cluster's files were removed (`--destroy`). */
  destroyed: boolean;
  /** `--destroy`: entries of the folder that were removed, entries left in place, and whether the folder went too. */
  removed: string[];
  kept: string[];
  folderRemoved: boolean;
  /** What was at the cluster's place (ClusterSite kinds): a `broken` cluster is stopped and destroyed like a usable one. */
  found: ClusterSite['kind'];
  /** Why the cluster there cannot be used, unless it was just destroyed. */
  problem: LocalProblem | null;
}

/**
 * `dbops local down [--destroy]`. Works without a readable cluster.json: the server is stopped through its
 * data directory, and only what dbops created is removed. A path that holds no dbops cluster (nothing, a
 * file, a folder of other things) is left exactly as it is.
 */
export async function downLocalCluster(log: Logger, env: NodeJS.ProcessEnv, { destroy }: { destroy: boolean }): Promise<LocalDown> {
  const dir = localDir(env);
  const outcome = (site: ClusterSite, rest: Partial<LocalDown> = {}): LocalDown => ({
    dir,
    stopped: false,
    destroyed: false,
    removed: [],
    kept: [],
    folderRemoved: false,
    found: site.kind,
    problem: localProblem(site) ?? null,
    ...rest,
  });
  const ours = (site: ClusterSite) => site.kind === 'broken' || site.kind === 'cluster';
  const first = await inspectCluster(dir);
  if (!ours(first)) return outcome(first);
  if (!destroy) return outcome(first, { stopped: await stopServerIn(dir, log, 'fast', env) });
  // Under the lock, so that a `local up` that is creating or starting the cluster finishes first; a lock
  // left by a process that is gone is taken over and removed with the rest.
  return withDirLock(`${dir}.lock`, async () => {
    const site = await inspectCluster(dir);
    if (!ours(site)) return outcome(site);
    const stopped = await stopServerIn(dir, log, 'immediate', env);
    return outcome(site, { stopped, destroyed: true, problem: null, ...(await removeClusterFiles(dir)) });
  });
}
