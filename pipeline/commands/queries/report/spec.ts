import { z } from 'zod';
import { databaseFlags } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

export const QueriesReportInputs = z.object({
  ...databaseFlags('whose replicas count in index usage and beside whose evidence bundles the snapshots are kept (their history across CI runs)'),
  sinceDeploy: z.coerce
    .number()
    .int()
    .positive()
    .optional()
    .describe(
      'compare with the snapshot `dbops deploy` took before deploy SEQ (its evidence sequence) and seal a query-review bundle naming it; needs --environment',
    ),
  notify: z.boolean().default(false).describe('post to the webhook of notifications.webhook_env when statements regressed or became slow'),
});
export type QueriesReportInputs = z.output<typeof QueriesReportInputs>;

export const spec = defineCommand({
  path: ['queries', 'report'],
  summary: 'snapshot, then compare with the previous snapshot: slow statements, regressions, new statements, index usage over primary and replicas',
  description:
    "Takes a snapshot (as `dbops queries snapshot`) and compares it with the previous one of the database (with --environment the history beside its evidence bundles, else snapshots.dir), by policies/queries.yaml: statements whose mean over the interval (Δtotal_exec_time / Δcalls) reaches slow.mean (500ms), the top ones by total time, regressions (interval mean ≥ regression.ratio × the mean before and + regression.min_increase, with regression.min_calls calls on both sides), and statements new in the interval. A pg_stat_statements reset or eviction (stats_reset, dealloc) between the snapshots is a counter break, named, never a regression. Index usage: unused indexes (no scan on the primary nor on any replica of policies/environments.yaml over indexes.unused_window; unique, primary-key, constraint and invalid indexes excluded; a replica that cannot be read leaves them unjudged), duplicate and overlapping indexes, foreign keys without an index (with the what-if plan cost of the index by hypopg when it is installed), and large tables read mostly by sequential scans; each with the statement that acts on it. --since-deploy SEQ compares with the snapshot taken before deploy SEQ and appends a query-review bundle to the environment's evidence chain. Writes reports/queries-report.json (`dbops report` renders it for the job summary). Exit 0 whatever it finds (findings are warnings); 3 when pg_stat_statements is missing (with the fix) or a database or the evidence storage cannot be reached; 1 when --since-deploy names no deploy with a snapshot.",
  examples: [
    'dbops queries report',
    'dbops queries report --environment production --notify',
    'dbops queries report --environment production --since-deploy 42',
    'dbops queries report --database-url "$STAGING_DATABASE_URL" --json',
  ],
  inputs: QueriesReportInputs,
  report: 'queries-report',
});
