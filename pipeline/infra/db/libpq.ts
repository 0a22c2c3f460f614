import type { DbTarget } from './url.ts';

// Variables that would make libpq connect somewhere else than the URL says (PGHOSTADDR wins over PGHOST,
// a service file can name another host), log in differently, or run differently (an inherited PGOPTIONS
// such as `-c default_transaction_read_only=on`).
const OVERRIDING = ['PGHOSTADDR', 'PGSERVICE', 'PGSERVICEFILE', 'PGREQUIRESSL', 'PGCONNECT_TIMEOUT', 'PGTARGETSESSIONATTRS', 'PGOPTIONS'];

/** libpq's sslmode for what node-postgres was told by the URL; undefined leaves libpq's own default. */
function sslMode(ssl: DbTarget['config']['ssl']): string | undefined {
  if (ssl === undefined || ssl === null) return undefined;
  if (ssl === false) return 'disable';
  if (ssl === true) return 'require';
  if (ssl.rejectUnauthorized === false) return 'require';
  // pg-connection-string turns verify-ca into "verify the chain, skip the host name".
  if (typeof ssl.checkServerIdentity === 'function' && ssl.ca) return 'verify-ca';
  return 'verify-full';
}

/**
 * Environment for a libpq client tool (pg_dump, pg_restore, psql) talking to `target`: PGHOST, PGPORT,
 * PGUSER, PGDATABASE, PGPASSWORD (only when the URL has one; otherwise an inherited PGPASSWORD or
 * ~/.pgpass applies, as with node-postgres), PGSSLMODE from the URL's sslmode, PGAPPNAME. Certificate
 * files (PGSSLROOTCERT …) are inherited from `base`. Passing the database in PGDATABASE rather than
 * --dbname also keeps a name containing `=` from being read as a connection string.
 */
export function pgEnv(target: DbTarget, base: NodeJS.ProcessEnv, applicationName: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  for (const key of OVERRIDING) delete env[key];
  env['PGHOST'] = target.host;
  env['PGPORT'] = String(target.port);
  env['PGUSER'] = target.user;
  env['PGDATABASE'] = target.database;
  env['PGAPPNAME'] = applicationName;
  env['PGCONNECT_TIMEOUT'] = String(Math.max(2, Math.ceil((target.config.connectionTimeoutMillis ?? 10_000) / 1000)));
  const password = target.config.password;
  if (typeof password === 'string' && password !== '') env['PGPASSWORD'] = password;
  const mode = sslMode(target.config.ssl);
  if (mode) env['PGSSLMODE'] = mode;
  if (typeof target.config.options === 'string' && target.config.options) env['PGOPTIONS'] = target.config.options;
  return env;
}
