import type { Client } from '../../infra/db/client.ts';
import { isPgError } from '../../infra/db/client.ts';

/**
 * What `maintain plan` measures, as plain data: the planner (plan.ts) decides from it alone, so every rule is
 * tested on facts built by hand. Reading them changes nothing: the session is read-only and only reads
 * statistics, the catalog and pgstattuple's functions (which take ACCESS SHARE and write nothing).
 */
export interface MaintenanceFacts {
  /** The server's clock when measured (ISO 8601): ages are computed against it, not against this machine's. */
  at: string;
  database: string;
  serverVersion: number;
  blockSize: number;
  /** Whether the pgstattuple extension is installed in this database (exact table and index measures). */
  pgstattuple: boolean;
  tables: TableFacts[];
  indexes: IndexFacts[];
  /** Transactions of this database open now (any age; the planner applies the threshold). */
  transactions: OpenTransaction[];
  /** CREATE INDEX / REINDEX running now: their `_ccnew` copies are work in progress, not leftovers. */
  buildsInProgress: Array<{ pid: number; schema: string; table: string; command: string }>;
}

export interface TableFacts {
  schema: string;
  name: string;
  /** pg_stat_user_tables counters. */
  liveTuples: number;
  deadTuples: number;
  modifiedSinceAnalyze: number;
  lastVacuum: string | null;
  lastAutovacuum: string | null;
  lastAnalyze: string | null;
  lastAutoanalyze: string | null;
  /** pg_relation_size: the heap alone. */
  heapBytes: number;
  /** pg_total_relation_size: heap, TOAST and indexes. */
  totalBytes: number;
  /** pg_class.reltuples: the live rows as the last VACUUM or ANALYZE counted them; null when neither ran. */
  estimatedRows: number | null;
  /** age(relfrozenxid), the larger of the table's and its TOAST table's. */
  xidAge: number;
  /** mxid_age(relminmxid), the larger of the table's and its TOAST table's: multixacts wrap around as xids do. */
  multixactAge: number;
  /**
   * pg_class.relallvisible over the heap's pages now: how much of the table the visibility map marks all-visible
   * (as of the last VACUUM, ANALYZE or CREATE INDEX; writes since have cleared bits it still counts).
   */
  allVisibleShare: number;
  /** pgstattuple_approx, when installed, the visibility map current enough (APPROX_*) and the table could be read. */
  exact: { liveTuples: number; deadTuples: number; deadBytes: number; freeBytes: number; scannedPercent: number } | null;
  /** Why pgstattuple_approx did not read the table although pgstattuple is installed; null when it did (or is not installed). */
  notRead: string | null;
}

/**
 * pgstattuple_approx reads exactly every page the visibility map does not mark all-visible, so on a table that
 * has not been vacuumed since most of it was written it is a full scan, as slow as the VACUUM it is meant to
 * plan, and the read prunes pages as it goes (work VACUUM would do). Such a table is judged by its statistics
 * counters; a small heap is read whatever its map says (a few ms).
 */
export const APPROX_MIN_ALL_VISIBLE = 0.5;
export const APPROX_ALWAYS_BELOW_BYTES = 8 * 1024 * 1024;

export interface IndexFacts {
  schema: string;
  name: string;
  table: string;
  method: string;
  valid: boolean;
  /** indisready: an invalid but ready index is still updated by every write. */
  ready: boolean;
  unique: boolean;
  bytes: number;
  /** Btree fillfactor (reloptions, else 90). */
  fillfactor: number;
  /** pgstatindex, for valid btrees of at least the measured size when pgstattuple is installed. */
  exact: { leafPages: number; internalPages: number; emptyPages: number; deletedPages: number; avgLeafDensity: number } | null;
  /** Summed average width of the index's columns (fixed lengths, else pg_stats); null when a width is unknown (never analyzed). */
  keyWidth: number | null;
}

export interface OpenTransaction {
  pid: number;
  user: string | null;
  application: string;
  state: string | null;
  xactStart: string;
  query: string;
}

const TABLES = `
SELECT s.schemaname AS schema, s.relname AS name, s.n_live_tup::float8 AS live, s.n_dead_tup::float8 AS dead,
       s.n_mod_since_analyze::float8 AS modified,
       s.last_vacuum, s.last_autovacuum, s.last_analyze, s.last_autoanalyze,
       pg_relation_size(c.oid)::float8 AS heap_bytes, pg_total_relation_size(c.oid)::float8 AS total_bytes,
       nullif(c.reltuples, -1)::float8 AS estimated_rows,
       greatest(age(c.relfrozenxid), coalesce(age(t.relfrozenxid), 0))::float8 AS xid_age,
       greatest(mxid_age(c.relminmxid), coalesce(mxid_age(t.relminmxid), 0))::float8 AS multixact_age,
       c.relallvisible::float8 AS all_visible_pages, c.oid::int8 AS oid
  FROM pg_stat_user_tables s
  JOIN pg_class c ON c.oid = s.relid
  LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
 WHERE c.relkind IN ('r', 'm')
 ORDER BY 1, 2`;

// Fillfactor and the key width for the estimate; index attributes carry their column's name, so pg_stats of the
// table (plain columns) or of the index itself (expressions) give the average width of a variable-length key.
const INDEXES = `
SELECT n.nspname AS schema, ic.relname AS name, tc.relname AS "table", am.amname AS method,
       x.indisvalid AS valid, x.indisready AS ready, x.indisunique AS unique,
       pg_relation_size(ic.oid)::float8 AS bytes, ic.oid::int8 AS oid,
       coalesce((SELECT substring(o FROM '^fillfactor=(\\d+)$')::int FROM unnest(ic.reloptions) o WHERE o LIKE 'fillfactor=%'), 90) AS fillfactor,
       (SELECT CASE WHEN bool_and(a.attlen > 0 OR ts.avg_width IS NOT NULL OR xs.avg_width IS NOT NULL)
                    THEN sum(CASE WHEN a.attlen > 0 THEN a.attlen ELSE coalesce(ts.avg_width, xs.avg_width) END) END
          FROM pg_attribute a
          LEFT JOIN pg_stats ts ON ts.schemaname = n.nspname AND ts.tablename = tc.relname AND ts.attname = a.attname AND NOT ts.inherited
          LEFT JOIN pg_stats xs ON xs.schemaname = n.nspname AND xs.tablename = ic.relname AND xs.attname = a.attname AND NOT xs.inherited
         WHERE a.attrelid = ic.oid AND a.attnum > 0)::float8 AS key_width
  FROM pg_index x
  JOIN pg_class ic ON ic.oid = x.indexrelid
  JOIN pg_class tc ON tc.oid = x.indrelid
  JOIN pg_namespace n ON n.oid = ic.relnamespace
  JOIN pg_am am ON am.oid = ic.relam
 WHERE tc.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
 ORDER BY 1, 2`;

const TRANSACTIONS = `
SELECT pid, usename AS "user", coalesce(application_name, '') AS application, state, xact_start, left(coalesce(query, ''), 200) AS query
  FROM pg_stat_activity
 WHERE datname = current_database() AND xact_start IS NOT NULL AND pid <> pg_backend_pid() AND backend_type = 'client backend'
 ORDER BY xact_start, pid`;

const BUILDS = `
SELECT p.pid, n.nspname AS schema, c.relname AS "table", p.command
  FROM pg_stat_progress_create_index p
  JOIN pg_class c ON c.oid = p.relid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE p.datname = current_database()`;

/** The catalog queries a survey runs, as they are sent (`npm run bench maintenance` runs the same ones in psql). */
export const MAINTENANCE_CATALOG_QUERIES = { tables: TABLES, indexes: INDEXES, transactions: TRANSACTIONS, builds: BUILDS } as const;

/** Transactions of this database open now, oldest first (`maintain run` reads them again before each rebuild). */
export async function openTransactions(client: Client): Promise<OpenTransaction[]> {
  return (await client.query<Record<string, any>>(TRANSACTIONS)).rows.map((r) => ({
    pid: r['pid'] as number,
    user: r['user'] as string | null,
    application: r['application'] as string,
    state: r['state'] as string | null,
    xactStart: (r['xact_start'] as Date).toISOString(),
    query: r['query'] as string,
  }));
}

const iso = (v: Date | null): string | null => (v ? v.toISOString() : null);

/** A relation that could not be read now (locked by a migration, dropped meanwhile) is measured by statistics instead. */
const unmeasurable = (e: unknown): boolean => isPgError(e) && ['55P03', '42P01', '57014', '42501'].includes(e.code ?? '');

/** How much of a database is read with pgstattuple's functions (the catalog and statistics are always read whole). */
export interface MeasureOptions {
  /** Btrees below this size are not read with pgstatindex (they are too small to be rebuilt anyway). */
  measureIndexesFrom: number;
  /**
   * Only these tables (`schema.name`) and their indexes get exact measures; the others are judged by their
   * statistics. `maintain run` re-measures after VACUUM only the tables whose indexes it plans to rebuild.
   */
  exactTables?: ReadonlySet<string> | undefined;
}

/** Measures what the planner needs from one database. */
export async function measureMaintenance(client: Client, options: MeasureOptions): Promise<MaintenanceFacts> {
  const wanted = (schema: string, table: string) => !options.exactTables || options.exactTables.has(`${schema}.${table}`);
  // Nothing here may write, whatever a future edit adds; and a relation held by a migration is skipped, not waited for.
  await client.query(`SET default_transaction_read_only = on; SET lock_timeout = '2s'; SET statement_timeout = '5min'`);
  const head = await client.query<{ at: Date; database: string; version: number; block_size: number; pgstattuple: string | null }>(
    `SELECT now() AS at, current_database() AS database, current_setting('server_version_num')::int AS version,
            current_setting('block_size')::int AS block_size,
            (SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pgstattuple') AS pgstattuple`,
  );
  const h = head.rows[0]!;
  // regnamespace::text is already quoted where needed: the functions are called schema-qualified, whatever search_path is.
  const ext = h.pgstattuple;

  const tableRows = await client.query<Record<string, any>>(TABLES);
  const tables: TableFacts[] = [];
  for (const r of tableRows.rows) {
    let exact: TableFacts['exact'] = null;
    // relpages is as stale as relallvisible: the pages now come from the heap's size.
    const pages = Math.max(1, Math.ceil(r['heap_bytes'] / h.block_size));
    const allVisibleShare = Math.min(1, r['all_visible_pages'] / pages);
    let notRead: string | null = null;
    if (ext && !wanted(r['schema'], r['name'])) notRead = 'not re-measured (no index of it to rebuild)';
    else if (ext && r['heap_bytes'] >= APPROX_ALWAYS_BELOW_BYTES && allVisibleShare < APPROX_MIN_ALL_VISIBLE)
      notRead = `the visibility map marks ${Math.round(allVisibleShare * 100)} % of the heap all-visible: pgstattuple_approx would read nearly all of it`;
    else if (ext) {
      try {
        const { rows } = await client.query<Record<string, number>>(
          `SELECT approx_tuple_count::float8 AS live, dead_tuple_count::float8 AS dead, dead_tuple_len::float8 AS dead_bytes,
                  approx_free_space::float8 AS free_bytes, scanned_percent::float8 AS scanned
             FROM ${ext}.pgstattuple_approx($1::oid)`,
          [r['oid']],
        );
        const m = rows[0]!;
        exact = { liveTuples: m['live']!, deadTuples: m['dead']!, deadBytes: m['dead_bytes']!, freeBytes: m['free_bytes']!, scannedPercent: m['scanned']! };
      } catch (e) {
        if (!unmeasurable(e)) throw e;
        notRead = `pgstattuple_approx could not read it (${(e as Error).message})`;
      }
    }
    tables.push({
      schema: r['schema'],
      name: r['name'],
      liveTuples: r['live'],
      deadTuples: r['dead'],
      modifiedSinceAnalyze: r['modified'],
      lastVacuum: iso(r['last_vacuum']),
      lastAutovacuum: iso(r['last_autovacuum']),
      lastAnalyze: iso(r['last_analyze']),
      lastAutoanalyze: iso(r['last_autoanalyze']),
      heapBytes: r['heap_bytes'],
      totalBytes: r['total_bytes'],
      estimatedRows: r['estimated_rows'],
      xidAge: r['xid_age'],
      multixactAge: r['multixact_age'],
      allVisibleShare,
      exact,
      notRead,
    });
  }

  const indexRows = await client.query<Record<string, any>>(INDEXES);
  const indexes: IndexFacts[] = [];
  for (const r of indexRows.rows) {
    let exact: IndexFacts['exact'] = null;
    if (ext && r['method'] === 'btree' && r['valid'] && r['bytes'] >= options.measureIndexesFrom && wanted(r['schema'], r['table'])) {
      try {
        const { rows } = await client.query<Record<string, number>>(
          `SELECT leaf_pages::float8 AS leaf, internal_pages::float8 AS internal, empty_pages::float8 AS empty,
                  deleted_pages::float8 AS deleted, avg_leaf_density::float8 AS density
             FROM ${ext}.pgstatindex($1::regclass)`,
          [r['oid']],
        );
        const m = rows[0]!;
        exact = { leafPages: m['leaf']!, internalPages: m['internal']!, emptyPages: m['empty']!, deletedPages: m['deleted']!, avgLeafDensity: m['density']! };
      } catch (e) {
        if (!unmeasurable(e)) throw e;
      }
    }
    indexes.push({
      schema: r['schema'],
      name: r['name'],
      table: r['table'],
      method: r['method'],
      valid: r['valid'],
      ready: r['ready'],
      unique: r['unique'],
      bytes: r['bytes'],
      fillfactor: r['fillfactor'],
      exact,
      keyWidth: r['key_width'],
    });
  }

  const transactions = await openTransactions(client);
  const buildsInProgress = (await client.query<{ pid: number; schema: string; table: string; command: string }>(BUILDS)).rows;

  return {
    at: h.at.toISOString(),
    database: h.database,
    serverVersion: h.version,
    blockSize: h.block_size,
    pgstattuple: ext !== null,
    tables,
    indexes,
    transactions,
    buildsInProgress,
  };
}
