import type { ClientConfig } from 'pg';
import { parse as parseConnectionString, toClientConfig } from 'pg-connection-string';
import { UsageError } from '../core/errors.ts';
import { MASK, registerSecret } from '../core/redact.ts';

/** A database to talk to, parsed from a Prisma-style PostgreSQL URL. */
export interface DbTarget {
  /** node-postgres settings (no Prisma-only parameters). */
  config: ClientConfig;
  /** The schema Prisma would use: the URL's `schema` parameter, else `public`. */
  schema: string;
  /** Whether the schema was given (Prisma then sets search_path to it; otherwise the server default stands). */
  schemaExplicit: boolean;
  host: string;
  port: number;
  database: string;
  user: string;
  /** The URL with its password masked: the only form that may be printed. */
  display: string;
}

// Parameters Prisma understands that node-postgres must not see (it would pass them as startup GUCs).
const PRISMA_ONLY = ['schema', 'connection_limit', 'pool_timeout', 'pgbouncer', 'statement_cache_size', 'socket_timeout', 'connect_timeout', 'sslaccept'];

export function parseDatabaseUrl(url: string, schemaOverride?: string): DbTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError('The database URL is not a valid URL.', {
      code: 'P1013',
      hint: 'Use postgresql://USER:PASSWORD@HOST:PORT/DATABASE?schema=SCHEMA (percent-encode special characters in the password).',
    });
  }
  if (parsed.protocol !== 'postgresql:' && parsed.protocol !== 'postgres:') {
    throw new UsageError(`The database URL must start with postgresql:// or postgres://, not ${parsed.protocol}//.`, { code: 'P1013' });
  }
  const password = decodeURIComponent(parsed.password);
  registerSecret(password);
  const schemaParam = parsed.searchParams.get('schema');
  const connectTimeout = Number(parsed.searchParams.get('connect_timeout') ?? 10);
  const stripped = new URL(url);
  for (const key of PRISMA_ONLY) stripped.searchParams.delete(key);
  const config = toClientConfig(parseConnectionString(stripped.toString()));
  config.connectionTimeoutMillis = (Number.isFinite(connectTimeout) && connectTimeout > 0 ? connectTimeout : 10) * 1000;
  const display = new URL(url);
  if (display.password) display.password = MASK;
  const schema = schemaOverride ?? schemaParam ?? 'public';
  return {
    config,
    schema,
    schemaExplicit: schemaOverride !== undefined || schemaParam !== null,
    host: config.host ?? 'localhost',
    port: Number(config.port ?? 5432),
    database: config.database ?? config.user ?? 'postgres',
    user: config.user ?? '',
    display: display.toString().replace(`:${encodeURIComponent(MASK)}@`, `:${MASK}@`),
  };
}

/** `"name"` with embedded quotes doubled: for identifiers interpolated into SQL that cannot take parameters. */
export const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/** `'text'` with embedded quotes doubled: for literals in simple-query messages, which cannot take parameters. */
export const quoteLiteral = (text: string): string => `'${text.replaceAll("'", "''")}'`;
