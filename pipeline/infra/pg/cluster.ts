import { randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { appendFile, chown, lstat, mkdir, open, readdir, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { EnvError } from '../../core/errors.ts';
import { nearestExisting } from '../../core/fs.ts';
import { silentLogger, type Logger } from '../../core/logger.ts';
import { registerSecret } from '../../core/redact.ts';
import { createShell, type RunAs } from '../../core/shell.ts';
import { findPgBinaries, pgTool, serverRunAs, type PgBinaries } from './binaries.ts';

/** What dbops remembers about a cluster it created; stored as `cluster.json` (mode 0600) beside `data/`. */
export interface ClusterState {
  version: 1;
  port: number;
  superuser: string;
  password: string;
  major: number;
  createdAt: string;
}

export interface Cluster {
  /** Directory holding `data/`, `postgres.log` and `cluster.json`. */
  dir: string;
  dataDir: string;
  logFile: string;
  state: ClusterState;
  bins: PgBinaries;
}

export interface ClusterOptions {
  dir: string;
  log: Logger;
  /** Extra server settings written into postgresql.conf at creation (e.g. fsync=off for tests). */
  settings?: Record<string, string | number>;
  /** Where PG_BIN and PATH are read from to find the binaries. */
  env?: NodeJS.ProcessEnv;
}

const BASE_SETTINGS: Record<string, string | number> = {
  listen_addresses: "'127.0.0.1'",
  // TCP only: a socket directory would have to be writable by the server user and short enough for sun_path.
  unix_socket_directories: "''",
  shared_preload_libraries: "'pg_stat_statements'",
  'pg_stat_statements.track': "'all'",
  logging_collector: 'off',
  log_min_messages: 'warning',
  log_timezone: "'UTC'",
  timezone: "'UTC'",
};

export const clusterUrl = (c: Cluster, database: string): string =>
  `postgresql://${c.state.superuser}:${encodeURIComponent(c.state.password)}@127.0.0.1:${c.state.port}/${encodeURIComponent(database)}`;

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port'))));
    });
  });
}

type StateRead = { state: ClusterState } | { missing: true } | { problem: string };

const STATE_FILE = 'cluster.json';

/** Names of the fields that are absent or of the wrong type; never their values (the password is one). */
function invalidStateFields(value: unknown): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return ['(not a JSON object)'];
  const v = value as Record<string, unknown>;
  const checks: Record<keyof ClusterState, boolean> = {
    version: v['version'] === 1,
    port: Number.isInteger(v['port']) && (v['port'] as number) > 0 && (v['port'] as number) < 65536,
    superuser: typeof v['superuser'] === 'string' && v['superuser'] !== '',
    password: typeof v['password'] === 'string' && v['password'] !== '',
    major: Number.isInteger(v['major']) && (v['major'] as number) > 0,
    createdAt: typeof v['createdAt'] === 'string',
  };
  return Object.entries(checks)
    .filter(([, ok]) => !ok)
    .map(([field]) => field);
}

/**
 * A damaged state file may still hold the password (a truncated write, a hand edit): it is masked in
 * everything dbops prints before the file is judged, whatever shape the rest is in.
 */
function registerStatePassword(text: string, parsed: unknown): void {
  if (typeof parsed === 'object' && parsed !== null && typeof (parsed as Record<string, unknown>)['password'] === 'string') {
    registerSecret((parsed as Record<string, string>)['password']);
  }
  for (const m of text.matchAll(/"password"\s*:\s*"((?:[^"\\]|\\.)*)/g)) registerSecret(m[1]);
}

async function readState(dir: string): Promise<StateRead> {
  const path = join(dir, STATE_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { missing: true };
    return {
      problem: code === 'EISDIR' ? `its state file ${path} is a folder, not a file` : `its state file ${path} cannot be read (${code ?? (e as Error).message})`,
    };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // JSON.parse's message can quote the file, and the file holds the password: only say what is wrong.
    registerStatePassword(text, undefined);
    return { problem: `its state file ${path} is corrupt (not valid JSON)` };
  }
  registerStatePassword(text, parsed);
  const invalid = invalidStateFields(parsed);
  if (invalid.length) return { problem: `its state file ${path} is corrupt (missing or invalid: ${invalid.join(', ')})` };
  return { state: parsed as ClusterState };
}

async function writeState(dir: string, state: ClusterState): Promise<void> {
  const path = join(dir, 'cluster.json');
  await writeFile(`${path}.tmp`, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await rename(`${path}.tmp`, path);
}

/**
 * What is at a cluster location, from the file system alone (no binaries, no server):
 * - `absent`: nothing there;
 * - `not-a-folder`: the path, or one of its parents (`blocker`), exists and is not a folder;
 * - `foreign`: a folder without cluster.json or data/PG_VERSION, so no cluster dbops created;
 * - `broken`: a cluster dbops created whose cluster.json is corrupt, unreadable or lost;
 * - `cluster`: a usable one.
 */
export type ClusterSite =
  | { kind: 'absent'; dir: string }
  | { kind: 'not-a-folder'; dir: string; blocker: string; what: string }
  | { kind: 'foreign'; dir: string }
  | { kind: 'broken'; dir: string; problem: string }
  | { kind: 'cluster'; dir: string; state: ClusterState };

const describeType = (s: Stats): string =>
  s.isFile() ? 'a file' : s.isFIFO() ? 'a named pipe' : s.isSocket() ? 'a socket' : s.isCharacterDevice() || s.isBlockDevice() ? 'a device' : 'a special file';

async function nonFolderAncestor(path: string): Promise<{ blocker: string; what: string } | undefined> {
  const { path: p, stats } = await nearestExisting(dirname(path));
  return stats && !stats.isDirectory() ? { blocker: p, what: describeType(stats) } : undefined;
}

export async function inspectCluster(dir: string): Promise<ClusterSite> {
  dir = resolve(dir);
  let info: Stats;
  try {
    info = await stat(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      // stat follows links: a link to nothing is still something mkdir cannot replace.
      const link = await lstat(dir).catch(() => undefined);
      if (link?.isSymbolicLink()) return { kind: 'not-a-folder', dir, blocker: dir, what: 'a symbolic link to a missing target' };
      // Created between the two calls (a second `local up` at the same moment): look again.
      if (link) return inspectCluster(dir);
      return { kind: 'absent', dir };
    }
    if (code === 'ENOTDIR') {
      const found = await nonFolderAncestor(dir);
      if (found) return { kind: 'not-a-folder', dir, ...found };
    }
    throw new EnvError(`Cannot examine ${dir} (${code ?? (e as Error).message}).`, { hint: `Check the permissions of ${dir} and its parent folders.` });
  }
  if (!info.isDirectory()) return { kind: 'not-a-folder', dir, blocker: dir, what: describeType(info) };
  const read = await readState(dir);
  if ('state' in read) return { kind: 'cluster', dir, state: read.state };
  if ('problem' in read) return { kind: 'broken', dir, problem: read.problem };
  const pgVersion = await stat(join(dir, 'data', 'PG_VERSION')).catch(() => undefined);
  return pgVersion?.isFile()
    ? { kind: 'broken', dir, problem: `it holds a PostgreSQL data directory but its state file ${join(dir, STATE_FILE)} is missing` }
    : { kind: 'foreign', dir };
}

/** A usable cluster found by inspectCluster, with the binaries to run it. */
export async function loadCluster(dir: string, state: ClusterState, env: NodeJS.ProcessEnv = process.env): Promise<Cluster> {
  dir = resolve(dir);
  const bins = await findPgBinaries(env);
  return { dir, dataDir: join(dir, 'data'), logFile: join(dir, 'postgres.log'), state, bins };
}

/** The cluster under `dir`, if one was created there. Does not start it. */
export async function openCluster(dir: string, env: NodeJS.ProcessEnv = process.env): Promise<Cluster | undefined> {
  const site = await inspectCluster(dir);
  if (site.kind === 'cluster') return loadCluster(site.dir, site.state, env);
  if (site.kind === 'broken') throw new EnvError(`The PostgreSQL cluster in ${site.dir} is unusable: ${site.problem}.`);
  if (site.kind === 'not-a-folder') throw new EnvError(`${site.blocker} is ${site.what}, not a folder: no PostgreSQL cluster can be in ${site.dir}.`);
  return undefined;
}

async function serverShell(log: Logger) {
  const runAs = await serverRunAs();
  return { runAs, sh: createShell(log, runAs) };
}

async function ensureReachable(dir: string, runAs: RunAs | undefined, log: Logger): Promise<void> {
  if (!runAs) return;
  const sh = createShell(log, runAs);
  const probe = await sh({ nothrow: true })`test -w ${dir} && test -x ${dir}`;
  if (probe.exitCode !== 0) {
    throw new EnvError(`The ${runAs.user} OS user cannot write to ${dir}, and PostgreSQL refuses to run as root.`, {
      hint: `Make every parent directory of ${dir} traversable by ${runAs.user} (chmod o+x), or run dbops as an ordinary user.`,
    });
  }
}

/** initdb with data checksums and a generated superuser password (scram-sha-256 over TCP). */
export async function createCluster({ dir, log, settings = {}, env = process.env }: ClusterOptions): Promise<Cluster> {
  dir = resolve(dir);
  const bins = await findPgBinaries(env);
  const initdb = await pgTool(bins, 'initdb');
  await pgTool(bins, 'pg_ctl');
  const { runAs, sh } = await serverShell(log);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (runAs) await chown(dir, runAs.uid, runAs.gid);
  await ensureReachable(dir, runAs, log);

  const password = randomBytes(18).toString('base64url');
  registerSecret(password);
  const pwfile = join(dir, '.pwfile');
  await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
  if (runAs) await chown(pwfile, runAs.uid, runAs.gid);
  const dataDir = join(dir, 'data');
  try {
    log.info({ dataDir, major: bins.major }, 'initdb');
    const out = await sh({
      nothrow: true,
    })`${initdb} -D ${dataDir} -U postgres --pwfile=${pwfile} --auth-local=scram-sha-256 --auth-host=scram-sha-256 --data-checksums --encoding=UTF8 --locale=C.UTF-8 --no-instructions`;
    if (out.exitCode !== 0) throw new EnvError(`initdb failed (exit ${out.exitCode}): ${out.stderr.trim() || out.stdout.trim()}`);
  } finally {
    await rm(pwfile, { force: true });
  }
  const conf = Object.entries({ ...BASE_SETTINGS, ...settings })
    .map(([k, v]) => `${k} = ${v}`)
    .join('\n');
  await appendFile(join(dataDir, 'postgresql.conf'), `\n# written by dbops\n${conf}\n`);

  const state: ClusterState = { version: 1, port: await freePort(), superuser: 'postgres', password, major: bins.major, createdAt: new Date().toISOString() };
  await writeState(dir, state);
  return { dir, dataDir, logFile: join(dir, 'postgres.log'), state, bins };
}

/** pg_ctl on the data directory alone, so that it also works when cluster.json is corrupt or lost. */
async function serverRunning(bins: PgBinaries, dataDir: string): Promise<boolean> {
  const pgCtl = await pgTool(bins, 'pg_ctl');
  const { sh } = await serverShell(silentLogger());
  return (await sh({ nothrow: true })`${pgCtl} -D ${dataDir} status`).exitCode === 0;
}

async function stopServer(bins: PgBinaries, dataDir: string, log: Logger, mode: 'fast' | 'immediate'): Promise<boolean> {
  if (!(await serverRunning(bins, dataDir))) return false;
  const pgCtl = await pgTool(bins, 'pg_ctl');
  const { sh } = await serverShell(log);
  const out = await sh({ nothrow: true })`${pgCtl} -D ${dataDir} -m ${mode} -w -t 60 stop`;
  if (out.exitCode !== 0)
    throw new EnvError(`pg_ctl could not stop the server of ${dataDir} (exit ${out.exitCode}): ${out.stderr.trim() || out.stdout.trim()}`);
  return true;
}

export const isRunning = (c: Cluster): Promise<boolean> => serverRunning(c.bins, c.dataDir);

// No postmaster.pid means no server (pg_ctl checks that first), and then no binaries are needed to say so.
const hasPidFile = (dataDir: string) =>
  stat(join(dataDir, 'postmaster.pid')).then(
    () => true,
    () => false,
  );

/** Whether a server runs on a data directory; needs no cluster.json. */
export async function isRunningAt(dataDir: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  return (await hasPidFile(dataDir)) && serverRunning(await findPgBinaries(env), dataDir);
}

/** Whether a server runs on `<dir>/data`; needs no cluster.json. */
export const isRunningIn = (dir: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> => isRunningAt(join(resolve(dir), 'data'), env);

/** Stops a server running on a data directory; needs no cluster.json. False when none was running. */
export async function stopServerAt(dataDir: string, log: Logger, mode: 'fast' | 'immediate', env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  return (await hasPidFile(dataDir)) && stopServer(await findPgBinaries(env), dataDir, log, mode);
}

/** Stops a server running on `<dir>/data`; needs no cluster.json. False when none was running. */
export const stopServerIn = (dir: string, log: Logger, mode: 'fast' | 'immediate', env: NodeJS.ProcessEnv = process.env): Promise<boolean> =>
  stopServerAt(join(resolve(dir), 'data'), log, mode, env);

/**
 * `pg_ctl start` on a data directory as the server's OS user, `options` passed to postgres (-o), waiting at
 * most `timeoutS` for it to accept connections; detached, so the server outlives this process and does not
 * receive the terminal's Ctrl-C. The exit code of pg_ctl; the log file says why when it is not 0.
 */
export async function startServerAt(o: {
  dataDir: string;
  logFile: string;
  options: string;
  timeoutS: number;
  log: Logger;
  bins?: PgBinaries;
  env?: NodeJS.ProcessEnv;
}): Promise<number> {
  const pgCtl = await pgTool(o.bins ?? (await findPgBinaries(o.env)), 'pg_ctl');
  const { runAs, sh } = await serverShell(o.log);
  if (runAs) {
    await writeFile(o.logFile, '', { flag: 'a' });
    await chown(o.logFile, runAs.uid, runAs.gid);
  }
  o.log.info({ dataDir: o.dataDir, options: o.options }, 'starting PostgreSQL');
  return (await sh({ nothrow: true, detached: true })`${pgCtl} -D ${o.dataDir} -l ${o.logFile} -o ${o.options} -w -t ${o.timeoutS} start`).exitCode ?? 1;
}

/** Starts the cluster if it is not running; picks a new free port when the remembered one is taken. */
export async function startCluster(c: Cluster, log: Logger): Promise<Cluster> {
  if (await isRunning(c)) return c;
  for (let attempt = 1; ; attempt++) {
    const logStart = (await stat(c.logFile).catch(() => undefined))?.size ?? 0;
    const exitCode = await startServerAt({ dataDir: c.dataDir, logFile: c.logFile, options: `-p ${c.state.port}`, timeoutS: 60, log, bins: c.bins });
    if (exitCode === 0) return c;
    const serverLog = (await readFile(c.logFile, 'utf8').catch(() => '')).slice(logStart);
    if (/could not bind|Address already in use/i.test(serverLog) && attempt < 4) {
      c.state = { ...c.state, port: await freePort() };
      await writeState(c.dir, c.state);
      continue;
    }
    const missingLib = /could not access file "([^"]+)"/.exec(serverLog);
    throw new EnvError(`PostgreSQL did not start (pg_ctl exit ${exitCode}). Server log ${c.logFile}:\n${serverLog.trim().split('\n').slice(-8).join('\n')}`, {
      hint: missingLib ? `The server cannot load ${missingLib[1]}: install the contrib modules (\`apt-get install postgresql-contrib\`).` : undefined,
    });
  }
}

/**
 * Restarts the server of a data directory with the options it was started with (pg_ctl keeps them in
 * postmaster.opts), as the server's OS user; detached, so the server outlives this process.
 */
export async function restartServerIn(dataDir: string, logFile: string, log: Logger, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const pgCtl = await pgTool(await findPgBinaries(env), 'pg_ctl');
  const { runAs, sh } = await serverShell(log);
  if (runAs) {
    await writeFile(logFile, '', { flag: 'a' });
    await chown(logFile, runAs.uid, runAs.gid);
  }
  log.info({ dataDir }, 'restarting PostgreSQL');
  const out = await sh({ nothrow: true, detached: true })`${pgCtl} -D ${dataDir} -l ${logFile} -m fast -w -t 120 restart`;
  if (out.exitCode !== 0)
    throw new EnvError(`pg_ctl could not restart the server of ${dataDir} (exit ${out.exitCode}): ${out.stderr.trim() || out.stdout.trim()}`, {
      hint: `Its log: ${logFile}`,
    });
}

export const stopCluster = (c: Cluster, log: Logger, mode: 'fast' | 'immediate' = 'fast'): Promise<boolean> => stopServer(c.bins, c.dataDir, log, mode);

export async function destroyCluster(c: Cluster, log: Logger): Promise<void> {
  await stopCluster(c, log, 'immediate');
  await rm(c.dir, { recursive: true, force: true });
}

/** What dbops creates in a cluster folder, with the type it creates each as; nothing else is ever removed. */
const OWN_ENTRIES = new Map<string, 'folder' | 'file'>([
  ['data', 'folder'],
  [STATE_FILE, 'file'],
  [`${STATE_FILE}.tmp`, 'file'],
  ['postgres.log', 'file'],
  ['.pwfile', 'file'],
  // `dbops pitr enable` on the embedded cluster: its pgBackRest configuration and repository belong to this
  // cluster (a new one has another system identifier, which the old stanza refuses).
  ['pitr', 'folder'],
]);

export interface ClusterRemoval {
  /** Entries of the folder that were removed (dbops' own). */
  removed: string[];
  /** Entries left in place: not created by dbops, or not of the type dbops creates them as (a link, say). */
  kept: string[];
  /** Whether the folder itself was removed (only when nothing was kept). */
  folderRemoved: boolean;
}

/**
 * Removes what dbops created in a cluster folder, and the folder when that leaves it empty. The folder
 * may be one a user pointed DBOPS_LOCAL_DIR at: anything else in it stays, and nothing is followed (a
 * link named like one of dbops' entries is kept; links inside data/ are removed, not their targets).
 * The server must already be stopped.
 */
export async function removeClusterFiles(dir: string): Promise<ClusterRemoval> {
  dir = resolve(dir);
  const removed: string[] = [];
  const kept: string[] = [];
  const fail = (path: string, e: unknown) =>
    new EnvError(`Could not remove ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}).`, {
      hint: `Check the permissions of ${dir}, or remove it by hand.`,
      cause: e,
    });
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (e) {
    throw fail(dir, e);
  }
  for (const name of names) {
    const path = join(dir, name);
    const type = OWN_ENTRIES.get(name);
    const info = await lstat(path).catch(() => undefined);
    if (!info) continue; // gone meanwhile
    if (!type || !(type === 'folder' ? info.isDirectory() : info.isFile())) {
      kept.push(name);
      continue;
    }
    try {
      await rm(path, { recursive: true, force: true });
    } catch (e) {
      throw fail(path, e);
    }
    removed.push(name);
  }
  let folderRemoved = false;
  if (!kept.length) {
    // rmdir, not rm: it refuses a folder that is not empty (something written meanwhile) and a link to a folder.
    folderRemoved = await rmdir(dir).then(
      () => true,
      () => false,
    );
  }
  return { removed, kept, folderRemoved };
}

/**
 * Serializes cluster creation and start between processes (two commands run at once on a fresh
 * checkout must not both run initdb). O_EXCL lock file holding the owner's pid; a lock whose owner is
 * gone is taken over.
 */
export async function withDirLock<T>(lockPath: string, fn: () => Promise<T>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  await mkdir(resolve(lockPath, '..'), { recursive: true });
  for (;;) {
    try {
      const handle = await open(lockPath, 'wx', 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = await lockOwner(lockPath);
      if (!owner) {
        await rm(lockPath, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new EnvError(`Timed out waiting for ${lockPath} (held by pid ${owner}).`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lockPath, { force: true });
  }
}

/** The live process holding a withDirLock lock, if any. */
export async function lockOwner(lockPath: string): Promise<number | undefined> {
  const owner = Number(await readFile(lockPath, 'utf8').catch(() => ''));
  return owner && pidAlive(owner) ? owner : undefined;
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
