import { spawn } from 'node:child_process';
import { Transform, type Readable } from 'node:stream';
import { EnvError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { redact } from '../../core/redact.ts';
import { buffered } from '../../core/tool.ts';
import { connect, isPgError, type Client } from '../../infra/db/client.ts';
import type { DbTarget } from '../../infra/db/url.ts';
import { MANIFEST_SETTINGS } from './tables.ts';

/**
 * pg_dump plumbing of the backup commands: the exported snapshot a dump and its table manifest share, and a
 * pg_dump child whose output only ends cleanly when pg_dump exited 0.
 */

export interface ServerInfo {
  name: string;
  /** pg_control_system().system_identifier as text (a bigint). */
  systemIdentifier: string;
  /** e.g. 15.18 */
  serverVersion: string;
  serverVersionNum: number;
  /** pg_database_size: on-disk size including indexes, for progress estimates and the manifest. */
  sizeBytes: number;
}

const where = (t: DbTarget) => `${t.host}:${t.port}/${t.database}`;

/** Identity of the database being backed up: name, cluster (system identifier), version, size. */
export async function readServerInfo(client: Client, target: DbTarget): Promise<ServerInfo> {
  const { rows } = await client.query<{ name: string; version: string; num: number; size: string }>(
    `SELECT current_database() AS name, current_setting('server_version') AS version,
            current_setting('server_version_num')::int AS num, pg_database_size(current_database())::text AS size`,
  );
  const row = rows[0]!;
  let systemIdentifier: string;
  try {
    systemIdentifier = (await client.query<{ id: string }>('SELECT system_identifier::text AS id FROM pg_control_system()')).rows[0]!.id;
  } catch (e) {
    // PUBLIC may call it by default (PostgreSQL 15), but a hardened server can revoke that.
    if (isPgError(e) && e.code === '42501') {
      throw new EnvError(
        `The role ${target.user} may not call pg_control_system() on ${where(target)}; dbops records the cluster's system identifier so a backup can never be mistaken for one of another server with the same database name.`,
        {
          hint: `As a superuser, in database ${target.database}: GRANT EXECUTE ON FUNCTION pg_catalog.pg_control_system() TO ${target.user};`,
          cause: e,
        },
      );
    }
    throw new EnvError(`Could not read the system identifier of ${where(target)}: ${(e as Error).message}`, { cause: e });
  }
  // "15.18 (Debian 15.18-0+deb12u1)" → "15.18"
  return { name: row.name, systemIdentifier, serverVersion: row.version.split(' ')[0] ?? row.version, serverVersionNum: row.num, sizeBytes: Number(row.size) };
}

export interface DumpSnapshot {
  /** The connection whose REPEATABLE READ READ ONLY transaction owns the snapshot (MANIFEST_SETTINGS applied). */
  client: Client;
  /** pg_export_snapshot() result, for pg_dump --snapshot. */
  id: string;
  exportedAt: Date;
  info: ServerInfo;
  /** Ends the transaction and the connection; the snapshot disappears with it. */
  close(): Promise<void>;
}

/**
 * Opens the transaction a backup lives in and exports its snapshot. Keep it open until every user of the
 * snapshot is done: pg_dump imports it at start, and the table manifest is computed on this client.
 */
export async function openDumpSnapshot(target: DbTarget, log: Logger, applicationName: string, lockWaitTimeoutMs = 0): Promise<DumpSnapshot> {
  const client = await connect(target, { log, applicationName });
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await client.query('COMMIT').catch(() => undefined);
      await client.end().catch(() => undefined);
    })());
  try {
    const info = await readServerInfo(client, target);
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await client.query(MANIFEST_SETTINGS.join('; '));
    // The manifest scan takes the same ACCESS SHARE locks as pg_dump, so it gives up after the same wait.
    await client.query(`SET lock_timeout = ${Math.max(0, Math.round(lockWaitTimeoutMs))}`);
    const { rows } = await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id');
    return { client, id: rows[0]!.id, exportedAt: new Date(), info, close };
  } catch (e) {
    await client.end().catch(() => undefined);
    if (e instanceof EnvError) throw e;
    throw new EnvError(`Could not open the backup snapshot on ${where(target)}: ${(e as Error).message}`, { cause: e });
  }
}

export interface PgDumpOptions {
  /** Absolute path of a pg_dump at least as new as the server (clientTool). */
  pgDump: string;
  target: DbTarget;
  /** From pgEnv(). */
  env: NodeJS.ProcessEnv;
  /** The exported snapshot to dump (a backup); without it pg_dump takes its own. */
  snapshot?: string | undefined;
  compressionLevel: number;
  /** Only the tables' rows (how a restore test reads a restored database's manifest). */
  dataOnly?: boolean | undefined;
  /** pg_dump --encoding: the client encoding the COPY text is written in. */
  encoding?: string | undefined;
  /** Session settings for pg_dump's connection (PGOPTIONS `-c name=value`), e.g. COPY_SETTINGS. */
  settings?: Readonly<Record<string, string>> | undefined;
  /** pg_dump --lock-wait-timeout in ms; 0 waits forever. */
  lockWaitTimeoutMs?: number | undefined;
  log: Logger;
  /** Aborting kills pg_dump. */
  signal: AbortSignal;
}

export interface PgDumpProcess {
  /**
   * The archive bytes. It ends only after pg_dump exited 0; otherwise it errors, so a consumer (age
   * encryption, an upload) never sees a clean end of a truncated archive and never completes an object.
   */
  output: Readable;
  /** Resolves when pg_dump exited 0; rejects with an EnvError carrying its redacted stderr otherwise. */
  done: Promise<{ durationMs: number }>;
  pid: number | undefined;
}

const STDERR_KEPT = 16 * 1024;

/**
 * Session settings that shape COPY text and that pg_dump leaves as the server, database or role sets them
 * (pg_dump itself fixes DateStyle, IntervalStyle and extra_float_digits): a backup's dump runs with these so
 * that the restore side can write the same text for the same rows (archive-manifest.ts). Neither changes
 * what is restored: timestamptz text carries its offset, and every server reads hex bytea.
 */
export const COPY_SETTINGS: Readonly<Record<string, string>> = { TimeZone: 'UTC', bytea_output: 'hex' };

/** `env` with PGOPTIONS extended by `-c name=value` per setting (spaces and backslashes escaped as libpq wants). */
export function withSessionSettings(env: NodeJS.ProcessEnv, settings: Readonly<Record<string, string>>): NodeJS.ProcessEnv {
  const escape = (v: string) => v.replace(/\\/g, '\\\\').replace(/ /g, '\\ ');
  const options = Object.entries(settings).map(([k, v]) => `-c ${escape(k)}=${escape(v)}`);
  return { ...env, PGOPTIONS: [env['PGOPTIONS'], ...options].filter(Boolean).join(' ') };
}

/** Starts `pg_dump -Fc -Z<level> [--snapshot=<id>] --no-password` with its archive on stdout. */
export function startPgDump(o: PgDumpOptions): PgDumpProcess {
  const { pgDump, target, snapshot, compressionLevel, lockWaitTimeoutMs, log, signal } = o;
  const args = ['--format=custom', `--compress=${compressionLevel}`, '--no-password'];
  if (snapshot) args.push(`--snapshot=${snapshot}`);
  if (o.dataOnly) args.push('--data-only');
  if (o.encoding) args.push(`--encoding=${o.encoding}`);
  if (lockWaitTimeoutMs && lockWaitTimeoutMs > 0) args.push(`--lock-wait-timeout=${Math.round(lockWaitTimeoutMs)}`);
  const env = o.settings ? withSessionSettings(o.env, o.settings) : o.env;
  const started = performance.now();
  // pg_dump writes its archive through stdio, which buffers only 4–8 KiB for a pipe: every block would wake
  // Node for one small read (~1 CPU-second per 170 MiB on 2 cores, measured; the dump's wall time fell ~10 %).
  const [command, argv] = buffered(env, { stdout: '1M' }, pgDump, args);
  const child = spawn(command, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  log.debug({ cmd: `${pgDump} ${args.join(' ')}`, database: where(target) }, 'exec');
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    stderr = (stderr + d).slice(-STDERR_KEPT);
  });
  const onAbort = () => child.kill('SIGTERM');
  signal.addEventListener('abort', onAbort, { once: true });
  if (signal.aborted) onAbort();

  const done = new Promise<{ durationMs: number }>((resolve, reject) => {
    child.once('error', (e) =>
      reject(
        new EnvError(`Could not start ${pgDump}: ${e.message}`, { hint: 'Install the PostgreSQL client tools or point PG_BIN at their directory.', cause: e }),
      ),
    );
    child.once('close', (code, sig) => {
      signal.removeEventListener('abort', onAbort);
      const durationMs = performance.now() - started;
      const text = redact(stderr.trim());
      if (code === 0) {
        if (text) log.warn({ stderr: text }, 'pg_dump warnings');
        return resolve({ durationMs });
      }
      const how = code === null ? `was stopped by ${sig ?? 'a signal'}` : `failed (exit ${code})`;
      // pg_dump's --lock-wait-timeout is a statement_timeout around its LOCK TABLE: say which table waited.
      const locked = /timeout[\s\S]*Query was: LOCK TABLE (\S+) IN ACCESS SHARE MODE/.exec(text)?.[1];
      reject(
        new EnvError(`pg_dump ${how} while dumping ${where(target)}${text ? `:\n${text}` : '.'}`, {
          hint: signal.aborted
            ? undefined
            : locked
              ? `Another session holds a lock on ${locked} that conflicts with the dump's ACCESS SHARE lock (a migration's ALTER TABLE, a VACUUM FULL, a LOCK TABLE), for longer than dump.lock_wait_timeout of policies/backups.yaml. Find it with \`SELECT pid, state, query FROM pg_stat_activity WHERE pid = ANY (SELECT pid FROM pg_locks WHERE relation = '${locked.replace(/'/g, "''")}'::regclass)\`, and run the backup again once it has finished.`
              : "The message above is pg_dump's own; fix the cause (permissions: the role needs SELECT on every table, e.g. GRANT pg_read_all_data; a lock held by a migration; the server going away) and run the backup again.",
        }),
      );
    });
  });
  // The caller awaits `done` (or sees it through `output`); this keeps an early rejection from being "unhandled".
  done.catch(() => undefined);

  const output = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      callback(null, chunk);
    },
    // stdout ends when pg_dump exits, successfully or not: hold the end back until we know which.
    flush(callback) {
      done.then(
        () => callback(),
        (e: unknown) => callback(e as Error),
      );
    },
  });
  child.stdout.on('error', (e) => output.destroy(e));
  child.stdout.pipe(output);
  output.on('close', () => {
    // A consumer that gave up (upload failed, interrupted) leaves pg_dump blocked on a full pipe.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  });
  return { output, done, pid: child.pid };
}
