import type { StepContext } from '../../../cli/contract.ts';
import { ConfigError, UsageError } from '../../../core/errors.ts';
import { redact } from '../../../core/redact.ts';
import type { StepResult } from '../../../core/result.ts';
import {
  alertChannels,
  monitorAlerts,
  monitorCheck,
  monitorStore,
  runUrlOf,
  type MonitorCheckData,
  type MonitorRequest,
} from '../../../operations/monitoring/index.ts';
import { monitorTarget, recordMonitorTraffic } from '../../flags.ts';
import type { MonitorCheckInputs } from './spec.ts';

export { renderMonitorCheck as render } from '../../../operations/monitoring/index.ts';

/** `dbops monitor check`: the target and its policies; operations/monitoring judges. */
export async function run(input: MonitorCheckInputs, ctx: StepContext): Promise<StepResult<MonitorCheckData>> {
  const request = await monitorTarget(input, ctx);
  const result = await monitorCheck(request, ctx);
  await recordMonitorTraffic(input, result.data.load, ctx); // the weekly traffic profile (`dbops monitor traffic`)
  try {
    result.data.alerts = await alerts(input, request, result.data, ctx);
  } catch (e) {
    // A policy mistake is the user's to fix (exit 2); anything else (an unreachable evidence target) must not hide the checks.
    if (e instanceof ConfigError || e instanceof UsageError) throw e;
    const message = `the alerts were not processed: ${redact(e instanceof Error ? e.message : String(e))}`;
    ctx.log.warn(`monitor: ${message}`);
    result.findings.push({ rule: 'monitor/alerts', severity: 'warning', message });
  }
  return result;
}

/**
 * The alerts of this run: the state beside the evidence of --environment (else the local evidence), the routes
 * of the environment (else the file-wide ones), muted while the environment's maintenance window is open.
 */
async function alerts(input: MonitorCheckInputs, request: MonitorRequest, data: MonitorCheckData, ctx: StepContext): Promise<MonitorCheckData['alerts']> {
  const { target } = request;
  const { monitoring, backups, environments } = await ctx.policies('monitoring', 'backups', 'environments');
  const policy = monitoring.value;
  const name = target.environment;
  let muted: string | undefined;
  if (name !== null && policy.alerts.mute_during_maintenance) {
    const { maintenance } = await ctx.policies('maintenance');
    // Loaded only here: a bare --database-url has no maintenance window.
    const { maintenanceWindowOf, windowStatus } = await import('../../../operations/maintenance/index.ts');
    const window = maintenanceWindowOf(maintenance.value, environments.value, name, `${input.policiesDir}/maintenance.yaml`);
    const status = window ? windowStatus(window, new Date(data.at)) : undefined;
    if (status?.open) muted = status.summary;
  }
  // The evidence domain is heavy: loaded only when the alerts run.
  const { openEvidenceOf } = await import('../../../evidence/index.ts');
  const evidence = await openEvidenceOf({ backups: backups.value, environments: environments.value }, name ?? undefined, ctx.env, ctx.log);
  const summary = await monitorAlerts(data, {
    store: monitorStore(evidence, target.database.database),
    routes: (name !== null ? policy.environments[name]?.routes : undefined) ?? policy.routes,
    resolveAfter: policy.alerts.resolve_after,
    subject: { environment: name, database: target.database.database, runUrl: runUrlOf(ctx.env) },
    muted,
    dryRun: input.dryRun,
    channels: alertChannels(ctx.env, ctx.log, ctx.signal),
    log: ctx.log,
  });
  if (summary.muted) ctx.log.info(`monitor: alerts muted (${summary.mutedReason}): recorded, not sent`);
  return summary;
}
