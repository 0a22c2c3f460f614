import { randomUUID } from 'node:crypto';
import { EnvError, RefusedError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { connect, isPgError, type Client } from '../../infra/db/client.ts';
import { quoteIdent, quoteLiteral, type DbTarget } from '../../infra/db/url.ts';
import { lockHolder, PRISMA_MIGRATE_LOCK } from '../../infra/db/locks.ts';
import { requireOwnSession, type PoolerPolicy } from '../../infra/db/pooler.ts';

/** Prisma's migration advisory lock key (prisma-engines `flavour/postgres.rs`), declared with dbops' own locks. */
export const ADVISORY_LOCK_KEY = PRISMA_MIGRATE_LOCK.key;

/** A row of `_prisma_migrations`; timestamps as ISO-8601 UTC strings with microseconds (JS Dates would drop them). */
export interface MigrationRow {
  id: string;
  checksum: string;
  finishedAt: string | null;
  migrationName: string;
  logs: string | null;
  rolledBackAt: string | null;
  startedAt: string;
  appliedStepsCount: number;
}

export const isFailed = (r: MigrationRow) => r.finishedAt === null && r.rolledBackAt === null;

export interface Session {
  client: Client;
  target: DbTarget;
  /** `"schema"._prisma_migrations` */
  table: string;
  /** Backend pid of `client`, to find who blocks it. */
  pid: number;
  log: Logger;
  close(): Promise<void>;
}

/**
 * One connection for the whole command, as Prisma uses. With an explicit schema, search_path is set to it
 * so unqualified DDL in migrations lands there (spec §4.8); without one the server default stands.
 * Nothing is created here: status stays read-only, deploy creates the schema only when it writes.
 */
export async function openSession(target: DbTarget, log: Logger, applicationName: string): Promise<Session> {
  const client = await connect(target, { log, applicationName });
  const schema = quoteIdent(target.schema);
  try {
    if (target.schemaExplicit) await client.query(`SET search_path TO ${schema}`);
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    return { client, target, table: `${schema}._prisma_migrations`, pid: rows[0]!.pid, log, close: () => client.end().catch(() => undefined) };
  } catch (e) {
    await client.end().catch(() => undefined);
    throw e;
  }
}

/**
 * openSession for a command that writes under a session-level lock (migrate deploy/resolve, deploy,
 * rollback): refused with exit 2 and the direct URL when the target goes through a transaction pooler.
 */
export async function openOwnSession(
  target: DbTarget,
  log: Logger,
  applicationName: string,
  declared: { pooler?: PoolerPolicy | undefined; environment?: string | undefined } = {},
): Promise<Session> {
  const s = await openSession(target, log, applicationName);
  try {
    await requireOwnSession(target, { log, command: applicationName, client: s.client, ...declared });
  } catch (e) {
    await s.close();
    throw e;
  }
  return s;
}

/**
 * Takes Prisma's session-level advisory lock, waiting at most `timeoutMs` (lock_timeout applies to
 * advisory lock waits). On timeout: P1002 with Prisma's wording, plus who holds the lock.
 */
export async function acquireAdvisoryLock(s: Session, timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const disabled = env['PRISMA_SCHEMA_DISABLE_ADVISORY_LOCK'];
  if (disabled !== undefined && disabled !== '' && disabled !== '0') {
    s.log.warn('PRISMA_SCHEMA_DISABLE_ADVISORY_LOCK is set: not taking the migration advisory lock; concurrent deploys are not serialized');
    return;
  }
  await s.client.query(`SET lock_timeout = ${Math.max(1, timeoutMs)}`);
  try {
    await s.client.query(`SELECT pg_advisory_lock(${ADVISORY_LOCK_KEY})`);
  } catch (e) {
    if (!isPgError(e) || e.code !== '55P03') throw e;
    const holder = await lockHolder(s.client, PRISMA_MIGRATE_LOCK);
    throw new EnvError(
      `The database server was reached but timed out.\n\nContext: Timed out trying to acquire a postgres advisory lock (SELECT pg_advisory_lock(${ADVISORY_LOCK_KEY})). Timeout: ${timeoutMs}ms.${holder ? `\nThe lock is held by ${holder}.` : ''}`,
      {
        code: 'P1002',
        hint: 'Another migration command is running against this database; wait for it to finish and run again, or raise executor.advisory_lock_timeout in policies/migrations.yaml. See https://pris.ly/d/migrate-advisory-locking',
      },
    );
  } finally {
    await s.client.query('RESET lock_timeout').catch(() => undefined);
  }
}

export async function migrationsTableExists(s: Session): Promise<boolean> {
  const { rowCount } = await s.client.query(
    `SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = '_prisma_migrations' AND c.relkind IN ('r', 'p')`,
    [s.target.schema],
  );
  return (rowCount ?? 0) > 0;
}

// PostGIS creates these in the target schema; Prisma does not count them as "the schema is not empty".
const IGNORABLE = ['spatial_ref_sys', 'geometry_columns', 'geography_columns', 'raster_columns', 'raster_overviews'];

/**
 * Prisma's emptiness rule for a schema without `_prisma_migrations` (spec §1.2): ordinary tables mean
 * P3005; views, enums, functions, partitioned tables, PostGIS tables and other schemas do not count.
 */
export async function assertNoUnmanagedTables(s: Session): Promise<void> {
  const { rows } = await s.client.query<{ relname: string }>(
    `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind = 'r' AND lower(c.relname) <> ALL($2::text[]) ORDER BY c.relname`,
    [s.target.schema, IGNORABLE],
  );
  if (rows.length === 0) return;
  const shown =
    rows
      .slice(0, 5)
      .map((r) => r.relname)
      .join(', ') + (rows.length > 5 ? `, … (${rows.length} tables)` : '');
  throw new RefusedError(
    `The database schema is not empty. Read more about how to baseline an existing production database: https://pris.ly/d/migrate-baseline\n\nSchema "${s.target.schema}" already has tables (${shown}) but no _prisma_migrations table, so dbops cannot tell which migrations it contains.`,
    {
      code: 'P3005',
      hint: 'Baseline it: if the schema already matches migrations up to X, run `dbops migrate resolve --applied X` for each of them (oldest first), then deploy the rest.',
    },
  );
}

export async function ensureSchema(s: Session): Promise<void> {
  const { rowCount } = await s.client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [s.target.schema]);
  if (!rowCount) await s.client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(s.target.schema)}`);
}

/** The DDL of prisma-engines `PostgresConnector::create_migrations_table`, column for column. */
export async function createMigrationsTable(s: Session): Promise<void> {
  await s.client.query(`CREATE TABLE ${s.table} (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             TIMESTAMPTZ,
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          TIMESTAMPTZ,
    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_steps_count     INTEGER NOT NULL DEFAULT 0
)`);
}

const iso = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** All rows in Prisma's order (started_at ascending); [] when the table does not exist. */
export async function loadRows(s: Session): Promise<MigrationRow[]> {
  if (!(await migrationsTableExists(s))) return [];
  const { rows } = await s.client.query<MigrationRow>(
    `SELECT id, checksum, ${iso('finished_at')} AS "finishedAt", migration_name AS "migrationName", logs,
            ${iso('rolled_back_at')} AS "rolledBackAt", ${iso('started_at')} AS "startedAt", applied_steps_count AS "appliedStepsCount"
       FROM ${s.table} ORDER BY started_at ASC`,
  );
  return rows;
}

/** The database's `_prisma_migrations` rows, read in a read-only session of its own (reviews that must not write). */
export async function readHistory(target: DbTarget, log: Logger, applicationName: string): Promise<MigrationRow[]> {
  const s = await openSession(target, log, applicationName);
  try {
    await s.client.query('SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY');
    return await loadRows(s);
  } finally {
    await s.close();
  }
}

/**
 * The row Prisma writes before running a script: new UUID v4, checksum, started_at = now, everything else
 * default. clock_timestamp() (not now()) so rows written inside one transaction still order by start. As
 * SQL text, so it can share a message with the script (Executor.applyMany).
 */
export const startedRowSql = (s: Session, id: string, name: string, sum: string): string =>
  `INSERT INTO ${s.table} (id, checksum, migration_name, started_at) VALUES (${quoteLiteral(id)}, ${quoteLiteral(sum)}, ${quoteLiteral(name)}, clock_timestamp())`;

/**
 * Success bookkeeping: applied_steps_count + 1, then finished_at (Prisma does these as two updates; one is
 * equivalent). As SQL text so it can share a message with COMMIT; the id is a UUID dbops generated.
 */
export const finishedSql = (s: Session, id: string): string =>
  `UPDATE ${s.table} SET applied_steps_count = applied_steps_count + 1, finished_at = clock_timestamp() WHERE id = ${quoteLiteral(id)}`;

/**
 * A failed row: started, never finished, logs = the error (Prisma's record_failed_step). The started row of
 * an atomic migration rolled back with it, so its start is the server's clock minus how long it ran.
 */
export async function insertFailedRow(s: Session, name: string, sum: string, ranMs: number, logs: string): Promise<void> {
  await s.client.query(
    `INSERT INTO ${s.table} (id, checksum, migration_name, started_at, logs) VALUES ($1, $2, $3, clock_timestamp() - make_interval(secs => $4::float8 / 1000), $5)`,
    [randomUUID(), sum, name, ranMs, logs],
  );
}

export async function recordLogs(s: Session, id: string, logs: string): Promise<void> {
  await s.client.query(`UPDATE ${s.table} SET logs = $2 WHERE id = $1`, [id, logs]);
}

export async function markRolledBack(s: Session, ids: string[]): Promise<void> {
  if (ids.length > 0) await s.client.query(`UPDATE ${s.table} SET rolled_back_at = clock_timestamp() WHERE id = ANY($1::varchar[])`, [ids]);
}

/** `resolve --applied`: a row with logs '' and started_at = finished_at, nothing executed (spec §5.1). */
export async function insertResolvedAppliedRow(s: Session, name: string, sum: string): Promise<void> {
  await s.client.query(
    `WITH t AS (SELECT clock_timestamp() AS ts)
     INSERT INTO ${s.table} (id, checksum, migration_name, logs, started_at, finished_at, applied_steps_count)
     SELECT $1, $2, $3, '', t.ts, t.ts, 0 FROM t`,
    [randomUUID(), sum, name],
  );
}
