import { EnvError } from '../../core/errors.ts';
import { maskLiterals } from '../../core/redact.ts';
import type { Client } from '../../infra/db/client.ts';

/**
 * What one snapshot reads from a database, as plain data: pg_stat_statements (+ pg_stat_statements_info), the
 * table and index statistics, the index definitions and the foreign keys. Comparisons (compare.ts) and the
 * index review (indexes.ts) decide from snapshots alone, so every rule is tested on snapshots built by hand.
 * Reading changes nothing: the session is read-only and reads views and the catalog.
 */

/** One pg_stat_statements entry of this database, under names that do not depend on the PostgreSQL version. */
export interface StatementStat {
  userid: number;
  queryid: string;
  /** pg_stat_statements 1.9+ (PostgreSQL 14); true before, where only top-level statements had entries of their own. */
  toplevel: boolean;
  /** Normalized: constants are `$1`, `$2` … (never the values a client sent). */
  query: string;
  calls: number;
  totalExecMs: number;
  minExecMs: number;
  maxExecMs: number;
  rows: number;
  sharedBlksHit: number;
  sharedBlksRead: number;
  tempBlksWritten: number;
  /** blk_read_time (shared_blk_read_time from PostgreSQL 17): 0 unless track_io_timing is on. */
  blkReadMs: number;
}

export interface TableStat {
  schema: string;
  name: string;
  seqScan: number;
  seqTupRead: number;
  /** null for a table with no index. */
  idxScan: number | null;
  liveTuples: number;
  bytes: number;
}

export interface IndexStat {
  schema: string;
  name: string;
  table: string;
  method: string;
  idxScan: number;
  bytes: number;
  valid: boolean;
  unique: boolean;
  primary: boolean;
  /** The constraint the index backs (primary key, unique, exclusion), else null: such an index is needed even unscanned. */
  constraint: string | null;
  /** Each key column as pg_get_indexdef prints it (a column name, or an expression); INCLUDE columns left out. */
  columns: string[];
  /** The WHERE of a partial index, else null. */
  predicate: string | null;
  definition: string;
}

export interface ForeignKeyStat {
  schema: string;
  table: string;
  name: string;
  /** The referencing columns, in the constraint's order. */
  columns: string[];
  /** `schema.table` it references. */
  references: string;
}

/** Index scans as one node (the primary or a replica) counts them: statistics are per node. */
export interface NodeUsage {
  /** `primary`, or the replica's name in policies/environments.yaml. */
  node: string;
  /** The node's clock when read. */
  at: string;
  /** pg_stat_database.stats_reset of this database on this node; null when never reset. */
  statsReset: string | null;
  /** idx_scan by `schema.index`. */
  indexScans: Record<string, number>;
}

export interface StatementsInfo {
  /** pg_stat_statements extension version (`1.10` on PostgreSQL 15). */
  version: string;
  /** pg_stat_statements_info (1.9+): entries evicted since the reset, and when the counters were last reset. */
  dealloc: number | null;
  statsReset: string | null;
  /** pg_stat_statements.max and .track as the server runs them. */
  max: number;
  track: string;
}

export interface DatabaseFacts {
  at: string;
  database: string;
  serverVersion: number;
  /** pg_control_system().system_identifier, when readable (superuser or pg_monitor): tells two clusters apart. */
  systemIdentifier: string | null;
  /** pg_stat_database.stats_reset: when the table and index counters of this database start. */
  statsReset: string | null;
  statements: StatementStat[];
  statementsInfo: StatementsInfo;
  tables: TableStat[];
  indexes: IndexStat[];
  foreignKeys: ForeignKeyStat[];
  /** Whether hypopg is installed in this database (what-if costs of suggested indexes). */
  hypopg: boolean;
}

/** Where pg_stat_statements is, or an EnvError that names the fix. */
async function statementsSchema(client: Client, database: string): Promise<string> {
  const { rows } = await client.query<{ schema: string | null; preload: string }>(
    `SELECT (SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_stat_statements') AS schema,
            current_setting('shared_preload_libraries') AS preload`,
  );
  const r = rows[0]!;
  const loaded = r.preload
    .split(',')
    .map((s) => s.trim().replace(/^"|"$/g, ''))
    .includes('pg_stat_statements');
  if (!loaded)
    throw new EnvError(`pg_stat_statements is not loaded by the server of ${database} (shared_preload_libraries = '${r.preload}').`, {
      hint: 'Add pg_stat_statements to shared_preload_libraries (policies/postgresql.yaml, `dbops settings apply`) and restart PostgreSQL, then `CREATE EXTENSION pg_stat_statements` in the database.',
    });
  if (!r.schema)
    throw new EnvError(`pg_stat_statements is loaded but not created in ${database}.`, {
      hint: `Run \`CREATE EXTENSION pg_stat_statements\` in ${database} (as its owner or a superuser).`,
    });
  return r.schema;
}

/**
 * The SELECT list over pg_stat_statements for this server's column names: PostgreSQL 13 renamed total_time to
 * total_exec_time, 14 added toplevel, 17 renamed blk_read_time to shared_blk_read_time.
 */
function statementColumns(have: Set<string>): string {
  const pick = (...names: string[]) => names.find((n) => have.has(n));
  const total = pick('total_exec_time', 'total_time');
  const min = pick('min_exec_time', 'min_time');
  const max = pick('max_exec_time', 'max_time');
  const read = pick('shared_blk_read_time', 'blk_read_time');
  if (!total || !min || !max) throw new EnvError('pg_stat_statements has neither total_exec_time nor total_time: an unknown version.');
  return [
    'userid::int8 AS userid',
    'queryid::text AS queryid',
    have.has('toplevel') ? 'toplevel' : 'true AS toplevel',
    "coalesce(query, '') AS query",
    'calls::float8 AS calls',
    `${total}::float8 AS total`,
    `${min}::float8 AS min`,
    `${max}::float8 AS max`,
    'rows::float8 AS rows',
    'shared_blks_hit::float8 AS hit',
    'shared_blks_read::float8 AS read',
    'temp_blks_written::float8 AS temp_written',
    `${read ? `${read}::float8` : '0::float8'} AS read_time`,
  ].join(', ');
}

/** The query over pg_stat_statements for a server whose view has these columns (the bench sends the same one through psql). */
export const statementsQuery = (schema: string, have: Set<string>): string =>
  `SELECT ${statementColumns(have)} FROM ${schema}.pg_stat_statements
    WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND queryid IS NOT NULL`;

/** The statements of this database (queryid not null: utility statements with track_utility off have none). */
async function readStatements(client: Client, schema: string): Promise<{ statements: StatementStat[]; info: StatementsInfo }> {
  const cols = await client.query<{ name: string }>(
    `SELECT attname AS name FROM pg_attribute WHERE attrelid = '${schema}.pg_stat_statements'::regclass AND attnum > 0`,
  );
  const have = new Set(cols.rows.map((r) => r.name));
  const { rows } = await client.query<Record<string, any>>(statementsQuery(schema, have));
  const statements = rows.map((r): StatementStat => ({
    userid: Number(r['userid']),
    queryid: r['queryid'],
    toplevel: r['toplevel'],
    query: maskLiterals(r['query']),
    calls: r['calls'],
    totalExecMs: r['total'],
    minExecMs: r['min'],
    maxExecMs: r['max'],
    rows: r['rows'],
    sharedBlksHit: r['hit'],
    sharedBlksRead: r['read'],
    tempBlksWritten: r['temp_written'],
    blkReadMs: r['read_time'],
  }));
  const head = await client.query<{ version: string; info: boolean; max: string; track: string }>(
    `SELECT extversion AS version, to_regclass('${schema}.pg_stat_statements_info') IS NOT NULL AS info,
            current_setting('pg_stat_statements.max') AS max, current_setting('pg_stat_statements.track') AS track
       FROM pg_extension WHERE extname = 'pg_stat_statements'`,
  );
  const h = head.rows[0]!;
  let dealloc: number | null = null;
  let statsReset: string | null = null;
  if (h.info) {
    const i = (await client.query<{ dealloc: string; stats_reset: Date }>(`SELECT dealloc::text, stats_reset FROM ${schema}.pg_stat_statements_info`)).rows[0];
    if (i) {
      dealloc = Number(i.dealloc);
      statsReset = i.stats_reset.toISOString();
    }
  }
  return { statements, info: { version: h.version, dealloc, statsReset, max: Number(h.max), track: h.track } };
}

const TABLES = `
SELECT schemaname AS schema, relname AS name, seq_scan::float8 AS seq_scan, seq_tup_read::float8 AS seq_tup_read,
       idx_scan::float8 AS idx_scan, n_live_tup::float8 AS live, pg_relation_size(relid)::float8 AS bytes
  FROM pg_stat_user_tables
 ORDER BY 1, 2`;

const INDEXES = `
SELECT n.nspname AS schema, ic.relname AS name, tc.relname AS "table", am.amname AS method,
       coalesce(s.idx_scan, 0)::float8 AS idx_scan, pg_relation_size(ic.oid)::float8 AS bytes,
       x.indisvalid AS valid, x.indisunique AS unique, x.indisprimary AS primary,
       (SELECT conname FROM pg_constraint c WHERE c.conindid = ic.oid AND c.contype IN ('p', 'u', 'x') LIMIT 1) AS constraint,
       ARRAY(SELECT pg_get_indexdef(ic.oid, k, true) FROM generate_series(1, x.indnkeyatts) k ORDER BY k) AS columns,
       pg_get_expr(x.indpred, x.indrelid, true) AS predicate, pg_get_indexdef(ic.oid) AS definition
  FROM pg_index x
  JOIN pg_class ic ON ic.oid = x.indexrelid
  JOIN pg_class tc ON tc.oid = x.indrelid
  JOIN pg_namespace n ON n.oid = ic.relnamespace
  JOIN pg_am am ON am.oid = ic.relam
  LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = ic.oid
 WHERE tc.relkind IN ('r', 'm', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
 ORDER BY 1, 2`;

const FOREIGN_KEYS = `
SELECT n.nspname AS schema, t.relname AS "table", c.conname AS name,
       ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum ORDER BY k.ord) AS columns,
       c.confrelid::regclass::text AS "references"
  FROM pg_constraint c
  JOIN pg_class t ON t.oid = c.conrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
 WHERE c.contype = 'f' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
 ORDER BY 1, 2, 3`;

const USAGE = `
SELECT now() AS at, (SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()) AS stats_reset,
       coalesce(json_object_agg(schemaname || '.' || indexrelname, idx_scan) FILTER (WHERE indexrelid IS NOT NULL), '{}') AS scans
  FROM pg_stat_user_indexes`;

/** The catalog queries of a snapshot, as sent (`npm run bench queries` runs the same ones in psql). */
export const SNAPSHOT_CATALOG_QUERIES = { tables: TABLES, indexes: INDEXES, foreignKeys: FOREIGN_KEYS, usage: USAGE } as const;

/**
 * dbops' own reads are not the database's workload: a superuser session stops pg_stat_statements from tracking
 * them (pg_stat_statements.track is superuser-only; any other role's reads are tracked, and show in the report).
 */
async function untracked(client: Client): Promise<void> {
  await client.query(`SET pg_stat_statements.track = 'none'`).catch(() => undefined);
}

/** Index scans as this node counts them (the primary's come with measureDatabase; replicas are read with this alone). */
export async function readUsage(client: Client, node: string): Promise<NodeUsage> {
  await untracked(client);
  const r = (await client.query<{ at: Date; stats_reset: Date | null; scans: Record<string, number | string> }>(USAGE)).rows[0]!;
  return {
    node,
    at: r.at.toISOString(),
    statsReset: r.stats_reset ? r.stats_reset.toISOString() : null,
    indexScans: Object.fromEntries(Object.entries(r.scans).map(([k, v]) => [k, Number(v)])),
  };
}

/** Everything a snapshot of the primary holds. */
export async function measureDatabase(client: Client): Promise<{ facts: DatabaseFacts; usage: NodeUsage }> {
  await untracked(client);
  await client.query(`SET default_transaction_read_only = on; SET statement_timeout = '5min'`);
  const head = (
    await client.query<{ database: string; version: number; hypopg: boolean }>(
      `SELECT current_database() AS database, current_setting('server_version_num')::int AS version,
              EXISTS (SELECT FROM pg_extension WHERE extname = 'hypopg') AS hypopg`,
    )
  ).rows[0]!;
  const schema = await statementsSchema(client, head.database);
  const systemIdentifier = await client
    .query<{ id: string }>('SELECT system_identifier::text AS id FROM pg_control_system()')
    .then((r) => r.rows[0]!.id)
    .catch(() => null);
  const { statements, info } = await readStatements(client, schema);
  const usage = await readUsage(client, 'primary');
  const tables = (await client.query<Record<string, any>>(TABLES)).rows.map((r): TableStat => ({
    schema: r['schema'],
    name: r['name'],
    seqScan: r['seq_scan'] ?? 0,
    seqTupRead: r['seq_tup_read'] ?? 0,
    idxScan: r['idx_scan'],
    liveTuples: r['live'],
    bytes: r['bytes'],
  }));
  const indexes = (await client.query<Record<string, any>>(INDEXES)).rows.map((r): IndexStat => ({
    schema: r['schema'],
    name: r['name'],
    table: r['table'],
    method: r['method'],
    idxScan: r['idx_scan'],
    bytes: r['bytes'],
    valid: r['valid'],
    unique: r['unique'],
    primary: r['primary'],
    constraint: r['constraint'],
    columns: r['columns'],
    predicate: r['predicate'],
    definition: r['definition'],
  }));
  const foreignKeys = (await client.query<ForeignKeyStat>(FOREIGN_KEYS)).rows;
  return {
    facts: {
      at: usage.at,
      database: head.database,
      serverVersion: head.version,
      systemIdentifier,
      statsReset: usage.statsReset,
      statements,
      statementsInfo: info,
      tables,
      indexes,
      foreignKeys,
      hypopg: head.hypopg,
    },
    usage,
  };
}
