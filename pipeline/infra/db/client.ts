import pg from 'pg';
import { EnvError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { DbTarget } from './url.ts';

export type Client = pg.Client;

/** Error raised by the server, with its SQLSTATE and the fields node-postgres exposes. */
export type PgError = Error & { code?: string; position?: string; detail?: string; hint?: string; where?: string; severity?: string };

export const isPgError = (e: unknown): e is PgError =>
  e instanceof Error && typeof (e as PgError).code === 'string' && /^[0-9A-Z]{5}$/.test((e as PgError).code ?? '');

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EAI_AGAIN']);

/**
 * Connection failures in Prisma's words (P1000, P1001, P1003), with the fix; exit 3. The message names
 * host, port, database and user but never the password.
 */
export function connectionError(target: DbTarget, e: unknown): EnvError {
  const at = `${target.host}:${target.port}`;
  const err = e as PgError & { errno?: number };
  if (err.code === '28P01' || err.code === '28000') {
    return new EnvError(`Authentication failed against database server at \`${at}\`: the provided database credentials for \`${target.user}\` are not valid.`, {
      code: 'P1000',
      hint: 'Check the user name and password in the database URL (percent-encode special characters), and that pg_hba.conf allows this client.',
      cause: e,
    });
  }
  if (err.code === '3D000') {
    return new EnvError(`Database \`${target.database}\` does not exist on the database server at \`${at}\`.`, {
      code: 'P1003',
      hint: `Create it first (\`createdb -h ${target.host} -p ${target.port} -U ${target.user} ${target.database}\` or CREATE DATABASE), or fix the database name in the URL. dbops never creates databases implicitly.`,
      cause: e,
    });
  }
  if ((err.code && UNREACHABLE.has(err.code)) || /timeout|terminated unexpectedly|Connection terminated/i.test(err.message)) {
    return new EnvError(`Can't reach database server at \`${at}\`.`, {
      code: 'P1001',
      hint: `Please make sure your database server is running at \`${at}\` and accepts TCP connections from here.`,
      cause: e,
    });
  }
  return new EnvError(`Could not connect to the database server at \`${at}\`: ${err.message}`, { code: 'P1001', cause: e });
}

export interface ConnectOptions {
  log: Logger;
  /** Shows up in pg_stat_activity, so a blocked session can tell who holds its lock. */
  applicationName: string;
}

export async function connect(target: DbTarget, { log, applicationName }: ConnectOptions): Promise<Client> {
  const client = new pg.Client({ ...target.config, application_name: applicationName });
  // Without a listener, a server-side disconnect (admin shutdown, pg_terminate_backend) crashes the process.
  client.on('error', (e) => log.warn({ err: e.message }, 'database connection lost'));
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => undefined);
    throw connectionError(target, e);
  }
  return client;
}

/** Runs `fn` with a fresh connection and always closes it. */
export async function withClient<T>(target: DbTarget, options: ConnectOptions, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = await connect(target, options);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function serverMajor(client: Client): Promise<number> {
  const { rows } = await client.query<{ major: number }>(`SELECT current_setting('server_version_num')::int / 10000 AS major`);
  return rows[0]!.major;
}
