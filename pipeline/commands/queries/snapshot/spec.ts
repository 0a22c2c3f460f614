import { z } from 'zod';
import { databaseFlags } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

export const QueriesSnapshotInputs = z.object({
  ...databaseFlags('whose replicas count in index usage and beside whose evidence bundles the snapshots are kept (their history across CI runs)'),
  label: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]*$/, 'expected a lower-case label such as before-load-test')
    .refine((l) => !l.startsWith('deploy-'), 'labels starting with deploy- are the snapshots dbops deploy takes')
    .default('snapshot')
    .describe('word in the snapshot file name (<UTC>-<label>.json)'),
});
export type QueriesSnapshotInputs = z.output<typeof QueriesSnapshotInputs>;

export const spec = defineCommand({
  path: ['queries', 'snapshot'],
  summary: 'store pg_stat_statements, table and index statistics of the database (and index scans of its replicas); read-only',
  description:
    "Reads pg_stat_statements and pg_stat_statements_info (column names of PostgreSQL 13 to 17), pg_stat_user_tables, pg_stat_user_indexes with every index's definition, and the foreign keys, and with --environment the index scans of each replica of policies/environments.yaml (statistics are per node). Stores them as one JSON file under snapshots.dir/<database>/ of policies/queries.yaml (the oldest beyond snapshots.keep removed, never a deploy's) and, with --environment, beside its evidence bundles (<prefix>/<environment>/query-snapshots/). Statement texts are pg_stat_statements' normalized ones; literals left in utility statements (ALTER ROLE … PASSWORD '…') are masked. `dbops queries report` compares two snapshots. Exit 3 when pg_stat_statements is not loaded or not created in the database (the fix is printed). A replica that cannot be read is recorded as such, not fatal.",
  examples: ['dbops queries snapshot', 'dbops queries snapshot --environment production', 'dbops queries snapshot --label before-load-test --json'],
  inputs: QueriesSnapshotInputs,
  report: 'queries-snapshot',
});
