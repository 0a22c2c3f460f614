import { z } from 'zod';
import { Duration } from './duration.ts';
import { ENVIRONMENT_NAME, Windows } from './environments.ts';
import { Size } from './size.ts';

const Ratio = z.number().min(0).max(1);
/** An age in transaction (or multixact) IDs, below the 2^31 wraparound horizon; by default about half of it. */
const WraparoundAge = z
  .number()
  .int()
  .positive()
  .max(2 ** 31)
  .default(1_000_000_000);

export const MaintenancePolicy = z
  .strictObject({
    version: z.literal(1).describe('Policy file format version.'),
    tables: z
      .strictObject({
        dead_tuple_ratio: Ratio.default(0.2).describe(
          'A table is vacuumed (VACUUM (ANALYZE)) when its dead tuples are at least this share of its tuples (dead / (live + dead)) …',
        ),
        min_dead_tuples: z.number().int().min(0).default(1000).describe('… and at least this many, so small tables are left to autovacuum.'),
        analyze_after_days: z
          .number()
          .min(0)
          .default(7)
          .describe('A table not vacuumed is analyzed when its last (auto)analyze is this many days old and rows changed since.'),
        modified_since_analyze_ratio: Ratio.default(0.1).describe(
          '… or when the rows modified since its last analyze (n_mod_since_analyze) are at least this share of its live rows.',
        ),
      })
      .prefault({})
      .describe('When a table is vacuumed or analyzed.'),
    indexes: z
      .strictObject({
        min_size: Size.default('10MB').describe('A btree index is rebuilt (REINDEX INDEX CONCURRENTLY) only from this size …'),
        reclaimable_ratio: Ratio.default(0.3).describe(
          '… and when at least this share of it would be reclaimed, judged as it will be after the planned VACUUM.',
        ),
      })
      .prefault({})
      .describe('When an index is rebuilt.'),
    xid_age_warning: WraparoundAge.describe(
      'Warn when a table’s age(relfrozenxid) reaches this: about half of the 2^31 wraparound horizon, where pgmonitor raises its first alert, and well past autovacuum_freeze_max_age (200M), so autovacuum is not keeping up.',
    ),
    multixact_age_warning: WraparoundAge.describe(
      'Warn when a table’s mxid_age(relminmxid) reaches this: multixact IDs (row locks shared by several transactions, foreign-key checks) wrap around at 2^31 like xids, and past autovacuum_multixact_freeze_max_age (400M) autovacuum should have frozen them.',
    ),
    long_transaction: Duration.default('5min').describe(
      'Warn about transactions of this database open at least this long: they make REINDEX … CONCURRENTLY wait, and keep VACUUM from removing rows newer than their snapshot.',
    ),
    lock_timeout: Duration.default('5s').describe(
      '`maintain run`: how long one VACUUM, ANALYZE, REINDEX or DROP INDEX may wait for a table lock (SET lock_timeout) before it gives up and is retried; short, so a blocked statement does not stall the traffic queued behind it.',
    ),
    retries: z
      .number()
      .int()
      .min(0)
      .max(20)
      .default(3)
      .describe(
        '`maintain run`: how many times a statement that hit lock_timeout is retried (after 1 s, 2 s, 4 s, … with jitter, at most 30 s) before its action fails.',
      ),
    operation_wait: Duration.default('30min').describe(
      '`maintain run`: how long it waits for running deploys and backups (the lock protocol’s shared mode) before failing with exit 3.',
    ),
    windows: z
      .record(z.string().regex(ENVIRONMENT_NAME, 'expected an environment name of policies/environments.yaml'), Windows)
      .default({})
      .describe(
        '`maintain run --environment NAME`: the weekly windows maintenance of that environment may run in (zone and openings as in policies/environments.yaml). A closed window refuses the run; a window that closes during the run skips the actions not yet started. An environment without an entry, and a database given by --database-url, have no window.',
      ),
    budget: Duration.default('3h').describe(
      '`maintain run`: once this much time has passed since the maintenance lock was taken, no further action starts (the running one finishes; the rest are skipped and reported). 0 = no budget.',
    ),
    throttle: z
      .strictObject({
        cost_delay: z
          .number()
          .min(0)
          .max(100)
          .default(2)
          .describe(
            'SET vacuum_cost_delay (milliseconds) in the session of `maintain run` before its VACUUM and ANALYZE: a manual VACUUM is unthrottled by default (0), autovacuum sleeps 2 ms. 0 = unthrottled.',
          ),
        cost_limit: z
          .number()
          .int()
          .min(1)
          .max(10000)
          .default(200)
          .describe('SET vacuum_cost_limit: the I/O cost accumulated before each sleep (PostgreSQL’s default, which autovacuum uses too).'),
      })
      .prefault({})
      .describe('Cost-based throttling of the manual VACUUM and ANALYZE, so they read and dirty pages at about autovacuum’s pace.'),
    create_pgstattuple: z
      .boolean()
      .default(false)
      .describe(
        '`maintain run`: when the pgstattuple extension is not installed, CREATE EXTENSION IF NOT EXISTS pgstattuple before measuring, for exact measures instead of the btree estimate. pgstattuple is not a trusted extension: the connected role must be superuser. `maintain plan` never creates it.',
      ),
    exclude_tables: z
      .array(z.string().min(1))
      .default([])
      .describe('Tables never touched (nor their indexes): `table` or `schema.table`, `*` matches any run of characters.'),
  })
  .describe('policies/maintenance.yaml: when VACUUM, ANALYZE and REINDEX are planned, what is warned about, and when and how fast `maintain run` may run.');

export type MaintenancePolicy = z.output<typeof MaintenancePolicy>;
