import { z } from 'zod';
import { Duration } from './duration.ts';

const Thresholds = (warning: string, error: string) =>
  z.strictObject({ warning: Duration.default(warning), error: Duration.default(error) }).prefault({});

export const RehearsePolicy = z
  .strictObject({
    scale: z.number().positive().default(0.2).describe('Size of the synthetic AstroFinance dataset when no snapshot is given (1 ≈ 1,000,000 journal lines).'),
    sample_interval: Duration.default('25ms').describe('How often the lock sampler reads pg_locks ⨝ pg_stat_activity (at most 50ms).'),
    budgets: z
      .strictObject({
        duration: Thresholds('10s', '2min').describe('Wall time of one migration.'),
        access_exclusive: z
          .strictObject({
            min_rows: z.number().int().nonnegative().default(10_000).describe('Only tables with at least this many rows count.'),
            warning: Duration.default('200ms'),
            error: Duration.default('2s'),
          })
          .prefault({})
          .describe('How long a migration may hold ACCESS EXCLUSIVE (blocks reads and writes) on a table.'),
        probe_blocked: Thresholds('500ms', '5s').describe('Longest time one probe query (reads and writes of the touched tables) waited on the migration.'),
        rewrite: z
          .strictObject({
            warning_rows: z.number().int().nonnegative().default(10_000),
            error_rows: z.number().int().nonnegative().default(100_000),
          })
          .prefault({})
          .describe('A measured table rewrite (relfilenode changed) of a table with this many rows.'),
      })
      .prefault({})
      .describe('Limits that turn measurements into findings.'),
    workload: z
      .strictObject({
        file: z.string().default('workload.sql').describe('Named queries (-- name: …) in the policies folder, run with EXPLAIN (ANALYZE, BUFFERS) before and after the pending migrations.'),
        slowdown_ratio: z.number().positive().default(2).describe('after/before execution time above which a query is reported as slower.'),
        min_delta: Duration.default('5ms').describe('Ignore slowdowns smaller than this (timer noise on tiny queries).'),
      })
      .prefault({}),
  })
  .describe('How `dbops rehearse` measures migrations on a staging snapshot.');
export type RehearsePolicy = z.output<typeof RehearsePolicy>;
