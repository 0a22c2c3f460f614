import type { ClientConfig } from 'pg';
import { parse as parseConnectionString, toClientConfig } from 'pg-connection-string';
import { UsageError } from '../../core/errors.ts';
import { MASK, registerSecret } from '../../core/redact.ts';

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

/**
 * Parses a Prisma-style PostgreSQL URL. `source` names where it came from in messages (`--target-url`,
 * `DATABASE_URL`, …); the URL itself is never echoed, and its password is registered as a secret even when
 * it does not decode, so no later message can show it.
 */
export function parseDatabaseUrl(url: string, schemaOverride?: string, source = 'The database URL'): DbTarget {
  const invalid = (why: string) =>
    new UsageError(`${source} is not a valid PostgreSQL URL: ${why}.`, {
      code: 'P1013',
      hint: 'Use postgresql://USER:PASSWORD@HOST:PORT/DATABASE?schema=SCHEMA, and percent-encode special characters in the user name and password (% as %25, @ as %40, : as %3A, / as %2F).',
    });
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalid('it does not parse as a URL');
  }
  registerSecret(parsed.password);
  if (parsed.protocol !== 'postgresql:' && parsed.protocol !== 'postgres:') {
    throw new UsageError(`${source} must start with postgresql:// or postgres://, not ${parsed.protocol}//.`, { code: 'P1013' });
  }
  let password: string;
  let config: ClientConfig;
  try {
    password = decodeURIComponent(parsed.password);
    decodeURIComponent(parsed.username);
    decodeURIComponent(parsed.pathname);
    const stripped = new URL(url);
    for (const key of PRISMA_ONLY) stripped.searchParams.delete(key);
    config = toClientConfig(parseConnectionString(stripped.toString()));
  } catch (e) {
    if (e instanceof URIError) throw invalid('a % in it does not start a %XX escape');
    throw invalid((e as Error).message);
  }
  registerSecret(password);
  const schemaParam = parsed.searchParams.get('schema');
  const connectTimeout = Number(parsed.searchParams.get('connect_timeout') ?? 10);
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
