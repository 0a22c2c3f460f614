import { z } from 'zod';
import { defineCommand } from '../../../cli/contract.ts';
import { connection, json, policiesOnly, reports } from '../../flags.ts';

export const PoolReportInputs = z.object({
  environment: z
    .string()
    .min(1)
    .optional()
    .describe(
      'environment of policies/environments.yaml: the admin console from pooler.admin_url_env, the server from pooler.direct_url_env (else database_url_env); not with --pgbouncer-url',
    ),
  pgbouncerUrl: z.string().min(1).optional().describe("URL of PgBouncer's admin console (database pgbouncer, a user of admin_users or stats_users)"),
  databaseUrl: connection.databaseUrl,
  ...policiesOnly,
  ...reports,
  ...json,
});
export type PoolReportInputs = z.output<typeof PoolReportInputs>;

export const spec = defineCommand({
  path: ['pool', 'report'],
  summary: "PgBouncer's pools (SHOW POOLS, STATS, CONFIG) and the server's peak sessions, with recommended pool sizes; read-only",
  description:
    "Reads PgBouncer's admin console (SHOW POOLS, SHOW STATS, SHOW DATABASES, SHOW CONFIG: clients active and waiting, server connections active and idle, the longest wait, pool sizes, reserve_pool_size, max_client_conn) and samples pg_stat_activity on the server (its sessions per database and user, at their highest over five readings 200 ms apart; max_connections and the reserved connections). A pool with clients waiting, or a wait now, is undersized: a warning naming the pool and the size that serves every client wanting a server now. The pools with their reserves must stay below max_connections minus the reserved connections, else an error (exit 1). Changes nothing.",
  examples: [
    'dbops pool report --environment production',
    'dbops pool report --pgbouncer-url "$PGBOUNCER_ADMIN_URL" --database-url "$DIRECT_DATABASE_URL" --json',
  ],
  inputs: PoolReportInputs,
  report: 'pool-report',
});
