// A real PgBouncer in front of the test server, on a free loopback port, in the pool_mode a test asks for.
// Clients authenticate with SCRAM against an auth_file holding the test user's password (PgBouncer then
// logs in to the server with it). The test user is also an admin of the console (database `pgbouncer`).
// PgBouncer refuses to run as root: as root it runs as the `postgres` OS user, like the test servers.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serverRunAs } from '../../pipeline/infra/pg/binaries.ts';
import { freePort } from '../../pipeline/infra/pg/cluster.ts';
import { adminUrl } from './db.ts';

/** Debian installs it outside a user's PATH; elsewhere (Homebrew) it is on the PATH. */
export const PGBOUNCER = process.env['PGBOUNCER'] ?? (existsSync('/usr/sbin/pgbouncer') ? '/usr/sbin/pgbouncer' : 'pgbouncer');

export interface PgBouncerOptions {
  poolMode: 'session' | 'transaction' | 'statement';
  /** default_pool_size (PgBouncer's default: 20). */
  defaultPoolSize?: number;
  reservePoolSize?: number;
  maxClientConn?: number;
}

export interface PgBouncer {
  port: number;
  /** The URL of `database` through the pooler, with the test user and password. */
  url(database: string): string;
  /** The admin console: database `pgbouncer`, the test user (in admin_users). */
  adminUrl: string;
  /** Stops PgBouncer and removes its files; safe to call twice. */
  stop(): Promise<void>;
}

const quoted = (s: string) => `"${s.replace(/"/g, '""')}"`;

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

export async function startPgBouncer(options: PgBouncerOptions): Promise<PgBouncer> {
  const server = new URL(adminUrl());
  const user = decodeURIComponent(server.username);
  const password = decodeURIComponent(server.password);
  const runAs = await serverRunAs();
  const home = await mkdtemp(join(tmpdir(), 'dbops-pgbouncer-'));
  await chmod(home, 0o700);
  if (runAs) await chown(home, runAs.uid, runAs.gid);
  const port = await freePort();
  const host = server.hostname === 'localhost' ? '127.0.0.1' : server.hostname;
  const config = [
    '[databases]',
    `* = host=${host} port=${server.port || '5432'}`,
    '',
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'unix_socket_dir =',
    'auth_type = scram-sha-256',
    `auth_file = ${join(home, 'userlist.txt')}`,
    `admin_users = ${user}`,
    `stats_users = ${user}`,
    `pool_mode = ${options.poolMode}`,
    `default_pool_size = ${options.defaultPoolSize ?? 20}`,
    `reserve_pool_size = ${options.reservePoolSize ?? 0}`,
    `max_client_conn = ${options.maxClientConn ?? 100}`,
    'ignore_startup_parameters = extra_float_digits,options',
    `logfile = ${join(home, 'pgbouncer.log')}`,
    `pidfile = ${join(home, 'pgbouncer.pid')}`,
    '',
  ].join('\n');
  const files: Array<[string, string]> = [
    ['pgbouncer.ini', config],
    ['userlist.txt', `${quoted(user)} ${quoted(password)}\n`],
  ];
  for (const [name, text] of files) {
    const path = join(home, name);
    await writeFile(path, text, { mode: 0o600 });
    if (runAs) await chown(path, runAs.uid, runAs.gid);
  }

  const child: ChildProcess = spawn(PGBOUNCER, [join(home, 'pgbouncer.ini')], {
    stdio: ['ignore', 'ignore', 'pipe'],
    ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  let exited = false;
  child.on('exit', () => (exited = true));
  child.on('error', (e) => {
    stderr += `${e.message} (install it: sudo apt-get install pgbouncer, or set PGBOUNCER)\n`;
    exited = true;
  });
  const onExit = () => child.kill('SIGKILL');
  process.once('exit', onExit);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      process.removeListener('exit', onExit);
      if (!exited) {
        const gone = new Promise<void>((r) => child.once('exit', () => r()));
        child.kill('SIGINT');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await gone;
        clearTimeout(timer);
      }
      await rm(home, { recursive: true, force: true });
    })());

  const deadline = Date.now() + 15_000;
  while (!(await listening(port))) {
    if (exited || Date.now() > deadline) {
      const log = await readFile(join(home, 'pgbouncer.log'), 'utf8').catch(() => '');
      await stop();
      throw new Error(`PgBouncer did not start on port ${port}:\n${stderr}\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  const url = (database: string) => {
    const u = new URL(adminUrl());
    u.hostname = '127.0.0.1';
    u.port = String(port);
    u.pathname = `/${encodeURIComponent(database)}`;
    return u.toString();
  };
  return { port, url, adminUrl: url('pgbouncer'), stop };
}
