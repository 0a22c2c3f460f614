import { EnvError } from '../../core/errors.ts';
import type { StepResult } from '../../core/result.ts';
import type { Runtime } from '../../core/runtime.ts';
import { connect } from '../../infra/db/client.ts';
import type { CheckName } from '../../policy/monitoring.ts';
import { CHECK_ORDER, environmentOnly, judgeDatabase, unreachable } from './checks.ts';
import { corruptRelations, databaseFacts } from './facts.ts';
import { hostFacts, sampleCpu } from './host.ts';
import type { CheckResult, MonitorCheckData, MonitorTarget } from './model.ts';

/** The checks that need an environment: its backups, WAL archive, query snapshots and audit trail. */
export const ENVIRONMENT_CHECKS: CheckName[] = ['slow_queries', 'backup_age', 'restore_test', 'pitr', 'security_events'];

export interface MonitorRequest {
  target: MonitorTarget;
  /** The environment-tied checks, judged by the caller's domain functions (undefined: not configured). */
  environmentChecks?: (() => Promise<CheckResult[]>) | undefined;
}

const order = (checks: CheckResult[]) => [...checks].sort((a, b) => CHECK_ORDER.indexOf(a.check as CheckName) - CHECK_ORDER.indexOf(b.check as CheckName));

/**
 * One pass over every check. An unreachable database is not an error here: it is the availability check
 * failing (critical), and every check that needs the database is unknown.
 */
export async function monitorCheck(request: MonitorRequest, ctx: Runtime): Promise<StepResult<MonitorCheckData>> {
  const { target } = request;
  const at = new Date().toISOString();
  let checks: CheckResult[];
  let load: MonitorCheckData['load'] = { at, xacts: null, activeSessions: null };
  // Only where the host is judged; the sample runs while the database is read.
  const cpu = target.checks.cpu.enabled ? sampleCpu() : Promise.resolve(null);
  cpu.catch(() => undefined);
  let client;
  try {
    client = await connect(target.database, { log: ctx.log, applicationName: 'dbops monitor' });
  } catch (e) {
    if (!(e instanceof EnvError)) throw e;
    checks = unreachable(target, e.message);
  }
  if (client) {
    try {
      const facts = await databaseFacts(client);
      const [host, corrupt] = await Promise.all([
        hostFacts(target.database.host, facts.dataDirectory, cpu),
        facts.checksums.failures > 0 ? corruptRelations(client) : Promise.resolve([]),
      ]);
      checks = judgeDatabase(facts, host, target, corrupt);
      load = { at, xacts: facts.load.xacts, activeSessions: facts.load.activeSessions };
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  const env = request.environmentChecks ? await request.environmentChecks() : environmentOnly(target, ENVIRONMENT_CHECKS);
  checks = order([...checks!, ...env]);
  const count = (s: CheckResult['status']) => checks.filter((c) => c.status === s).length;
  const counts = { ok: count('ok'), warning: count('warning'), critical: count('critical'), notConfigured: count('not-configured'), unknown: count('unknown') };
  const data: MonitorCheckData = { database: target.database.display, environment: target.environment, at, checks, load, counts };
  const findings = checks
    .filter((c) => c.status === 'warning' || c.status === 'critical')
    .map((c) => ({
      rule: `monitor/${c.check}`,
      severity: c.status === 'critical' ? ('error' as const) : ('warning' as const),
      message: `${c.check}: ${c.summary}`,
    }));
  return {
    verdict: counts.critical > 0 ? 'fail' : counts.warning > 0 ? 'warn' : 'pass',
    findings,
    data,
    ...(counts.critical > 0
      ? {
          error: {
            message: `${counts.critical} critical: ${checks
              .filter((c) => c.status === 'critical')
              .map((c) => c.check)
              .join(', ')}`,
            hint: 'See each check’s line above.',
          },
        }
      : {}),
  };
}
