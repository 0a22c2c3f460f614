import { hostname } from 'node:os';
import { EnvError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { pidAlive } from '../pg/cluster.ts';
import { connect, isPgError, type Client } from './client.ts';
import { quoteIdent, quoteLiteral, type DbTarget } from './url.ts';

/**
 * Databases copied from a template with `CREATE DATABASE … TEMPLATE … STRATEGY FILE_COPY`: the server
 * copies the template's files (seconds for gigabytes) instead of replaying a dump (minutes). Used for
 * rehearsal clones of staging snapshots and for the templates dbops caches on a server.
 */

/** The same server and credentials, another database (the URL's schema parameter is kept). */
export function onDatabase(target: DbTarget, database: string): DbTarget {
  const display = new URL(target.display);
  display.pathname = `/${encodeURIComponent(database)}`;
  return { ...target, config: { ...target.config, database }, database, display: display.toString().replace('%2A%2A%2A', '***') };
}

/**
 * A maintenance connection to the server of `target` that is not connected to `avoid` (a template
 * cannot be copied while anyone is connected to it): the `postgres` database, else `template1`.
 */
export async function connectMaintenance(target: DbTarget, log: Logger, avoid?: string): Promise<Client> {
  const candidates = [target.database, 'postgres', 'template1'].filter((d) => d !== avoid);
  let last: unknown;
  for (const database of candidates) {
    try {
      return await connect(onDatabase(target, database), { log, applicationName: 'dbops rehearse (admin)' });
    } catch (e) {
      last = e;
      // Only a missing database is worth trying the next one for; anything else (auth, network) is final.
      if (!(e instanceof EnvError) || e.code !== 'P1003') throw e;
    }
  }
  throw last;
}

export async function databaseExists(admin: Client, name: string): Promise<boolean> {
  const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  return (rowCount ?? 0) > 0;
}

/** Who made a database and whether it may be swept once that process is gone. */
export interface Ownership {
  tool: 'dbops';
  host: string;
  pid: number;
  startedAt: string;
  /** Kept on purpose (--keep, cached templates): never swept. */
  keep: boolean;
}

export const ownership = (keep = false): Ownership => ({ tool: 'dbops', host: hostname(), pid: process.pid, startedAt: new Date().toISOString(), keep });

/** CREATE DATABASE name TEMPLATE template STRATEGY FILE_COPY, with the two usual failures explained. */
export async function cloneDatabase(admin: Client, template: string, name: string, owner: Ownership): Promise<void> {
  try {
    await admin.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE ${quoteIdent(template)} STRATEGY FILE_COPY`);
  } catch (e) {
    if (isPgError(e) && e.code === '55006') {
      throw new EnvError(`Cannot copy database "${template}": other sessions are connected to it (${e.detail ?? e.message}).`, {
        hint: 'PostgreSQL copies a template only while nobody is connected to it. Use a database reserved as the snapshot (restore the masked backup into it and leave it idle), or disconnect the sessions named above.',
        cause: e,
      });
    }
    if (isPgError(e) && e.code === '42501') {
      throw new EnvError(`The role may not create databases, so it cannot clone "${template}": ${e.message}.`, {
        hint: 'Grant it CREATEDB (ALTER ROLE … CREATEDB) and make it the owner of the template database, or use a superuser for rehearsals.',
        cause: e,
      });
    }
    if (isPgError(e) && e.code === '3D000') {
      throw new EnvError(`The snapshot database "${template}" does not exist on this server.`, {
        hint: 'Check the database name in the snapshot URL.',
        cause: e,
      });
    }
    throw e;
  }
  await markOwner(admin, name, owner);
}

/** The mark is JSON: a domain may add what it knows of the database beside the ownership (a masked snapshot's attestation). */
export async function markOwner(admin: Client, name: string, owner: Ownership, extra: Record<string, unknown> = {}): Promise<void> {
  await admin.query(`COMMENT ON DATABASE ${quoteIdent(name)} IS ${quoteLiteral(JSON.stringify({ ...extra, ...owner }))}`);
}

/** Drops the database, ending its sessions first (the clone's own probes, a stuck statement after Ctrl-C). */
export async function dropDatabase(admin: Client, name: string): Promise<void> {
  await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
}

/**
 * Databases named with `prefix` that a dbops process on this machine created and that outlived it
 * (kill -9, power loss): dropped. Databases of other machines or of live processes are never touched.
 */
export async function sweepOrphans(admin: Client, prefix: string, log: Logger): Promise<string[]> {
  const { rows } = await admin.query<{ datname: string; note: string | null }>(
    `SELECT d.datname, shobj_description(d.oid, 'pg_database') AS note FROM pg_database d WHERE d.datname LIKE $1 || '%'`,
    [prefix],
  );
  const dropped: string[] = [];
  for (const r of rows) {
    let owner: Partial<Ownership>;
    try {
      owner = JSON.parse(r.note ?? '') as Partial<Ownership>;
    } catch {
      continue;
    }
    if (owner.tool !== 'dbops' || owner.keep || owner.host !== hostname() || typeof owner.pid !== 'number' || pidAlive(owner.pid)) continue;
    log.info({ database: r.datname, pid: owner.pid }, 'dropping a database left behind by an interrupted dbops run');
    await dropDatabase(admin, r.datname).catch((e: unknown) =>
      log.warn({ database: r.datname, err: (e as Error).message }, 'could not drop a leftover database'),
    );
    dropped.push(r.datname);
  }
  return dropped;
}
