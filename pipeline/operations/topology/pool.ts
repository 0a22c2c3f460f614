import { z } from 'zod';
import type { Logger } from '../../core/logger.ts';
import type { Finding } from '../../core/result.ts';
import { withClient, type Client } from '../../infra/db/client.ts';
import type { DbTarget } from '../../infra/db/url.ts';

// `dbops pool report`: PgBouncer's admin console (SHOW POOLS, SHOW STATS, SHOW CONFIG, SHOW DATABASES) and
// the peaks of pg_stat_activity on the server, then pool sizes recommended within the server's budget.

const PoolRow = z.object({
  database: z.string(),
  user: z.string(),
  mode: z.string(),
  clActive: z.number(),
  clWaiting: z.number(),
  svActive: z.number(),
  svIdle: z.number(),
  svUsed: z.number(),
  /** Longest current client wait, in ms (maxwait + maxwait_us). */
  maxWaitMs: z.number(),
  /** SHOW STATS avg_wait_time of the database, in ms. */
  avgWaitMs: z.number().nullable(),
  /** pool_size of SHOW DATABASES, else default_pool_size. */
  size: z.number(),
  /** Server sessions of this database and user in pg_stat_activity, highest of the samples. */
  serverPeak: z.number(),
  undersized: z.boolean(),
  suggested: z.number(),
});
export type PoolRow = z.output<typeof PoolRow>;

export const PoolReportData = z.object({
  pgbouncer: z.string(),
  database: z.string(),
  config: z.object({ poolMode: z.string(), defaultPoolSize: z.number(), reservePoolSize: z.number(), maxClientConn: z.number(), maxDbConnections: z.number() }),
  server: z.object({
    maxConnections: z.number(),
    /** superuser_reserved_connections + reserved_connections. */
    reserved: z.number(),
    /** max_connections − reserved: what the pools (plus their reserves) must stay below. */
    budget: z.number(),
    /** Client sessions in pg_stat_activity, highest of the samples. */
    peakSessions: z.number(),
    samples: z.number(),
  }),
  pools: z.array(PoolRow),
  /** Sum over the pools of suggested size + reserve_pool_size. */
  total: z.number(),
  withinBudget: z.boolean(),
});
export type PoolReportData = z.output<typeof PoolReportData>;

export const POOL_REPORT_DATA = { 'pool-report': PoolReportData } as const;

/** What the admin console and the server said, before any judgement. */
export interface PoolFacts {
  pgbouncer: string;
  database: string;
  config: Record<string, string>;
  pools: Array<Record<string, unknown>>;
  stats: Array<Record<string, unknown>>;
  databases: Array<Record<string, unknown>>;
  server: { maxConnections: number; reserved: number };
  /** `database/user` → highest count of client sessions seen. */
  activity: Record<string, number>;
  peakSessions: number;
  samples: number;
}

const num = (v: unknown, fallback = 0): number => {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : fallback;
};
const str = (v: unknown) => (v === null || v === undefined ? '' : String(v));

/** The pure recommendation: an undersized pool has clients waiting (or a wait now); the pools plus their reserves stay below the budget. */
export function recommendPools(f: PoolFacts): { data: PoolReportData; findings: Finding[] } {
  const defaultPoolSize = num(f.config['default_pool_size'], 20);
  const reservePoolSize = num(f.config['reserve_pool_size'], 0);
  const budget = Math.max(0, f.server.maxConnections - f.server.reserved);
  const sizeOf = (database: string) => {
    const d = f.databases.find((r) => str(r['name']) === database);
    const size = d ? num(d['pool_size'], -1) : -1;
    return size > 0 ? size : defaultPoolSize;
  };
  const pools: PoolRow[] = f.pools
    .filter((p) => str(p['database']) !== 'pgbouncer')
    .map((p) => {
      const database = str(p['database']);
      const user = str(p['user']);
      const clActive = num(p['cl_active']);
      const clWaiting = num(p['cl_waiting']);
      const svActive = num(p['sv_active']);
      const maxWaitMs = num(p['maxwait']) * 1000 + Math.round(num(p['maxwait_us']) / 1000);
      const stat = f.stats.find((s) => str(s['database']) === database);
      const size = sizeOf(database);
      const undersized = clWaiting > 0 || maxWaitMs > 0;
      // Enough servers for every client that wants one now (active + waiting), never less than today.
      const suggested = undersized ? Math.max(size + 1, svActive + clWaiting) : size;
      return {
        database,
        user,
        mode: str(p['pool_mode']) || str(f.config['pool_mode']),
        clActive,
        clWaiting,
        svActive,
        svIdle: num(p['sv_idle']),
        svUsed: num(p['sv_used']),
        maxWaitMs,
        avgWaitMs: stat ? Math.round(num(stat['avg_wait_time']) / 1000) : null,
        size,
        serverPeak: f.activity[`${database}/${user}`] ?? 0,
        undersized,
        suggested,
      };
    })
    .sort((a, b) => a.database.localeCompare(b.database) || a.user.localeCompare(b.user));
  const total = pools.reduce((n, p) => n + p.suggested + reservePoolSize, 0);
  const withinBudget = total < budget;
  const findings: Finding[] = pools
    .filter((p) => p.undersized)
    .map((p) => ({
      rule: 'pool/undersized',
      severity: 'warning',
      message: `pool ${p.database}/${p.user} is undersized: ${p.clWaiting} client(s) waiting, longest wait ${p.maxWaitMs} ms, ${p.svActive} of ${p.size} server connection(s) busy; suggested pool_size ${p.suggested}`,
      help: `Set pool_size=${p.suggested} on ${p.database} in [databases] of pgbouncer.ini (or default_pool_size), then RELOAD on the admin console.`,
    }));
  if (!withinBudget) {
    findings.push({
      rule: 'pool/over-budget',
      severity: 'error',
      message: `the pools with their reserves need ${total} server connection(s), not below max_connections ${f.server.maxConnections} minus ${f.server.reserved} reserved = ${budget}`,
      help: 'Lower pool sizes (or reserve_pool_size), or raise max_connections on the server (a restart).',
    });
  }
  return {
    data: {
      pgbouncer: f.pgbouncer,
      database: f.database,
      config: {
        poolMode: str(f.config['pool_mode']),
        defaultPoolSize,
        reservePoolSize,
        maxClientConn: num(f.config['max_client_conn']),
        maxDbConnections: num(f.config['max_db_connections']),
      },
      server: { maxConnections: f.server.maxConnections, reserved: f.server.reserved, budget, peakSessions: f.peakSessions, samples: f.samples },
      pools,
      total,
      withinBudget,
    },
    findings,
  };
}

/** The admin console speaks only the simple query protocol: no parameters. */
const show = async (c: Client, what: string) => (await c.query(`SHOW ${what}`)).rows as Array<Record<string, unknown>>;

/** Reads the admin console and samples pg_stat_activity (`samples` readings, `intervalMs` apart). */
export async function readPoolFacts(input: { admin: DbTarget; server: DbTarget; samples?: number; intervalMs?: number }, log: Logger): Promise<PoolFacts> {
  const samples = Math.max(1, input.samples ?? 5);
  const intervalMs = input.intervalMs ?? 200;
  const console = await withClient(input.admin, { log, applicationName: 'dbops pool report' }, async (c) => ({
    pools: await show(c, 'POOLS'),
    stats: await show(c, 'STATS'),
    databases: await show(c, 'DATABASES'),
    config: Object.fromEntries((await show(c, 'CONFIG')).map((r) => [str(r['key']), str(r['value'])])),
  }));
  return withClient(input.server, { log, applicationName: 'dbops pool report' }, async (c) => {
    const { rows } = await c.query<{ max: number; reserved: number }>(
      `SELECT current_setting('max_connections')::int AS max,
              current_setting('superuser_reserved_connections')::int + coalesce(current_setting('reserved_connections', true)::int, 0) AS reserved`,
    );
    const activity: Record<string, number> = {};
    let peakSessions = 0;
    for (let i = 0; i < samples; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, intervalMs));
      const now = await c.query<{ datname: string; usename: string; n: number }>(
        `SELECT datname, usename, count(*)::int AS n FROM pg_stat_activity
          WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() GROUP BY 1, 2`,
      );
      let total = 0;
      for (const r of now.rows) {
        const key = `${r.datname}/${r.usename}`;
        activity[key] = Math.max(activity[key] ?? 0, r.n);
        total += r.n;
      }
      peakSessions = Math.max(peakSessions, total);
    }
    return {
      pgbouncer: input.admin.display,
      database: input.server.display,
      ...console,
      server: { maxConnections: rows[0]!.max, reserved: rows[0]!.reserved },
      activity,
      peakSessions,
      samples,
    };
  });
}
