import { z } from 'zod';
import { json, maintenanceDatabase, maintenanceScope, policiesOnly } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

export const MaintainPlanInputs = z.object({ ...maintenanceDatabase, ...policiesOnly, ...json, ...maintenanceScope });
export type MaintainPlanInputs = z.output<typeof MaintainPlanInputs>;

export const spec = defineCommand({
  path: ['maintain', 'plan'],
  summary: 'measure bloat, statistics, invalid indexes and long transactions, and plan VACUUM, ANALYZE, REINDEX and cleanup; read-only',
  description:
    'Reads pg_stat_user_tables, sizes, age(relfrozenxid), mxid_age(relminmxid), pg_index and pg_stat_activity, and, when the pgstattuple extension is installed, pgstattuple_approx of each table whose visibility map is current (of 8 MiB or more, at least half all-visible; the others by their counters, marked statistics) and pgstatindex of each btree (otherwise a btree estimate, marked estimated), then plans by policies/maintenance.yaml: vacuum-analyze, analyze, reindex (an index judged as it will be after the planned VACUUM) and drop-invalid (the _ccnew/_ccold leftovers of a cancelled REINDEX CONCURRENTLY), each with its reason, measurement and expected gain, largest gain first; warnings for xid and multixact age and long-open transactions. --only tables keeps the vacuum-analyze and analyze actions, --only indexes the reindex and drop-invalid ones (everything is still measured and warned about). --environment NAME takes the database of policies/environments.yaml and says whether its maintenance window is open. Never changes the database (nor creates pgstattuple); exit 0 whatever it finds.',
  examples: [
    'dbops maintain plan',
    'dbops maintain plan --only indexes',
    'dbops maintain plan --environment production',
    'dbops maintain plan --database-url "$STAGING_DATABASE_URL" --json',
  ],
  inputs: MaintainPlanInputs,
});
