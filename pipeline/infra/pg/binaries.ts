import { execFile } from 'node:child_process';
import { access, constants, readdir } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { EnvError } from '../../core/errors.ts';
import type { RunAs } from '../../core/shell.ts';

const run = promisify(execFile);

export type ServerTool = 'initdb' | 'pg_ctl' | 'postgres';
export type ClientTool = 'psql' | 'pg_dump' | 'pg_restore' | 'pg_amcheck' | 'pg_isready' | 'createdb';
export type PgTool = ServerTool | ClientTool;

export interface PgBinaries {
  binDir: string;
  /** How the directory was found, for `dbops local status` and error messages. */
  source: 'PG_BIN' | 'pg_config' | '/usr/lib/postgresql' | 'PATH';
  /** Major version of the server binaries in binDir (e.g. 15). */
  major: number;
  /** Full version string, e.g. "15.18". */
  version: string;
}

const INSTALL_HINT =
  'Install PostgreSQL 15 or newer (server and client): on Debian/Ubuntu `apt-get install postgresql postgresql-contrib`, ' +
  'on macOS `brew install postgresql@16`; or point PG_BIN at a directory that contains initdb, pg_ctl, postgres, psql, pg_dump and pg_restore.';

const isExecutable = (path: string) =>
  access(path, constants.X_OK).then(
    () => true,
    () => false,
  );

export function parsePgVersion(output: string): { major: number; version: string } | undefined {
  // "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)", "psql (PostgreSQL) 16.4", "pg_dump (PostgreSQL) 17beta2"
  const m = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?(\S*)/.exec(output);
  if (!m) return undefined;
  const major = Number(m[1]);
  return { major, version: m[2] === undefined ? `${major}${m[3] ?? ''}` : `${major}.${m[2]}` };
}

/** `--version` runs in flight or done, by path: a backup checks pg_dump's major and records its full line. */
const versionLines = new Map<string, Promise<string>>();

/**
 * `<tool> --version` as the tool prints it, e.g. `pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)`, run
 * once per path and process (a failure is not kept, so a fixed installation is seen on the next call).
 */
export function toolVersionLine(path: string): Promise<string> {
  let line = versionLines.get(path);
  if (!line) {
    line = run(path, ['--version']).then(
      ({ stdout }) => stdout.trim(),
      (e: unknown) => {
        versionLines.delete(path);
        throw new EnvError(`Could not run ${path} --version: ${(e as Error).message}`, {
          hint: 'Reinstall the PostgreSQL client tools or point PG_BIN at a working installation.',
        });
      },
    );
    versionLines.set(path, line);
  }
  return line;
}

async function toolVersion(path: string): Promise<{ major: number; version: string } | undefined> {
  return toolVersionLine(path).then(parsePgVersion, () => undefined);
}

async function candidateDirs(env: NodeJS.ProcessEnv): Promise<Array<{ dir: string; source: PgBinaries['source'] }>> {
  if (env['PG_BIN']) return [{ dir: env['PG_BIN'], source: 'PG_BIN' }];
  const found: Array<{ dir: string; source: PgBinaries['source'] }> = [];
  try {
    const { stdout } = await run('pg_config', ['--bindir'], { env });
    if (stdout.trim()) found.push({ dir: stdout.trim(), source: 'pg_config' });
  } catch {
    /* pg_config is optional */
  }
  try {
    const majors = (await readdir('/usr/lib/postgresql'))
      .filter((d) => /^\d+$/.test(d))
      .map(Number)
      .sort((a, b) => b - a);
    for (const major of majors) found.push({ dir: `/usr/lib/postgresql/${major}/bin`, source: '/usr/lib/postgresql' });
  } catch {
    /* not a Debian layout */
  }
  for (const dir of (env['PATH'] ?? '').split(delimiter).filter(Boolean)) found.push({ dir, source: 'PATH' });
  return found;
}

/**
 * Finds the PostgreSQL binaries: `PG_BIN`, then `pg_config --bindir`, then the newest
 * `/usr/lib/postgresql/<major>/bin`, then PATH. The first directory holding a runnable `postgres` wins
 * (with PG_BIN, that directory or nothing: an explicit choice is never silently replaced).
 */
export async function findPgBinaries(env: NodeJS.ProcessEnv = process.env): Promise<PgBinaries> {
  const candidates = await candidateDirs(env);
  for (const { dir, source } of candidates) {
    const postgres = join(dir, 'postgres');
    if (!(await isExecutable(postgres))) continue;
    const v = await toolVersion(postgres);
    if (v) return { binDir: dir, source, ...v };
  }
  const where = env['PG_BIN']
    ? `PG_BIN=${env['PG_BIN']} holds no runnable postgres binary.`
    : 'No PostgreSQL server binaries were found (looked at pg_config --bindir, /usr/lib/postgresql/*/bin and PATH).';
  throw new EnvError(where, { hint: INSTALL_HINT });
}

/** Path of one tool in the binaries directory, or an exit-3 error naming what to install. */
export async function pgTool(bins: PgBinaries, tool: PgTool): Promise<string> {
  const path = join(bins.binDir, tool);
  if (await isExecutable(path)) return path;
  const pkg = tool === 'initdb' || tool === 'pg_ctl' || tool === 'postgres' ? `postgresql-${bins.major}` : `postgresql-client-${bins.major}`;
  throw new EnvError(`${tool} is missing from ${bins.binDir} (${bins.source}).`, {
    hint: `Install it: \`apt-get install ${pkg}\` (Debian/Ubuntu) or \`brew install postgresql@${bins.major}\` (macOS), or set PG_BIN.`,
  });
}

/**
 * Client tools must be at least the server's major version: an older pg_dump refuses to dump a newer
 * server, and an older psql misreads its catalogs. Checked before a client tool touches a server, and
 * (`counterpart: 'archive'`) before pg_restore reads an archive a newer pg_dump wrote.
 */
export async function clientTool(bins: PgBinaries, tool: ClientTool, serverMajor: number, counterpart: 'server' | 'archive' = 'server'): Promise<string> {
  const path = await pgTool(bins, tool);
  const v = await toolVersion(path);
  if (!v) throw new EnvError(`Could not read the version of ${path} (\`${tool} --version\` failed).`, { hint: INSTALL_HINT });
  if (v.major < serverMajor) {
    const other =
      counterpart === 'archive'
        ? `the pg_dump ${serverMajor} that wrote the archive (an older pg_restore cannot read a newer archive format)`
        : `the PostgreSQL ${serverMajor} server it would talk to`;
    throw new EnvError(`${tool} ${v.version} (${path}) is older than ${other}.`, {
      hint: `Install the PostgreSQL ${serverMajor} client tools (\`apt-get install postgresql-client-${serverMajor}\` or \`brew install postgresql@${serverMajor}\`) and point PG_BIN at their directory.`,
    });
  }
  return path;
}

/**
 * PostgreSQL's server binaries refuse to run as root. When dbops runs as root (CI containers), the
 * server side runs as the `postgres` OS user, which the Debian/Homebrew packages create.
 */
let runAs: Promise<RunAs | undefined> | undefined;

export function serverRunAs(): Promise<RunAs | undefined> {
  runAs ??= lookUpServerUser();
  return runAs;
}

async function lookUpServerUser(): Promise<RunAs | undefined> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  try {
    const { stdout } = await run('getent', ['passwd', 'postgres']);
    const [user, , uid, gid, , home] = stdout.trim().split(':');
    if (user && uid && gid) return { user, uid: Number(uid), gid: Number(gid), home: home || '/' };
  } catch {
    /* fall through */
  }
  throw new EnvError('dbops is running as root, and PostgreSQL server binaries refuse to run as root; there is no `postgres` OS user to run them as.', {
    hint: 'Create one (`useradd --system --create-home postgres`, which the postgresql package does for you) or run dbops as an ordinary user.',
  });
}
