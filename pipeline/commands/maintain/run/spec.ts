import { z } from 'zod';
import { json, maintenanceDatabase, maintenanceScope, policiesOnly, reports } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

export const MaintainRunInputs = z.object({
  ...maintenanceDatabase,
  ...policiesOnly,
  ...reports,
  ...json,
  ...maintenanceScope,
  dryRun: z.boolean().default(false).describe('measure and print the plan that would run; take no lock, create no extension and run nothing'),
});
export type MaintainRunInputs = z.output<typeof MaintainRunInputs>;

export const spec = defineCommand({
  path: ['maintain', 'run'],
  summary: 'carry out the maintenance plan (VACUUM, ANALYZE, REINDEX CONCURRENTLY, drop leftovers) under the maintenance lock, proving each action',
  description:
    'With --environment NAME, the database of policies/environments.yaml and the maintenance window windows.NAME of policies/maintenance.yaml: while it is closed the run is refused (exit 1, naming when it next opens). Takes the maintenance mode of the lock protocol (waits for running deploys and backups up to operation_wait; they wait for it), creates pgstattuple when create_pgstattuple asks for it, measures and plans as `maintain plan` does, and refuses (exit 1) when the connected role neither owns nor is a member of the owner of a planned table or index. Then, throttled by throttle.cost_delay / cost_limit (SET vacuum_cost_delay, vacuum_cost_limit), VACUUM (ANALYZE) / ANALYZE per table, the planned indexes measured again and REINDEX INDEX CONCURRENTLY of those still over the threshold (skipped, naming the session, while a transaction older than long_transaction is open; the invalid copies a failed rebuild leaves are dropped), then DROP INDEX CONCURRENTLY of the invalid leftovers; every statement under lock_timeout, retried with backoff. No action starts once the window has closed or the budget is spent: the rest are skipped, with the reason. Each action is proven afterwards (vacuum_count / analyze_count advanced, index rebuilt, valid and without leftovers, dropped index gone): exit 1 when one failed. --only tables runs only VACUUM (ANALYZE) and ANALYZE (the weekly job), --only indexes only the rebuilds and the drops of leftovers (the monthly one). --dry-run prints the plan and runs nothing. Writes <reports-dir>/maintain-run.json with every outcome.',
  examples: [
    'dbops maintain run --dry-run',
    'dbops maintain run',
    'dbops maintain run --environment production --only tables',
    'dbops maintain run --only indexes',
    'dbops maintain run --database-url "$STAGING_DATABASE_URL" --json',
  ],
  inputs: MaintainRunInputs,
  report: 'maintain-run',
});
