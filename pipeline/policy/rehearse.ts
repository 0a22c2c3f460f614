import { z } from 'zod';
import { parseDuration } from '../core/duration.ts';
import { Duration } from './duration.ts';

const Thresholds = (warning: string, error: string) => z.strictObject({ warning: Duration.default(warning), error: Duration.default(error) }).prefault({});

/** A duration between 1 ms and `max` ms: sampling and probing need a real, bounded period. */
const Period = (max: number) =>
  Duration.refine((d) => {
    const ms = parseDuration(d) ?? 0;
    return ms >= 1 && ms <= max;
  }, `expected a duration between 1ms and ${max}ms`);

export const RehearsePolicy = z
  .strictObject({
    scale: z.number().positive().default(0.2).describe('Size of the synthetic AstroFinance dataset when no snapshot is given (1 ≈ 1,000,000 journal lines).'),
    seed: z.number().int().nonnegative().default(42).describe('Random seed of the synthetic dataset (same seed and scale, same data).'),
    sample_interval: Period(50).default('25ms').describe('How often the lock sampler reads pg_locks ⨝ pg_stat_activity (at most 50ms).'),
    probes: z
      .strictObject({
        interval: Period(1000).default('25ms').describe('Pause between two probe queries on one connection.'),
        max_tables: z
          .number()
          .int()
          .nonnegative()
          .default(6)
          .describe('Probe at most this many of the tables a migration touches (two connections each: one reads, one writes); 0 turns probes off.'),
      })
      .prefault({})
      .describe(
        'The probe workload: while a migration runs, each touched table is read (SELECT … LIMIT 1) and written (UPDATE of one row to its own value, rolled back) in a loop.',
      ),
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
        file: z
          .string()
          .default('workload.sql')
          .describe('Named queries (-- name: …) in the policies folder, run with EXPLAIN (ANALYZE, BUFFERS) before and after the pending migrations.'),
        runs: z.number().int().min(1).max(20).default(3).describe('Measured runs per query (after one warm-up run); the fastest counts.'),
        slowdown_ratio: z.number().positive().default(2).describe('after/before execution time above which a query is reported as slower.'),
        min_delta: Duration.default('5ms').describe('Ignore slowdowns smaller than this (timer noise on tiny queries).'),
      })
      .prefault({}),
  })
  .describe('How `dbops rehearse` measures migrations on a staging snapshot.');
export type RehearsePolicy = z.output<typeof RehearsePolicy>;
