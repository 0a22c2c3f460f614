import { z } from 'zod';
import { connection, json, maintenanceScope, policiesOnly } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

export const MaintainRunInputs = z.object({
  databaseUrl: connection.databaseUrl,
  ...policiesOnly,
  ...json,
  ...maintenanceScope,
  dryRun: z.boolean().default(false).describe('measure and print the plan that would run; take no lock and run nothing'),
});
export type MaintainRunInputs = z.output<typeof MaintainRunInputs>;

export const spec = defineCommand({
  path: ['maintain', 'run'],
  summary: 'carry out the maintenance plan (VACUUM, ANALYZE, REINDEX CONCURRENTLY, drop leftovers) under the maintenance lock, proving each action',
  description:
    'Takes the maintenance mode of the lock protocol (waits for running deploys and backups up to operation_wait; they wait for it), measures and plans as `maintain plan` does, and refuses (exit 1) when the connected role neither owns nor is a member of the owner of a planned table or index. Then VACUUM (ANALYZE) / ANALYZE per table, the planned indexes measured again and REINDEX INDEX CONCURRENTLY of those still over the threshold (skipped, naming the session, while a transaction older than long_transaction is open; the invalid copies a failed rebuild leaves are dropped), then DROP INDEX CONCURRENTLY of the invalid leftovers; every statement under lock_timeout, retried with backoff. Each action is proven afterwards (vacuum_count / analyze_count advanced, index rebuilt, valid and without leftovers, dropped index gone): exit 1 when one failed. --only tables runs only VACUUM (ANALYZE) and ANALYZE (the weekly job), --only indexes only the rebuilds and the drops of leftovers (the monthly one). --dry-run prints the plan and runs nothing.',
  examples: [
    'dbops maintain run --dry-run',
    'dbops maintain run',
    'dbops maintain run --only tables',
    'dbops maintain run --only indexes',
    'dbops maintain run --database-url "$STAGING_DATABASE_URL" --json',
  ],
  inputs: MaintainRunInputs,
});
