import { z } from 'zod';
import { Duration } from './duration.ts';
import { Size } from './size.ts';

const Ratio = z.number().min(0).max(1);

export const QueriesPolicy = z
  .strictObject({
    version: z.literal(1).describe('Policy file format version.'),
    slow: z
      .strictObject({
        mean: Duration.default('500ms').describe(
          "A statement is slow when its mean execution time over the interval between two snapshots (Δtotal_exec_time / Δcalls) is at least this: the strategy's 500 ms.",
        ),
        min_calls: z.number().int().min(1).default(1).describe('… and it ran at least this many times in the interval.'),
      })
      .prefault({})
      .describe('Slow statements.'),
    regression: z
      .strictObject({
        ratio: z.number().min(1).default(2).describe('A statement regressed when its mean over the interval is at least this many times its mean before …'),
        min_increase: Duration.default('50ms').describe('… and at least this much longer (a 0.1 ms statement doubling is not a regression) …'),
        min_calls: z.number().int().min(1).default(20).describe('… and it ran at least this many times in each of the two intervals compared.'),
      })
      .prefault({})
      .describe('Regressions: the mean of the newest interval against the mean of the interval before it (or before the deploy).'),
    top: z.number().int().min(1).max(1000).default(10).describe('How many statements the report lists by total time in the interval.'),
    indexes: z
      .strictObject({
        unused_window: Duration.default('30d').describe(
          'An index is unused when it was not scanned on the primary nor on any replica of policies/environments.yaml for this long: the statistics of every node must cover the window (stats_reset older than it, or a snapshot that old), otherwise the index is "not judged yet".',
        ),
        unused_min_size: Size.default('1MB').describe('Unused indexes smaller than this are not reported (PgHero: 1 MB).'),
        seq_scan_min_size: Size.default('10MB').describe('A table is "read mostly by sequential scans" only from this size …'),
        seq_scan_ratio: Ratio.default(0.5).describe(
          '… when sequential scans are at least this share of its scans (seq_scan / (seq_scan + idx_scan)) over the interval …',
        ),
        seq_scan_min_rows: z
          .number()
          .int()
          .min(0)
          .default(100_000)
          .describe('… and they read at least this many rows in the interval (seq_tup_read), so a table read once by a report is left alone.'),
      })
      .prefault({})
      .describe('Index usage: unused, duplicate and overlapping indexes, foreign keys without an index, tables read mostly by sequential scans.'),
    snapshots: z
      .strictObject({
        dir: z
          .string()
          .min(1)
          .default('.dbops/query-snapshots')
          .describe(
            'Local folder of the snapshots (one subfolder per database), where `queries report` finds the previous one when no --environment is given. With --environment the snapshots are also stored beside the evidence bundles (<prefix>/<environment>/query-snapshots/ on the evidence target), which keeps their history across CI runners.',
          ),
        keep: z
          .number()
          .int()
          .min(2)
          .max(10_000)
          .default(60)
          .describe(
            'Snapshots kept per database in the local folder and beside the evidence (the oldest removed first; those taken before a deploy are always kept, for --since-deploy).',
          ),
      })
      .prefault({})
      .describe('Where snapshots are kept.'),
    notifications: z
      .strictObject({
        webhook_env: z
          .string()
          .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name such as DBOPS_QUERIES_WEBHOOK')
          .default('DBOPS_QUERIES_WEBHOOK')
          .describe(
            'Environment variable holding the webhook URL (a secret) that `queries report --notify` posts to when statements became slow or regressed (Slack-compatible JSON). Unset: nothing is sent.',
          ),
      })
      .prefault({})
      .describe('Where `queries report --notify` announces new slow statements and regressions.'),
  })
  .describe('policies/queries.yaml: slow statements, regressions and index usage (`dbops queries snapshot|report`).');
export type QueriesPolicy = z.output<typeof QueriesPolicy>;
