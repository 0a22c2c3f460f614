import type { Client } from '../../infra/db/client.ts';
import { serverSource } from '../audit/index.ts';

/**
 * What one pass reads from the server, in one session and a handful of catalog queries (pg_monitor is
 * enough): the raw numbers the checks judge. Nothing here decides anything.
 */
export interface DatabaseFacts {
  database: string;
  inRecovery: boolean;
  connections: { clients: number; max: number; reserved: number };
  /** Oldest transaction-ID and multixact age over the databases, and which database. */
  wraparound: { xidAge: number; mxidAge: number; database: string };
  /** Longest idle-in-transaction, running statement and lock wait, in seconds (0 when none), with the session's pid. */
  idleInTransaction: { seconds: number; pid: number | null; user: string | null };
  longestQuery: { seconds: number; pid: number | null; user: string | null };
  longestBlocked: { seconds: number; pid: number | null; blockedBy: number[] };
  /** Streaming replicas as pg_stat_replication names them, with their replay lag in WAL bytes. */
  replicas: Array<{ name: string; state: string; lagBytes: number | null }>;
  /** Inactive replication slots and the WAL each retains. */
  inactiveSlots: Array<{ name: string; retainedBytes: number | null }>;
  checksums: { enabled: boolean; failures: number; lastFailure: string | null };
  sizes: { databaseBytes: number; walBytes: number | null };
  /** data_directory, when this role may read it (pg_read_all_settings). */
  dataDirectory: string | null;
  archiver: { archived: number; failed: number; lastArchivedAt: string | null; lastFailedAt: string | null; lastFailedWal: string | null };
  /**
   * Committed + rolled-back transactions of this database (a counter) and its sessions running a statement. Not the
   * server's sum: a database dropped meanwhile (a rehearsal clone) would make that counter go back.
   */
  load: { xacts: number; activeSessions: number };
}

const num = (v: unknown): number => Number(v ?? 0);

/** The SQL of one pass, in the order databaseFacts runs it (the benchmark replays them in one psql session). */
export const MONITOR_QUERIES = {
  base: `
    SELECT current_database() AS db, pg_is_in_recovery() AS rec,
           current_setting('max_connections') AS max,
           current_setting('superuser_reserved_connections')::int
             + coalesce(current_setting('reserved_connections', true)::int, 0) AS reserved,
           current_setting('data_checksums') AS checksums,
           current_setting('data_directory', true) AS dir`,
  sessions: `
    WITH s AS (SELECT * FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = 'client backend')
    SELECT (SELECT count(*) FROM s) AS clients,
           (SELECT count(*) FROM s WHERE state = 'active' AND datname = current_database()) AS active,
           (SELECT extract(epoch FROM now() - state_change) FROM s WHERE state LIKE 'idle in transaction%' ORDER BY state_change LIMIT 1) AS idle_s,
           (SELECT pid FROM s WHERE state LIKE 'idle in transaction%' ORDER BY state_change LIMIT 1) AS idle_pid,
           (SELECT usename FROM s WHERE state LIKE 'idle in transaction%' ORDER BY state_change LIMIT 1) AS idle_user,
           (SELECT extract(epoch FROM now() - query_start) FROM s WHERE state = 'active' ORDER BY query_start LIMIT 1) AS query_s,
           (SELECT pid FROM s WHERE state = 'active' ORDER BY query_start LIMIT 1) AS query_pid,
           (SELECT usename FROM s WHERE state = 'active' ORDER BY query_start LIMIT 1) AS query_user,
           (SELECT extract(epoch FROM now() - coalesce(state_change, query_start)) FROM s WHERE cardinality(pg_blocking_pids(pid)) > 0 ORDER BY coalesce(state_change, query_start) LIMIT 1) AS blocked_s,
           (SELECT pid FROM s WHERE cardinality(pg_blocking_pids(pid)) > 0 ORDER BY coalesce(state_change, query_start) LIMIT 1) AS blocked_pid`,
  wraparound: `
    SELECT age(datfrozenxid) AS xid, mxid_age(datminmxid) AS mxid, datname FROM pg_database WHERE datallowconn ORDER BY greatest(age(datfrozenxid), mxid_age(datminmxid)) DESC LIMIT 1`,
  replicas: `SELECT application_name AS name, state, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::text AS lag FROM pg_stat_replication ORDER BY 1`,
  slots: `SELECT slot_name AS name, CASE WHEN pg_is_in_recovery() OR restart_lsn IS NULL THEN NULL ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::text END AS retained
         FROM pg_replication_slots WHERE NOT active ORDER BY 1`,
  stats: `
    SELECT (SELECT sum(checksum_failures) FROM pg_stat_database) AS failures,
           (SELECT max(checksum_last_failure) FROM pg_stat_database) AS last,
           pg_database_size(current_database())::text AS size,
           (SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database())::text AS xacts`,
  wal: `SELECT coalesce(sum(size), 0)::text AS bytes FROM pg_ls_waldir()`,
  archiver: `SELECT archived_count AS archived, failed_count AS failed, last_archived_time AS la, last_failed_time AS lf, last_failed_wal AS lfw FROM pg_stat_archiver`,
} as const;

export async function databaseFacts(client: Client): Promise<DatabaseFacts> {
  const one = async <R extends Record<string, unknown>>(sql: string): Promise<R> => (await client.query<R>(sql)).rows[0]!;
  const base = await one<{ db: string; rec: boolean; max: string; reserved: string; checksums: string; dir: string | null }>(MONITOR_QUERIES.base);
  const sessions = await one<Record<string, unknown>>(MONITOR_QUERIES.sessions);
  const blockedPid = sessions['blocked_pid'] === null ? null : num(sessions['blocked_pid']);
  const blockedBy = blockedPid === null ? [] : (await client.query<{ b: number[] }>('SELECT pg_blocking_pids($1) AS b', [blockedPid])).rows[0]!.b.map(Number);
  const wrap = await one<{ xid: string; mxid: string; datname: string }>(MONITOR_QUERIES.wraparound);
  const replicas = base.rec
    ? []
    : (await client.query<{ name: string; state: string; lag: string | null }>(MONITOR_QUERIES.replicas)).rows.map((r) => ({
        name: r.name,
        state: r.state,
        lagBytes: r.lag === null ? null : Number(r.lag),
      }));
  const slots = (await client.query<{ name: string; retained: string | null }>(MONITOR_QUERIES.slots)).rows.map((r) => ({
    name: r.name,
    retainedBytes: r.retained === null ? null : Number(r.retained),
  }));
  const stats = await one<{ failures: string | null; last: Date | null; size: string; xacts: string }>(MONITOR_QUERIES.stats);
  // pg_ls_waldir() needs pg_monitor; without it the WAL size is unknown rather than an error.
  const wal = await client
    .query<{ bytes: string }>(MONITOR_QUERIES.wal)
    .then((r) => Number(r.rows[0]!.bytes))
    .catch(() => null);
  const archiver = await one<{ archived: string; failed: string; la: Date | null; lf: Date | null; lfw: string | null }>(MONITOR_QUERIES.archiver);
  const iso = (d: Date | null) => (d ? d.toISOString() : null);
  return {
    database: base.db,
    inRecovery: base.rec,
    connections: { clients: num(sessions['clients']), max: num(base.max), reserved: num(base.reserved) },
    wraparound: { xidAge: num(wrap.xid), mxidAge: num(wrap.mxid), database: wrap.datname },
    idleInTransaction: {
      seconds: num(sessions['idle_s']),
      pid: sessions['idle_pid'] === null ? null : num(sessions['idle_pid']),
      user: (sessions['idle_user'] as string | null) ?? null,
    },
    longestQuery: {
      seconds: num(sessions['query_s']),
      pid: sessions['query_pid'] === null ? null : num(sessions['query_pid']),
      user: (sessions['query_user'] as string | null) ?? null,
    },
    longestBlocked: { seconds: num(sessions['blocked_s']), pid: blockedPid, blockedBy },
    replicas,
    inactiveSlots: slots,
    checksums: { enabled: base.checksums === 'on', failures: num(stats.failures), lastFailure: iso(stats.last) },
    sizes: { databaseBytes: num(stats.size), walBytes: wal },
    dataDirectory: base.dir,
    archiver: {
      archived: num(archiver.archived),
      failed: num(archiver.failed),
      lastArchivedAt: iso(archiver.la),
      lastFailedAt: iso(archiver.lf),
      lastFailedWal: archiver.lfw,
    },
    load: { xacts: num(stats.xacts), activeSessions: num(sessions['active']) },
  };
}

const CORRUPT_PAGE = /invalid page in block (\d+) of relation ((?:base|global|pg_tblspc)\/[0-9/]+)/g;

/**
 * The relations the server log names in its checksum errors ("invalid page in block 0 of relation
 * base/16384/16397"), newest first, as names: pg_stat_database counts failures per database only. Reads the
 * tail of the newest log files through the server (pg_monitor and pg_read_server_files); an empty list when
 * it may not or the log says nothing.
 */
export async function corruptRelations(client: Client): Promise<string[]> {
  try {
    // The audit collector's reader of the server log through SQL; the newest files sort last by name.
    const log = await serverSource(client);
    const paths = new Map<string, number>();
    for (const f of (await log.list(/./)).slice(-3)) {
      const from = Math.max(0, f.size - 1024 * 1024);
      for (const m of (await log.read(f.name, from, f.size - from)).toString('utf8').matchAll(CORRUPT_PAGE)) paths.set(m[2]!, Number(m[1]));
    }
    const names: string[] = [];
    for (const [path, block] of paths) {
      const parts = path.split('/');
      const filenode = Number(parts.at(-1));
      const tablespace = parts[0] === 'pg_tblspc' ? Number(parts[1]) : 0;
      const dboid = parts[0] === 'base' ? Number(parts[1]) : null;
      const { rows: found } = await client.query<{ rel: string | null; here: boolean }>(
        `SELECT pg_filenode_relation($1, $2)::text AS rel, $3::oid IS NULL OR $3::oid = (SELECT oid FROM pg_database WHERE datname = current_database()) AS here`,
        [tablespace, filenode, dboid],
      );
      const rel = found[0]?.here ? found[0].rel : null;
      names.push(`${rel ?? path} (block ${block})`);
    }
    return names;
  } catch {
    return [];
  }
}
