import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { z } from 'zod';
import { parseDuration } from '../../core/duration.ts';
import { ConfigError, EnvError, isDbopsError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { createDecryptStream } from '../../infra/crypto/age.ts';
import { withClient, isPgError, type Client } from '../../infra/db/client.ts';
import { pgEnv } from '../../infra/db/libpq.ts';
import { quoteIdent, type DbTarget } from '../../infra/db/url.ts';
import { clientTool, parsePgVersion, type PgBinaries } from '../../infra/pg/binaries.ts';
import { destroyCluster, openCluster, pidAlive } from '../../infra/pg/cluster.ts';
import type { Storage } from '../../infra/storage/types.ts';
import { ArchiveFormatError } from './archive.ts';
import { COPY_MANIFEST, dumpManifest } from './archive-manifest.ts';
import type { BackupManifest, TableHash, TableManifest, VerificationCheck } from './manifest.ts';
import { ProgressMeter } from './progress.ts';
import { compareTableManifests, computeTableManifest, MANIFEST_SETTINGS, type ManifestDifference } from './tables.ts';
import { formatBytes, formatMs } from '../../core/format.ts';
import type { LiveLine, Runtime } from '../../core/runtime.ts';
import { buffered, runTool } from '../../core/tool.ts';

/**
 * What `backup verify` and `backup restore` share: reading a stored backup back (SHA-256 of the ciphertext,
 * age decryption, a full pg_restore read of the archive, all in one streamed pass), keeping the decrypted
 * archive in a private temporary file only once decryption has authenticated all of it, creating the roles
 * the archive names, pg_restore into a database, and comparing the result with the table manifest.
 */

export type Check = z.output<typeof VerificationCheck>;

export const interruptedError = (what: string): EnvError =>
  new EnvError(`Interrupted: ${what}.`, { hint: 'Nothing was recorded and every temporary database, cluster and file was removed; run the command again.' });

// ---------------------------------------------------------------------------------------------------------
// Client tools

/** `dbname='…'` for --dbname: a bare name containing `=` or starting with `postgresql://` would be read as a connection string. */
export const conninfoDatabase = (name: string): string => `dbname='${name.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** The lines of a tool's stderr that say what went wrong (pg_restore prints the failing statement after its error). */
export function toolError(stderr: string, fallback = 'no error output'): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const picked: string[] = [];
  lines.forEach((line, i) => {
    if (picked.length >= 4 || !/\berror:|\bFATAL:|\bERROR:/.test(line)) return;
    picked.push(line);
    // The server's DETAIL/HINT and the statement that failed follow the error line.
    for (const next of lines.slice(i + 1, i + 4)) {
      if (!/^(DETAIL|HINT|Command was):/.test(next)) break;
      picked.push(next.length > 200 ? `${next.slice(0, 200)}…` : next);
    }
  });
  return (picked.length > 0 ? picked : lines.slice(-3)).join(' ') || fallback;
}

// ---------------------------------------------------------------------------------------------------------
// Private temporary folders

const WORKSPACE = /^dbops-(verify|restore|mask)-/;

export interface Workspace {
  dir: string;
  /** Where the decrypted archive of `backupId` goes (private folder, mode 0700). */
  plaintext(backupId: string): string;
  dispose(): Promise<void>;
}

/**
 * A folder in the system temp directory for one run: the decrypted archive (in a 0700 sub-folder: it is the
 * whole database in clear) and, for verify, the throwaway cluster. `owner.pid` lets a later run remove what a
 * killed run (kill -9, power loss) left behind.
 * `traversable`: mode 0711 so the `postgres` OS user can reach a cluster inside it when dbops runs as root.
 */
export async function createWorkspace(kind: 'verify' | 'restore' | 'mask', traversable: boolean): Promise<Workspace> {
  const dir = await mkdtemp(join(tmpdir(), `dbops-${kind}-`));
  await chmod(dir, traversable ? 0o711 : 0o700);
  await writeFile(join(dir, 'owner.pid'), String(process.pid), { mode: 0o600 });
  const plainDir = join(dir, 'plain');
  await mkdir(plainDir, { mode: 0o700 });
  return {
    dir,
    plaintext: (backupId) => join(plainDir, `${backupId}.dump`),
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Removes workspaces of dbops runs that are gone, stopping a throwaway cluster still running in one. */
export async function sweepWorkspaces(log: Logger): Promise<string[]> {
  const removed: string[] = [];
  const base = tmpdir();
  for (const name of (await readdir(base).catch(() => [] as string[])).filter((n) => WORKSPACE.test(n))) {
    const dir = join(base, name);
    const owner = Number((await readFile(join(dir, 'owner.pid'), 'utf8').catch(() => '')).trim());
    if (!owner || pidAlive(owner)) continue;
    try {
      const cluster = await openCluster(join(dir, 'cluster')).catch(() => undefined);
      if (cluster) await destroyCluster(cluster, log);
      await rm(dir, { recursive: true, force: true });
      log.info({ dir }, 'removed the temporary folder of an interrupted backup verify/restore');
      removed.push(dir);
    } catch (e) {
      log.warn({ dir, err: (e as Error).message }, 'could not remove the temporary folder of an interrupted run');
    }
  }
  return removed;
}

// ---------------------------------------------------------------------------------------------------------
// The read pass

export interface ReadOptions {
  storage: Storage;
  manifest: BackupManifest;
  identities: readonly string[];
  /** pg_restore, at least as new as the pg_dump that made the archive. */
  pgRestore: string;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  log: Logger;
  progress: { intervalMs: number; emit(line: string): void; live?: LiveLine | undefined };
  /**
   * Also keep the decrypted archive (pg_restore -j needs a seekable file): written to `<plaintext>.partial`
   * and renamed to `plaintext` only when decryption authenticated the last chunk. age emits plaintext before
   * it can detect damage further on, so nothing under the final name is ever unauthenticated.
   */
  plaintext?: string | undefined;
  /**
   * Also read the whole archive with `pg_restore -f /dev/null` (default). A restore test leaves it out: its
   * pg_restore reads every entry anyway, and the extra pass cost ~10 % of a restore's time.
   */
  readArchive?: boolean | undefined;
}

export interface ReadResult {
  /** sha256, decrypt, archive (unless readArchive is false). */
  checks: Check[];
  ok: boolean;
  ciphertextBytes: number;
  plaintextBytes: number;
  durationMs: number;
  /** The decrypted archive, when asked for and every check passed. */
  file?: string;
  /** AgeError kind when decryption failed. */
  decryptFailure?: string;
}

interface Settled {
  ok: boolean;
  at: number;
  error?: unknown;
}

const short = (hex: string) => `${hex.slice(0, 12)}…`;

/** Resolves when `stream` can take more, or is gone (a destroyed stream never drains). */
function drained(stream: NodeJS.WritableStream & { destroyed?: boolean; writableNeedDrain?: boolean }): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.removeListener('drain', done);
      stream.removeListener('close', done);
      stream.removeListener('error', done);
      resolve();
    };
    stream.once('drain', done);
    stream.once('close', done);
    stream.once('error', done);
  });
}

/**
 * One streamed pass over the stored object: storage → SHA-256 (and byte count) → age decryption →
 * `pg_restore -f /dev/null`, which reads and decompresses every entry (`--list` reads only the table of
 * contents and misses damaged data). With `plaintext`, the authenticated output is also written to a file.
 *
 * All three checks are always concluded, even after one failed: when decryption stops at a damaged chunk,
 * the rest of the object is still read through SHA-256, so the record says both that the stored bytes differ
 * from what create wrote and where decryption gave up, which is what tells an operator whether the copy
 * was cut short, rotted in one place, or replaced. The archive check then cannot complete: pg_restore is
 * stopped, because it must never read plaintext that age did not authenticate.
 */
export async function readBackup(o: ReadOptions): Promise<ReadResult> {
  const { manifest, signal } = o;
  const key = `${manifest.id}/${manifest.object.key}`;
  const started = performance.now();
  const since = () => Math.round(performance.now() - started);
  if (signal.aborted) throw interruptedError(`verification of ${manifest.id} did not start`);

  const stored = await o.storage.head(key);
  if (!stored) {
    const missing = `stored object ${key} is missing from target "${o.storage.name}"`;
    return {
      ok: false,
      ciphertextBytes: 0,
      plaintextBytes: 0,
      durationMs: since(),
      checks: [
        { name: 'sha256', ok: false, durationMs: since(), message: missing },
        { name: 'decrypt', ok: false, durationMs: 0, message: 'not run: the object is missing' },
        { name: 'archive', ok: false, durationMs: 0, message: 'not run: the object is missing' },
      ],
    };
  }

  const source = await o.storage.get(key, { signal });
  const hash = createHash('sha256');
  let ciphertextBytes = 0;
  let plaintextBytes = 0;
  const meter = new ProgressMeter({
    label: `reading ${manifest.id}`,
    intervalMs: o.progress.intervalMs,
    emit: o.progress.emit,
    live: o.progress.live,
    expectedBytes: manifest.object.ciphertextBytes,
  }).start();

  // 1 MiB stdio buffers: through a pipe, pg_restore's stdio would read 4 KiB at a time (44,000 reads per
  // 170 MiB, ~0.3 s of system time: what made reading a stored backup ~15 % slower than pg_restore of a file),
  // and it writes the SQL it reads out 4 KiB at a time too (200,000 writes per GiB); stdout is /dev/null.
  const [command, argv] = buffered(o.env, { stdin: '1M', stdout: '1M' }, o.pgRestore, ['--exit-on-error', '--file=-']);
  const readArchive = o.readArchive ?? true;
  const reader = readArchive ? spawn(command, argv, { env: o.env, stdio: ['pipe', 'ignore', 'pipe'] }) : undefined;
  let readerStderr = '';
  let readerGone = !reader;
  reader?.stderr.setEncoding('utf8').on('data', (d: string) => {
    readerStderr = (readerStderr + d).slice(-65_536);
  });
  // EPIPE once pg_restore stops reading (it found an error, or it needs no more); its exit status says which.
  reader?.stdin.on('error', () => undefined);
  const readerDone = new Promise<Settled & { code: number | null }>((resolve) => {
    if (!reader) return resolve({ ok: true, at: 0, code: 0 });
    reader.once('error', (e) => {
      readerGone = true;
      resolve({ ok: false, at: since(), code: null, error: new EnvError(`Could not run ${o.pgRestore}: ${e.message}`, { cause: e }) });
    });
    reader.once('close', (code) => {
      readerGone = true;
      resolve({ ok: code === 0, at: since(), code });
    });
  });

  const partial = o.plaintext ? `${o.plaintext}.partial` : undefined;
  const file = partial ? createWriteStream(partial, { flags: 'wx', mode: 0o600 }) : undefined;
  let sinkError: unknown;
  file?.on('error', (e) => {
    sinkError ??= e;
  });

  const toReader = (chunk: Buffer): Promise<void> | undefined => {
    if (readerGone || !reader || reader.stdin.destroyed) return undefined;
    return reader.stdin.write(chunk) ? undefined : drained(reader.stdin);
  };
  const toFile = (chunk: Buffer): Promise<void> | undefined => {
    if (!file) return undefined;
    if (sinkError) return Promise.reject(sinkError);
    return file.write(chunk) ? undefined : drained(file).then(() => (sinkError ? Promise.reject(sinkError) : undefined));
  };
  const sink = new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _encoding, callback) {
      plaintextBytes += chunk.length;
      const pending = [toReader(chunk), toFile(chunk)].filter((p): p is Promise<void> => p !== undefined);
      if (pending.length === 0) return callback();
      Promise.all(pending).then(
        () => callback(),
        (e: unknown) => {
          sinkError ??= e;
          callback(e as Error);
        },
      );
    },
    final(callback) {
      if (!readerGone) reader?.stdin.end();
      if (!file) return callback();
      file.end(() => (sinkError ? callback(sinkError as Error) : callback()));
    },
  });

  const decrypt = createDecryptStream(o.identities, { expectedBytes: manifest.object.ciphertextBytes, recipients: manifest.encryption.recipients });
  let decryptError: unknown;
  decrypt.on('error', (e) => {
    decryptError ??= e;
  });
  const decrypted: Promise<Settled> = pipeline(decrypt, sink).then(
    () => ({ ok: true, at: since() }),
    (error: unknown) => ({ ok: false, at: since(), error }),
  );

  const stopAll = () => {
    source.destroy();
    decrypt.destroy();
    reader?.kill('SIGTERM');
  };
  signal.addEventListener('abort', stopAll, { once: true });
  const cleanupFile = async () => {
    file?.destroy();
    if (partial) await rm(partial, { force: true });
  };

  let shaAt = 0;
  try {
    try {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        hash.update(chunk);
        ciphertextBytes += chunk.length;
        meter.add(chunk.length);
        // After a decryption failure the rest is still hashed: the SHA-256 verdict stays conclusive.
        if (decryptError === undefined && !decrypt.destroyed && !decrypt.write(chunk)) await drained(decrypt);
      }
      shaAt = since();
      if (decryptError === undefined && !decrypt.destroyed) decrypt.end();
    } catch (e) {
      stopAll();
      await decrypted;
      await readerDone;
      throw signal.aborted ? interruptedError(`verification of ${manifest.id} stopped while reading the backup`) : e;
    }
    const plain = await decrypted;
    if (!plain.ok) {
      // Stop pg_restore before it reads past the authenticated part (it would report a misleading error).
      reader?.stdin.destroy();
      reader?.kill('SIGTERM');
    }
    const read = await readerDone;
    if (signal.aborted) throw interruptedError(`verification of ${manifest.id} stopped while reading the backup`);
    if (sinkError !== undefined) {
      throw new EnvError(`Could not write the decrypted archive to ${partial}: ${(sinkError as Error).message}`, {
        hint: 'The temporary folder (TMPDIR) needs room for the whole decrypted archive (about the plaintext size in the manifest).',
        cause: sinkError,
      });
    }
    if (read.error) throw read.error;
    meter.stop();

    const sha256 = hash.digest('hex');
    const expected = manifest.object;
    const sizeOk = ciphertextBytes === expected.ciphertextBytes;
    const shaOk = sha256 === expected.sha256;
    const shaCheck: Check = {
      name: 'sha256',
      ok: sizeOk && shaOk,
      durationMs: shaAt,
      message:
        sizeOk && shaOk
          ? `${formatBytes(ciphertextBytes)}, ${short(sha256)} matches the manifest`
          : `stored object hash ${short(sha256)} ≠ manifest ${short(expected.sha256)}${sizeOk ? '' : ` (${ciphertextBytes} bytes stored, the manifest says ${expected.ciphertextBytes})`}`,
    };
    const failure = plain.ok ? undefined : (decryptError ?? plain.error);
    const decryptCheck: Check = plain.ok
      ? { name: 'decrypt', ok: true, durationMs: plain.at, message: `every chunk authenticated, ${formatBytes(plaintextBytes)} of archive` }
      : { name: 'decrypt', ok: false, durationMs: plain.at, message: (failure as Error | undefined)?.message ?? String(failure) };
    const archiveCheck: Check = !plain.ok
      ? {
          name: 'archive',
          ok: false,
          durationMs: read.at,
          message: 'not completed: decryption failed, so pg_restore was stopped before reading unauthenticated data',
        }
      : read.ok
        ? { name: 'archive', ok: true, durationMs: read.at, message: 'pg_restore read and decompressed every entry' }
        : { name: 'archive', ok: false, durationMs: read.at, message: toolError(readerStderr, `pg_restore exited with ${read.code}`) };
    const ok = shaCheck.ok && decryptCheck.ok && (!readArchive || archiveCheck.ok);

    let kept: string | undefined;
    if (partial && o.plaintext && plain.ok) {
      await rename(partial, o.plaintext);
      kept = o.plaintext;
    } else {
      await cleanupFile();
    }
    const kind = (failure as { kind?: unknown } | undefined)?.kind;
    return {
      ok,
      checks: readArchive ? [shaCheck, decryptCheck, archiveCheck] : [shaCheck, decryptCheck],
      ciphertextBytes,
      plaintextBytes,
      durationMs: since(),
      ...(kept && ok ? { file: kept } : {}),
      ...(failure !== undefined ? { decryptFailure: typeof kind === 'string' ? kind : 'error' } : {}),
    };
  } catch (e) {
    await cleanupFile();
    throw e;
  } finally {
    meter.stop();
    signal.removeEventListener('abort', stopAll);
    if (!readerGone) reader?.kill('SIGKILL');
  }
}

/** The major version of the pg_dump that wrote the archive: pg_restore must be at least as new. */
export const archiveMajor = (manifest: BackupManifest): number =>
  parsePgVersion(manifest.dump.pgDump)?.major ?? Math.floor(manifest.database.serverVersionNum / 10000);

/**
 * readBackup as verify and restore run it: progress lines through the command's context, and a backup whose
 * stored bytes are intact but that no given identity decrypts thrown as a ConfigError (exit 2): the key is
 * wrong, not the backup, so nothing may be recorded against it.
 */
export async function readForCommand(
  ctx: Runtime,
  identityEnv: string,
  progressInterval: string,
  o: Omit<ReadOptions, 'signal' | 'log' | 'progress'>,
): Promise<ReadResult> {
  const read = await readBackup({
    ...o,
    signal: ctx.signal,
    log: ctx.log,
    progress: { intervalMs: parseDuration(progressInterval) ?? 0, emit: (line) => ctx.progress(line), live: ctx.live },
  });
  if (read.decryptFailure === 'no-identity' && read.checks[0]?.ok) {
    const { manifest } = o;
    throw new ConfigError(`None of the given age identities can decrypt ${manifest.id}: ${read.checks[1]?.message ?? ''}`, {
      hint: `The backup is encrypted to ${manifest.encryption.recipients.map((r) => `${r.name} (${r.fingerprint})`).join(', ')}; give one of their identities with --identity-file or $${identityEnv}.`,
    });
  }
  return read;
}

/** "sha256: …; decrypt: …" — the checks that failed on their own (not those that could not run because of them). */
export function failureSummary(checks: readonly Check[]): string {
  const own = checks.filter((c) => !c.ok && !/^not (run|completed)\b/.test(c.message ?? ''));
  return (own.length > 0 ? own : checks.filter((c) => !c.ok)).map((c) => `${c.name}: ${c.message ?? 'failed'}`).join('; ');
}

// ---------------------------------------------------------------------------------------------------------
// Roles

/**
 * Every role the archive names: object owners (`ALTER … OWNER TO`), grantees and revokees, `FOR ROLE` of
 * default privileges, policy roles. Read from the schema part of the archive with PostgreSQL's own parser
 * (libpg-query), where role names appear as RoleSpec nodes, so quoting and odd names need no hand-written
 * tokenizer. `PUBLIC`, `CURRENT_USER` and friends are not roles to create.
 */
export async function archiveRoles(pgRestore: string, file: string, opts: { env: NodeJS.ProcessEnv; signal: AbortSignal; log: Logger }): Promise<string[]> {
  const out = await runTool(pgRestore, ['--schema-only', '--file=-', file], { ...opts, keepStdout: true });
  if (opts.signal.aborted) throw interruptedError('stopped while reading the roles of the archive');
  if (out.code !== 0) throw new EnvError(`pg_restore --schema-only could not read ${file}: ${toolError(out.stderr)}`);
  // psql meta-commands (\restrict, \unrestrict since 15.14) are not SQL.
  const sql = out.stdout
    .split('\n')
    .filter((line) => !line.startsWith('\\'))
    .join('\n');
  const { parse } = await import('libpg-query');
  const roles = new Set<string>();
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) walk(item);
    } else if (node && typeof node === 'object') {
      const n = node as Record<string, unknown>;
      if (n['roletype'] === 'ROLESPEC_CSTRING' && typeof n['rolename'] === 'string') roles.add(n['rolename']);
      for (const value of Object.values(n)) walk(value);
    }
  };
  walk(await parse(sql));
  return [...roles].sort();
}

export async function missingRoles(client: Client, roles: readonly string[]): Promise<string[]> {
  if (roles.length === 0) return [];
  const { rows } = await client.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE rolname = ANY($1::text[])', [roles]);
  const existing = new Set(rows.map((r) => r.rolname));
  return roles.filter((r) => !existing.has(r));
}

/**
 * Creates the missing roles as NOLOGIN: enough for ownership and grants to be restored exactly, without
 * creating anyone who can log in. Returns the roles created (another session may create one meanwhile).
 */
export async function createRoles(client: Client, roles: readonly string[], where: string): Promise<string[]> {
  const created: string[] = [];
  for (const role of await missingRoles(client, roles)) {
    try {
      await client.query(`CREATE ROLE ${quoteIdent(role)} NOLOGIN`);
      created.push(role);
    } catch (e) {
      if (isPgError(e) && e.code === '42710') continue; // created concurrently
      if (isPgError(e) && e.code === '42501') {
        throw new EnvError(
          `The backup's objects belong to or are granted to role "${role}", which ${where} lacks, and the connecting role may not create roles: ${e.message}.`,
          {
            hint: `Create the roles first (CREATE ROLE … NOLOGIN, or from \`pg_dumpall --globals-only --no-role-passwords\` of the source server), or connect as a role with CREATEROLE.`,
            cause: e,
          },
        );
      }
      throw e;
    }
  }
  return created;
}

// ---------------------------------------------------------------------------------------------------------
// Restore, manifest, amcheck

export interface PhaseResult {
  ok: boolean;
  durationMs: number;
  message: string;
}

export async function restoreArchive(o: {
  pgRestore: string;
  file: string;
  target: DbTarget;
  jobs: number;
  clean: boolean;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  log: Logger;
  applicationName: string;
}): Promise<PhaseResult> {
  const args = [
    '--exit-on-error',
    '--no-password',
    `--jobs=${o.jobs}`,
    ...(o.clean ? ['--clean', '--if-exists'] : []),
    `--dbname=${conninfoDatabase(o.target.database)}`,
    o.file,
  ];
  const out = await runTool(o.pgRestore, args, { env: pgEnv(o.target, o.env, o.applicationName), signal: o.signal, log: o.log });
  if (o.signal.aborted) throw interruptedError(`pg_restore into ${o.target.database} was stopped`);
  return out.code === 0
    ? { ok: true, durationMs: out.durationMs, message: `pg_restore -j ${o.jobs} into ${o.target.database} in ${formatMs(out.durationMs)}` }
    : { ok: false, durationMs: out.durationMs, message: toolError(out.stderr, `pg_restore exited with ${out.code}`) };
}

export interface DatabaseManifestOptions {
  bins: PgBinaries;
  /** The major version of the server `target` is on: its pg_dump must be at least as new. */
  serverMajor: number;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  log: Logger;
  applicationName: string;
}

/** The table manifest of a database (a restored copy), computed the way the backup's manifest was. */
export async function databaseManifest(target: DbTarget, tableHash: TableHash | undefined, o: DatabaseManifestOptions): Promise<TableManifest[]> {
  if (tableHash?.method === COPY_MANIFEST) {
    const pgDump = await clientTool(o.bins, 'pg_dump', o.serverMajor);
    try {
      return await dumpManifest({ pgDump, target, env: pgEnv(target, o.env, o.applicationName), tableHash, log: o.log, signal: o.signal });
    } catch (e) {
      if (o.signal.aborted) throw interruptedError(`reading the manifest of ${target.database} was stopped`);
      if (e instanceof ArchiveFormatError) {
        throw new EnvError(`Could not read the rows of ${target.database} from ${pgDump}: ${e.message}`, {
          hint: 'Point PG_BIN at a pg_dump of version 17 or older for the comparison, or verify with an older dbops; the backup itself is not in question.',
          cause: e,
        });
      }
      throw e;
    }
  }
  return withClient(target, { log: o.log, applicationName: o.applicationName }, async (client) => {
    for (const statement of MANIFEST_SETTINGS) await client.query(statement);
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      return await computeTableManifest(client);
    } finally {
      await client.query('COMMIT').catch(() => undefined);
    }
  });
}

export function describeDifference(d: ManifestDifference): string {
  switch (d.problem) {
    case 'missing':
      return `${d.table} is missing (manifest: ${d.expected})`;
    case 'unexpected':
      return `${d.table} is not in the manifest (${d.actual})`;
    case 'rows':
      return `${d.table} has ${d.actual} rows, the manifest ${d.expected}`;
    case 'content':
      return `${d.table} content hash ${d.actual} ≠ manifest ${d.expected} (same row count)`;
  }
}

/** The first few differences and how many more: the message travels into errors, records and notifications. */
function summarizeDifferences(differences: readonly ManifestDifference[], shown = 5): string {
  const head = differences.slice(0, shown).map(describeDifference).join('; ');
  return differences.length > shown ? `${differences.length} tables differ: ${head}; and ${differences.length - shown} more` : head;
}

export function manifestCheck(
  expected: readonly TableManifest[],
  actual: readonly TableManifest[],
  durationMs: number,
  options: { ignoreUnexpected?: boolean } = {},
): { check: Check; differences: ManifestDifference[]; unexpected: ManifestDifference[] } {
  const all = compareTableManifests(expected, actual);
  const unexpected = all.filter((d) => d.problem === 'unexpected');
  const differences = options.ignoreUnexpected ? all.filter((d) => d.problem !== 'unexpected') : all;
  const rows = expected.reduce((sum, t) => sum + BigInt(t.rows), 0n);
  const check: Check =
    differences.length === 0
      ? {
          name: 'manifest',
          ok: true,
          durationMs,
          message: `${expected.length === 1 ? '1 table matches' : `${expected.length} tables match`} (${rows.toLocaleString('en-US')} rows, content hashes equal)`,
        }
      : { name: 'manifest', ok: false, durationMs, message: summarizeDifferences(differences) };
  return { check, differences, unexpected };
}

export async function amcheck(o: {
  pgAmcheck: string;
  target: DbTarget;
  heapallindexed: boolean;
  jobs: number;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  log: Logger;
  applicationName: string;
}): Promise<PhaseResult> {
  const args = ['--install-missing', '--no-password', `--jobs=${o.jobs}`, ...(o.heapallindexed ? ['--heapallindexed'] : []), `--database=${o.target.database}`];
  const out = await runTool(o.pgAmcheck, args, { env: pgEnv(o.target, o.env, o.applicationName), signal: o.signal, log: o.log });
  if (o.signal.aborted) throw interruptedError(`pg_amcheck on ${o.target.database} was stopped`);
  if (out.code === 0)
    return {
      ok: true,
      durationMs: out.durationMs,
      message: `heap and B-tree indexes intact${o.heapallindexed ? ' (heapallindexed: every heap tuple is in its indexes)' : ''}`,
    };
  // Corruption is reported on stdout, one line per problem; connection problems on stderr.
  const report = [out.stdout, out.stderr]
    .join('\n')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return {
    ok: false,
    durationMs: out.durationMs,
    message: `pg_amcheck exited with ${out.code}: ${report.slice(0, 4).join(' ') || 'no output'}${report.length > 4 ? ` (+${report.length - 4} more lines)` : ''}`,
  };
}

/** Turns anything thrown by a phase into its message, keeping DbopsErrors' text intact. */
export const messageOf = (e: unknown): string => (isDbopsError(e) || e instanceof Error ? e.message : String(e));
