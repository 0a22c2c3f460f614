import { openEvidence, type GateCheck, type GateReason } from '../../../evidence/index.ts';
import { gateCheck, type GateScope } from './types.ts';

/**
 * The traffic check, when the environment's policy sets `traffic`: the load measured now (TPS from two
 * readings of pg_stat_database 1 s apart, and the active sessions) under max_tps / max_active_sessions, and
 * with quiet_hours the hour inside the quiet hours of the weekly profile `monitor check` records. Every
 * refusal names the next quiet hour. --break-glass (where the policy allows it) waives the check;
 * --outside-window does not: the window is about the calendar, this check about the database's load now.
 * The measurement and the profile come from operations/monitoring through `policies.traffic` (injected by
 * the command). Returns null when the policy sets no traffic limit (no check at all).
 */
export async function trafficCheck(scope: GateScope, intervalMs = 1000): Promise<GateCheck | null> {
  const { environment, request } = scope;
  const policy = environment.policy.traffic;
  if (!policy || (policy.max_tps === undefined && policy.max_active_sessions === undefined && !policy.quiet_hours)) return null;
  const probe = scope.policies.traffic;
  const message = (e: unknown) => (e instanceof Error ? e.message : String(e));
  if (!probe)
    return gateCheck('traffic', 'fail', 'load not measured', [
      { rule: 'traffic/unmeasured', message: `The load of ${environment.name} cannot be measured here (no load measurement was given to the gate).` },
    ]);
  let quiet: Awaited<ReturnType<typeof probe.quiet>> | null = null;
  let profileError: string | null = null;
  try {
    quiet = await probe.quiet(openEvidence(scope.policies, environment.name, scope.env, scope.ctx.log), scope.session.target.database, scope.now);
  } catch (e) {
    profileError = message(e);
  }
  const next = quiet?.next ?? null;
  const nextText = next
    ? `next quiet hour: ${next.label} (${next.at.toISOString()})`
    : quiet?.profile
      ? 'next quiet hour: unknown (the traffic profile has too few samples yet)'
      : 'next quiet hour: unknown (no traffic profile: every `dbops monitor check --environment` adds a sample)';

  let load: Awaited<ReturnType<typeof probe.measure>>;
  try {
    load = await probe.measure(scope.session.client, intervalMs);
  } catch (e) {
    return gateCheck('traffic', 'fail', 'load not measured', [
      {
        rule: 'traffic/unmeasured',
        message: `The load of ${environment.name} could not be measured: ${message(e)}.`,
        hint: 'The gate’s role needs to read pg_stat_database and pg_stat_activity (pg_monitor).',
      },
    ]);
  }
  const measured = `${load.tps} transactions/s, ${load.activeSessions} active ${load.activeSessions === 1 ? 'session' : 'sessions'}`;
  const reasons: GateReason[] = [];
  const over: string[] = [];
  if (policy.max_tps !== undefined && load.tps > policy.max_tps) over.push(`${load.tps} transactions/s > max_tps ${policy.max_tps}`);
  if (policy.max_active_sessions !== undefined && load.activeSessions > policy.max_active_sessions)
    over.push(`${load.activeSessions} active sessions > max_active_sessions ${policy.max_active_sessions}`);
  if (over.length > 0)
    reasons.push({
      rule: 'traffic/busy',
      message: `${environment.name} is busy: ${over.join(', ')} (measured over ${load.intervalMs} ms); ${nextText}.`,
      hint: next ? `Deploy in a quiet hour (${next.label}), or once the load has dropped.` : 'Deploy once the load has dropped.',
    });
  let warning: string | null = null;
  if (policy.quiet_hours) {
    if (!quiet || quiet.proposedHours === 0) {
      warning = profileError
        ? `the traffic profile could not be read (${profileError})`
        : quiet?.profile
          ? 'the traffic profile has too few samples to propose quiet hours'
          : 'no traffic profile recorded yet';
    } else if (!quiet.quietNow) {
      reasons.push({
        rule: 'traffic/not-quiet-hour',
        message: `It is not a quiet hour of ${environment.name} (its weekly traffic profile, hours in ${quiet.zone}); ${nextText}.`,
        hint: `\`dbops monitor traffic --environment ${environment.name}\` shows the proposed quiet hours.`,
      });
    }
  }
  if (reasons.length > 0 && request.breakGlass !== undefined && environment.policy.break_glass)
    return gateCheck('traffic', 'waived', `${measured}; --break-glass: ${request.breakGlass} (${reasons.map((r) => r.rule).join(', ')})`);
  if (reasons.length > 0) return gateCheck('traffic', 'fail', `busy: ${measured}`, reasons);
  if (warning) return gateCheck('traffic', 'warn', `${measured}; quiet_hours not judged: ${warning}`);
  return gateCheck('traffic', 'pass', `${measured}${policy.quiet_hours ? ' (a quiet hour)' : ''}`);
}
