import { EnvError } from '../../core/errors.ts';
import type { Runtime } from '../../core/runtime.ts';
import { parseSize } from '../../core/size.ts';
import { isPgError, withClient } from '../../infra/db/client.ts';
import type { DbTarget } from '../../infra/db/url.ts';
import type { MaintenancePolicy } from '../../policy/maintenance.ts';
import { measureMaintenance, type MaintenanceFacts } from './facts.ts';
import { planMaintenance, type MaintenancePlan, type MaintenanceScope } from './plan.ts';

export const APPLICATION_NAME = 'dbops maintain';

/**
 * Measures one database and plans its maintenance; judged at the server's clock, so a skewed runner changes
 * nothing. `exactTables`: read only these tables and their indexes with pgstattuple's functions (facts.ts).
 */
export async function surveyMaintenance(
  target: DbTarget,
  policy: MaintenancePolicy,
  rt: Runtime,
  scope: MaintenanceScope = 'all',
  exactTables?: ReadonlySet<string>,
): Promise<{ facts: MaintenanceFacts; plan: MaintenancePlan }> {
  const facts = await withClient(target, { log: rt.log, applicationName: APPLICATION_NAME }, (client) =>
    measureMaintenance(client, { measureIndexesFrom: parseSize(policy.indexes.min_size) ?? 0, exactTables }),
  ).catch((e: unknown) => {
    // Sizes need ACCESS SHARE on every relation: a migration holding ACCESS EXCLUSIVE past lock_timeout stops the survey.
    if (isPgError(e) && e.code === '55P03')
      throw new EnvError(`Measuring ${target.database} waited more than 2 s for a lock: another session holds a relation exclusively.`, {
        hint: 'Run `dbops maintain plan` again when the migration or the session holding the lock has finished (pg_locks names it).',
        cause: e,
      });
    throw e;
  });
  return { facts, plan: planMaintenance(facts, policy, new Date(facts.at), scope) };
}
