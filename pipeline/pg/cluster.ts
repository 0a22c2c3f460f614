import { randomBytes } from 'node:crypto';
import { appendFile, chown, mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { EnvError } from '../core/errors.ts';
import { silentLogger, type Logger } from '../core/logger.ts';
import { registerSecret } from '../core/redact.ts';
import { createShell, type RunAs } from '../core/shell.ts';
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

async function readState(dir: string): Promise<ClusterState | undefined> {
  try {
    const state = JSON.parse(await readFile(join(dir, 'cluster.json'), 'utf8')) as ClusterState;
    registerSecret(state.password);
    return state;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new EnvError(`${join(dir, 'cluster.json')} is unreadable: ${(e as Error).message}`, {
      hint: `Remove ${dir} to start over (\`dbops local down --destroy\`).`,
    });
  }
}

async function writeState(dir: string, state: ClusterState): Promise<void> {
  const path = join(dir, 'cluster.json');
  await writeFile(`${path}.tmp`, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await rename(`${path}.tmp`, path);
}

/** The cluster under `dir`, if one was created there. Does not start it. */
export async function openCluster(dir: string): Promise<Cluster | undefined> {
  const state = await readState(resolve(dir));
  if (!state) return undefined;
  const bins = await findPgBinaries();
  return { dir: resolve(dir), dataDir: join(resolve(dir), 'data'), logFile: join(resolve(dir), 'postgres.log'), state, bins };
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
export async function createCluster({ dir, log, settings = {} }: ClusterOptions): Promise<Cluster> {
  dir = resolve(dir);
  const bins = await findPgBinaries();
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
    const out = await sh({ nothrow: true })`${initdb} -D ${dataDir} -U postgres --pwfile=${pwfile} --auth-local=scram-sha-256 --auth-host=scram-sha-256 --data-checksums --encoding=UTF8 --locale=C.UTF-8 --no-instructions`;
    if (out.exitCode !== 0) throw new EnvError(`initdb failed (exit ${out.exitCode}): ${out.stderr.trim() || out.stdout.trim()}`);
  } finally {
    await rm(pwfile, { force: true });
  }
  const conf = Object.entries({ ...BASE_SETTINGS, ...settings }).map(([k, v]) => `${k} = ${v}`).join('\n');
  await appendFile(join(dataDir, 'postgresql.conf'), `\n# written by dbops\n${conf}\n`);

  const state: ClusterState = { version: 1, port: await freePort(), superuser: 'postgres', password, major: bins.major, createdAt: new Date().toISOString() };
  await writeState(dir, state);
  return { dir, dataDir, logFile: join(dir, 'postgres.log'), state, bins };
}

export async function isRunning(c: Cluster): Promise<boolean> {
  const pgCtl = await pgTool(c.bins, 'pg_ctl');
  const { sh } = await serverShell(silentLogger());
  return (await sh({ nothrow: true })`${pgCtl} -D ${c.dataDir} status`).exitCode === 0;
}

/** Starts the cluster if it is not running; picks a new free port when the remembered one is taken. */
export async function startCluster(c: Cluster, log: Logger): Promise<Cluster> {
  if (await isRunning(c)) return c;
  const pgCtl = await pgTool(c.bins, 'pg_ctl');
  const { runAs, sh } = await serverShell(log);
  if (runAs) {
    await writeFile(c.logFile, '', { flag: 'a' });
    await chown(c.logFile, runAs.uid, runAs.gid);
  }
  for (let attempt = 1; ; attempt++) {
    const logStart = (await stat(c.logFile).catch(() => undefined))?.size ?? 0;
    log.info({ port: c.state.port, dataDir: c.dataDir }, 'starting PostgreSQL');
    // detached: the server must outlive this process and not receive the terminal's Ctrl-C.
    const out = await sh({ nothrow: true, detached: true })`${pgCtl} -D ${c.dataDir} -l ${c.logFile} -o ${`-p ${c.state.port}`} -w -t 60 start`;
    if (out.exitCode === 0) return c;
    const serverLog = (await readFile(c.logFile, 'utf8').catch(() => '')).slice(logStart);
    if (/could not bind|Address already in use/i.test(serverLog) && attempt < 4) {
      c.state = { ...c.state, port: await freePort() };
      await writeState(c.dir, c.state);
      continue;
    }
    const missingLib = /could not access file "([^"]+)"/.exec(serverLog);
    throw new EnvError(`PostgreSQL did not start (pg_ctl exit ${out.exitCode}). Server log ${c.logFile}:\n${serverLog.trim().split('\n').slice(-8).join('\n')}`, {
      hint: missingLib ? `The server cannot load ${missingLib[1]}: install the contrib modules (\`apt-get install postgresql-contrib\`).` : undefined,
    });
  }
}

export async function stopCluster(c: Cluster, log: Logger, mode: 'fast' | 'immediate' = 'fast'): Promise<boolean> {
  if (!(await isRunning(c))) return false;
  const pgCtl = await pgTool(c.bins, 'pg_ctl');
  const { sh } = await serverShell(log);
  await sh`${pgCtl} -D ${c.dataDir} -m ${mode} -w -t 60 stop`;
  return true;
}

export async function destroyCluster(c: Cluster, log: Logger): Promise<void> {
  await stopCluster(c, log, 'immediate');
  await rm(c.dir, { recursive: true, force: true });
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
      const owner = Number(await readFile(lockPath, 'utf8').catch(() => ''));
      if (!owner || !pidAlive(owner)) { await rm(lockPath, { force: true }); continue; }
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

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
