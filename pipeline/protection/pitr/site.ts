import { execFile } from 'node:child_process';
import { open, readFile, realpath, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { ConfigError, EnvError } from '../../core/errors.ts';
import { writeFileAtomic } from '../../core/fs.ts';
import { registerSecret } from '../../core/redact.ts';
import type { Runtime } from '../../core/runtime.ts';
import type { RunAs } from '../../core/shell.ts';
import { withClient, type Client } from '../../infra/db/client.ts';
import { pgEnv } from '../../infra/db/libpq.ts';
import type { DbTarget } from '../../infra/db/url.ts';
import { localDir } from '../../infra/pg/local.ts';
import { includeFilePath } from '../../infra/pg/conf.ts';
import { serverRunAs } from '../../infra/pg/binaries.ts';
import type { Pgbackrest, PgbackrestConfig } from '../../infra/pgbackrest/pgbackrest.ts';
import { parseDuration } from '../../core/duration.ts';
import { PitrPolicy, type BackupsPolicy, type PitrRepository } from '../../policy/backups.ts';

/** The server settings WAL archiving depends on, as the server reports them. */
export interface ArchiveSetting {
  name: string;
  setting: string;
  /** Where the effective value comes from (file and line), when it comes from a file. */
  sourcefile: string | null;
  sourceline: number | null;
  pendingRestart: boolean;
}

/**
 * Where a database's physical tier lives. `local`: its data directory is on this machine (dbops writes the
 * configuration and runs pgBackRest itself); `repository`: this machine is pgBackRest's repository host
 * (pitr.database_host), reaching the database host through pgBackRest's TLS server, and dbops runs
 * pgBackRest here; `remote`: it is elsewhere, and dbops can only print what to install.
 */
export interface PitrSite {
  kind: 'local' | 'remote' | 'repository';
  target: DbTarget;
  /** The embedded cluster of `dbops local` (dbops may restart it). */
  embedded: boolean;
  dataDir: string;
  configFile: string;
  systemId: string;
  major: number;
  settings: Record<string, ArchiveSetting>;
  /** dbops' pgBackRest configuration, log, lock and spool folders and verification records. */
  stateDir: string;
  configPath: string;
  /** The OS user owning the data directory, when it is not this process's. */
  runAs: RunAs | undefined;
  policy: PitrPolicy;
  /** Read from the state folder because the server could not be reached. */
  saved?: boolean;
}

export const ARCHIVE_SETTINGS = ['archive_mode', 'archive_command', 'archive_timeout', 'wal_level'] as const;

/** The archiving settings as the server reports them, by name. */
export async function archiveSettings(c: Client): Promise<Record<string, ArchiveSetting>> {
  const { rows } = await c.query<{ name: string; setting: string; sourcefile: string | null; sourceline: number | null; pending_restart: boolean }>(
    `SELECT name, setting, sourcefile, sourceline, pending_restart FROM pg_settings WHERE name = ANY($1::text[])`,
    [ARCHIVE_SETTINGS],
  );
  return Object.fromEntries(
    rows.map((s) => [s.name, { name: s.name, setting: s.setting, sourcefile: s.sourcefile, sourceline: s.sourceline, pendingRestart: s.pending_restart }]),
  );
}

/** The PITR policy in force: the file's `pitr:` section, or the defaults when it has none. */
export const pitrPolicyOf = (backups: BackupsPolicy): { policy: PitrPolicy; configured: boolean } =>
  backups.pitr ? { policy: backups.pitr, configured: true } : { policy: PitrPolicy.parse({}), configured: false };

/** The system identifier in `global/pg_control` (its first 8 bytes, little-endian), or null when unreadable. */
async function controlSystemId(dataDir: string): Promise<string | null> {
  try {
    const f = await open(join(dataDir, 'global', 'pg_control'), 'r');
    try {
      const { buffer } = await f.read({ buffer: Buffer.alloc(8), position: 0 });
      return buffer.readBigUInt64LE(0).toString();
    } finally {
      await f.close();
    }
  } catch {
    return null;
  }
}

async function ownerOf(path: string): Promise<RunAs | undefined> {
  const s = await stat(path);
  const me = typeof process.getuid === 'function' ? process.getuid() : s.uid;
  if (s.uid === me) return undefined;
  if (me !== 0)
    throw new EnvError(`pgBackRest must run as the owner of ${path} (uid ${s.uid}); dbops runs as uid ${me}.`, {
      hint: 'Run dbops as that user (usually postgres), or as root.',
    });
  const { stdout } = await promisify(execFile)('getent', ['passwd', String(s.uid)]).catch(() => ({ stdout: '' }));
  const [user, , uid, gid, , home] = stdout.trim().split(':');
  if (!user || !uid || !gid) throw new EnvError(`The owner of ${path} (uid ${s.uid}) has no entry in the user database.`);
  return { user, uid: Number(uid), gid: Number(gid), home: home || '/' };
}

/**
 * Who runs pgBackRest on a repository host: the owner of the state folder once it exists; before, this
 * process's user, or the server's OS user when that is root (pgBackRest's files, and a cluster restored
 * here, must not belong to root).
 */
async function repositoryUser(stateDir: string): Promise<RunAs | undefined> {
  if (
    await stat(stateDir).then(
      () => true,
      () => false,
    )
  )
    return ownerOf(stateDir);
  return serverRunAs();
}

/** What `pitr enable` remembers of a local site, so a restore can run when the source server is gone. */
interface SavedSite {
  version: 1;
  /** Absent in what older versions saved: local. */
  kind?: 'local' | 'repository';
  host: string;
  port: number;
  dataDir: string;
  configFile: string;
  systemId: string;
  major: number;
}

const SITE_FILE = 'site.json';

export const saveSite = (site: PitrSite): Promise<void> =>
  writeFileAtomic(
    join(site.stateDir, SITE_FILE),
    `${JSON.stringify({ version: 1, kind: site.kind === 'repository' ? 'repository' : 'local', host: site.target.host, port: site.target.port, dataDir: site.dataDir, configFile: site.configFile, systemId: site.systemId, major: site.major } satisfies SavedSite, null, 2)}\n`,
  );

/** The state folders a site of this target can have: the embedded cluster's, then the policy's. */
export const stateDirsFor = (policy: PitrPolicy, env: NodeJS.ProcessEnv) => [join(localDir(env), 'pitr'), resolve(policy.state_dir)];

async function savedSite(target: DbTarget, policy: PitrPolicy, rt: Runtime): Promise<PitrSite | undefined> {
  for (const [i, stateDir] of stateDirsFor(policy, rt.env).entries()) {
    const saved = await readFile(join(stateDir, SITE_FILE), 'utf8')
      .then((t) => JSON.parse(t) as SavedSite)
      .catch(() => undefined);
    if (!saved || saved.host !== target.host || saved.port !== target.port) continue;
    return {
      kind: saved.kind ?? 'local',
      target,
      embedded: i === 0,
      dataDir: saved.dataDir,
      configFile: saved.configFile,
      systemId: saved.systemId,
      major: saved.major,
      settings: {},
      stateDir,
      configPath: join(stateDir, 'pgbackrest.conf'),
      runAs: await ownerOf(stateDir),
      policy,
      saved: true,
    };
  }
  return undefined;
}

/**
 * Finds out, over the connection and the file system, where the database's cluster lives. When the
 * server cannot be reached (the disaster a restore is for), what `pitr enable` saved stands in for it.
 */
export async function resolveSite(target: DbTarget, backups: BackupsPolicy, rt: Runtime, { offline = false } = {}): Promise<PitrSite> {
  const { policy } = pitrPolicyOf(backups);
  let facts;
  try {
    facts = await withClient(target, { log: rt.log, applicationName: 'dbops pitr' }, async (c) => {
      const { rows } = await c.query<{ data_directory: string; config_file: string; system_id: string; major: number }>(
        `SELECT current_setting('data_directory') AS data_directory, current_setting('config_file') AS config_file,
                (SELECT system_identifier::text FROM pg_control_system()) AS system_id, current_setting('server_version_num')::int / 10000 AS major`,
      );
      const settings = await archiveSettings(c);
      return { ...rows[0]!, settings };
    });
  } catch (e) {
    if ((e as { code?: string }).code === '42501')
      throw new ConfigError(`The database user ${target.user} may not read the server's data_directory: PITR needs a superuser connection.`);
    const saved = offline && e instanceof EnvError ? await savedSite(target, policy, rt) : undefined;
    if (!saved) throw e;
    rt.progress(
      `${target.host}:${target.port} cannot be reached (${(e as Error).message.split('\n')[0]}); using what \`dbops pitr enable\` saved in ${saved.stateDir}.`,
    );
    return saved;
  }
  const common = {
    target,
    dataDir: facts.data_directory,
    configFile: facts.config_file,
    systemId: facts.system_id,
    major: facts.major,
    settings: facts.settings,
    policy,
  };
  if (policy.database_host) {
    const stateDir = resolve(policy.state_dir);
    return { ...common, kind: 'repository', embedded: false, stateDir, configPath: join(stateDir, 'pgbackrest.conf'), runAs: await repositoryUser(stateDir) };
  }
  const local = (await controlSystemId(facts.data_directory)) === facts.system_id;
  const embeddedData = await realpath(join(localDir(rt.env), 'data')).catch(() => undefined);
  const embedded = local && embeddedData !== undefined && embeddedData === (await realpath(facts.data_directory).catch(() => facts.data_directory));
  const stateDir = embedded ? join(localDir(rt.env), 'pitr') : resolve(policy.state_dir);
  return {
    ...common,
    kind: local ? 'local' : 'remote',
    embedded,
    stateDir,
    configPath: join(stateDir, 'pgbackrest.conf'),
    runAs: local ? await ownerOf(facts.data_directory) : undefined,
  };
}

/** The repositories in force: the policy's, or one folder in the state folder when it names none. */
export const repositoriesOf = (site: Pick<PitrSite, 'policy' | 'stateDir'>): PitrRepository[] =>
  site.policy.repositories.length > 0 ? site.policy.repositories : [{ type: 'directory', path: join(site.stateDir, 'repo') }];

function secretFrom(env: NodeJS.ProcessEnv, name: string, what: string): string {
  const value = env[name];
  if (!value) throw new ConfigError(`${what}: the environment variable ${name} is not set.`, { hint: `Set ${name} (a secret) and run again.` });
  registerSecret(value);
  return value;
}

/** Where repository N is and how to reach it: its folder, or its S3 bucket with keys and cipher passphrase. */
function repositoryOptions(repo: PitrRepository, n: number, env: NodeJS.ProcessEnv): PgbackrestConfig[string] {
  const r = `repo${n}`;
  if (repo.type === 'directory') return { [`${r}-path`]: resolve(repo.path) };
  const what = `repository ${n} (s3://${repo.bucket}) in policies/backups.yaml`;
  return {
    [`${r}-type`]: 's3',
    [`${r}-path`]: repo.path,
    [`${r}-s3-bucket`]: repo.bucket,
    [`${r}-s3-endpoint`]: repo.endpoint,
    [`${r}-s3-region`]: repo.region,
    [`${r}-s3-uri-style`]: repo.uri_style,
    [`${r}-s3-key`]: secretFrom(env, repo.key_env, what),
    [`${r}-s3-key-secret`]: secretFrom(env, repo.secret_env, what),
    [`${r}-cipher-type`]: 'aes-256-cbc',
    [`${r}-cipher-pass`]: secretFrom(env, repo.cipher_pass_env, what),
    [`${r}-storage-verify-tls`]: repo.verify_tls,
    ...(repo.port ? { [`${r}-storage-port`]: repo.port } : {}),
    ...(repo.ca_file ? { [`${r}-storage-ca-file`]: resolve(repo.ca_file) } : {}),
  };
}

/**
 * The pgBackRest configuration dbops writes for a site. Secrets (S3 keys, the cipher passphrase) are read
 * from the variables the policy names and end up only in this 0600 file, because archive-push runs inside
 * PostgreSQL's environment, where no variable of this process exists.
 */
export function pgbackrestConfigOf(site: PitrSite, env: NodeJS.ProcessEnv): PgbackrestConfig {
  const global: PgbackrestConfig[string] = {
    'log-path': join(site.stateDir, 'log'),
    'lock-path': join(site.stateDir, 'lock'),
    'spool-path': join(site.stateDir, 'spool'),
    'log-level-file': 'info',
    'archive-async': true,
    'process-max': site.policy.process_max,
    'compress-type': site.policy.compress,
    'start-fast': true,
  };
  repositoriesOf(site).forEach((repo, i) => {
    const r = `repo${i + 1}`;
    // Expiry is dbops' decision (GFS over verified backups); pgBackRest's own count is kept out of reach.
    Object.assign(global, { [`${r}-retention-full-type`]: 'count', [`${r}-retention-full`]: 9999999 }, repositoryOptions(repo, i + 1, env));
  });
  const host = site.kind === 'repository' ? site.policy.database_host : undefined;
  if (!host) return { global, [site.policy.stanza]: { 'pg1-path': site.dataDir, 'pg1-port': site.target.port, 'pg1-user': site.target.user } };
  // The repository host: its own TLS server takes archive-push from the database host; pg1 is reached through
  // the database host's TLS server.
  const tls = (file: string) => join(host.tls_dir, file);
  Object.assign(global, {
    'tls-server-address': host.listen,
    'tls-server-port': host.repository_port,
    'tls-server-ca-file': tls('ca.crt'),
    'tls-server-cert-file': tls('server.crt'),
    'tls-server-key-file': tls('server.key'),
    'tls-server-auth': `${host.client_cn}=${site.policy.stanza}`,
  });
  return {
    global,
    [site.policy.stanza]: {
      'pg1-host': host.host,
      'pg1-host-type': 'tls',
      'pg1-host-port': host.port,
      'pg1-host-ca-file': tls('ca.crt'),
      'pg1-host-cert-file': tls('client.crt'),
      'pg1-host-key-file': tls('client.key'),
      'pg1-path': site.dataDir,
      'pg1-port': site.target.port,
      'pg1-user': site.target.user,
    },
  };
}

/**
 * The configuration the database host needs when this machine is its repository host (printed by `dbops
 * pitr enable`, installed at pitr.database_host.config): its TLS server for this machine's backups, and each
 * repository as this machine holds it (a folder through this machine's TLS server, an S3 bucket directly:
 * pgBackRest sends the repository options with each request, so the paths must be the same here and there).
 */
export function databaseHostConfigOf(site: PitrSite, env: NodeJS.ProcessEnv): PgbackrestConfig {
  const host = site.policy.database_host!;
  const tls = (file: string) => join(host.tls_dir, file);
  const global: PgbackrestConfig[string] = {
    'log-path': '/var/log/pgbackrest',
    'lock-path': '/tmp/pgbackrest',
    'spool-path': '/var/spool/pgbackrest',
    'archive-async': true,
    'process-max': site.policy.process_max,
    'compress-type': site.policy.compress,
  };
  repositoriesOf(site).forEach((repo, i) => {
    const r = `repo${i + 1}`;
    Object.assign(global, repositoryOptions(repo, i + 1, env));
    if (repo.type === 'directory')
      Object.assign(global, {
        [`${r}-host`]: host.repository_host,
        [`${r}-host-type`]: 'tls',
        [`${r}-host-port`]: host.repository_port,
        [`${r}-host-ca-file`]: tls('ca.crt'),
        [`${r}-host-cert-file`]: tls('client.crt'),
        [`${r}-host-key-file`]: tls('client.key'),
      });
  });
  Object.assign(global, {
    'tls-server-address': '*',
    'tls-server-port': host.port,
    'tls-server-ca-file': tls('ca.crt'),
    'tls-server-cert-file': tls('server.crt'),
    'tls-server-key-file': tls('server.key'),
    'tls-server-auth': `${host.client_cn}=${site.policy.stanza}`,
  });
  return { global, [site.policy.stanza]: { 'pg1-path': site.dataDir } };
}

/** The server settings dbops' include file holds: archiving through pgBackRest. */
export function archiveSettingsOf(site: PitrSite): Record<string, string> {
  const timeoutS = Math.max(1, Math.round((parseDuration(site.policy.archive_timeout) ?? 60_000) / 1000));
  const wanted: Record<string, string> = {
    archive_mode: 'on',
    archive_command: `pgbackrest --config=${site.kind === 'repository' ? site.policy.database_host!.config : site.configPath} --stanza=${site.policy.stanza} archive-push %p`,
    archive_timeout: String(timeoutS),
  };
  if (site.settings['wal_level']?.setting === 'minimal') wanted['wal_level'] = 'replica';
  return wanted;
}

/** The include file beside postgresql.conf, and the line that includes it. */
export const INCLUDE_NAME = 'dbops-pitr.conf';
export const includePath = (site: PitrSite) => includeFilePath(site.configFile, INCLUDE_NAME);
export const INCLUDE_COMMENT = 'dbops pitr: WAL archiving through pgBackRest';

/** How to run pgBackRest for this site: as the data directory's owner, connecting with the target's credentials. */
export function pgbackrestFor(site: PitrSite, rt: Runtime): Pgbackrest {
  if (site.kind === 'remote')
    throw new ConfigError(`The data directory of ${site.target.host}:${site.target.port} is not on this machine: dbops cannot run pgBackRest for it here.`, {
      hint: 'Run this on the database server, or on the backup server with pitr.database_host set (pgBackRest reaching the database host through its TLS server), or run `dbops pitr enable` for the configuration to install.',
    });
  return {
    configPath: site.configPath,
    stanza: site.policy.stanza,
    runAs: site.runAs,
    env: pgEnv(site.target, rt.env, 'pgBackRest (dbops)'),
    log: rt.log,
    signal: rt.signal,
  };
}
