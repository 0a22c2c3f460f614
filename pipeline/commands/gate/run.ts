import { resolveEnvironment, evaluateGate, gateRequest } from '../../change/release/index.ts';
import type { GateCheck, GateData } from '../../evidence/index.ts';
import { releasePolicies, type GateInputs } from '../flags.ts';
import { openSession } from '../../change/migrations/index.ts';
import type { Finding, StepResult } from '../../core/result.ts';
import type { StepContext } from '../../cli/contract.ts';
import { noun } from '../../core/format.ts';

/**
 * `dbops gate --environment NAME`: every check of the production path, reported together. Read-only on the
 * environment's database (the session refuses writes); only --take-backup writes, to the backup storage.
 */
export async function run(input: GateInputs, ctx: StepContext): Promise<StepResult<GateData>> {
  const policies = await releasePolicies(ctx);
  const environment = resolveEnvironment(policies.environments, input.environment, ctx.env, input.schema);
  const session = await openSession(environment.target, ctx.log, 'dbops gate');
  let data: GateData;
  try {
    await session.client.query('SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY');
    data = await evaluateGate(gateRequest(environment, 'deploy', input), policies, ctx, session);
  } finally {
    await session.close();
  }
  return gateResult(data);
}

/** The step result of a gate decision: every reason of a failing or warning check as a finding. */
function gateResult(data: GateData): StepResult<GateData> {
  const findings: Finding[] = data.checks.flatMap((c) =>
    c.status === 'fail' || c.status === 'warn'
      ? c.reasons.map((r): Finding => ({
          rule: r.rule,
          severity: c.status === 'fail' ? 'error' : 'warning',
          message: r.message,
          ...(r.hint ? { help: r.hint } : {}),
          ...(r.migration ? { migration: r.migration } : {}),
        }))
      : [],
  );
  const verdict =
    data.decision === 'refused' ? 'fail' : data.checks.some((c) => c.status === 'warn') || data.breakGlass || data.outsideWindow ? 'warn' : 'pass';
  return { verdict, findings, data };
}

const MARK: Record<GateCheck['status'], string> = { pass: '✔', fail: '✘', waived: '⚠', skipped: '–', warn: '!' };
const LABEL: Record<GateCheck['status'], string> = { pass: 'pass', fail: 'FAIL', waived: 'WAIVED', skipped: 'skipped', warn: 'warn' };

/** The loud line every rendering of a break-glass gate carries (also used by deploy and rollback). */
export function breakGlassBanner(data: GateData): string | undefined {
  const b = data.breakGlass;
  if (!b) return undefined;
  const line = `!!! BREAK-GLASS: approvals of ${data.environment} waived by ${b.by} on ${b.host} at ${b.at}. Reason: ${b.reason} !!!`;
  const bar = '!'.repeat(Math.min(line.length, 100));
  return `${bar}\n${line}\n${bar}`;
}

/** The check table and every reason with its fix. */
export function renderGate(data: GateData): string {
  const lines: string[] = [];
  const banner = breakGlassBanner(data);
  if (banner) lines.push(banner, '');
  const what = data.action === 'rollback' ? `rollback of ${data.environment} to ${data.rollbackTo ?? '?'}` : `deploy to ${data.environment}`;
  lines.push(
    `Gate for the ${what}: database ${data.database.name} (${data.database.display}, PostgreSQL ${data.database.serverVersion}, system identifier ${data.database.systemIdentifier})`,
  );
  if (data.migrations.length === 0) lines.push(data.action === 'rollback' ? '  nothing to roll back' : '  no pending migration');
  for (const m of data.migrations)
    lines.push(`  ${data.action === 'rollback' ? '↩' : '→'} ${m.name}  sha256 ${m.sha256.slice(0, 12)}…  rollback ${m.rollback.status}`);
  lines.push('');
  const width = Math.max(...data.checks.map((c) => c.name.length));
  for (const c of data.checks) lines.push(`  ${MARK[c.status]} ${c.name.padEnd(width)}  ${LABEL[c.status].padEnd(7)}  ${c.summary}`);
  const reasons = data.checks.flatMap((c) => (c.status === 'fail' || c.status === 'warn' ? c.reasons.map((r) => ({ c, r })) : []));
  if (reasons.length > 0) {
    lines.push('');
    for (const { c, r } of reasons) {
      lines.push(`${c.status === 'fail' ? '✘' : '!'} ${r.rule}: ${r.message}`);
      if (r.hint) lines.push(`    fix: ${r.hint.split('\n').join('\n         ')}`);
    }
  }
  if (data.outsideWindow) lines.push('', `OUTSIDE THE CHANGE WINDOW: ${data.outsideWindow.reason} (${data.outsideWindow.window})`);
  lines.push('');
  const failed = data.checks.filter((c) => c.status === 'fail');
  const refusals = failed.reduce((n, c) => n + c.reasons.length, 0);
  lines.push(
    data.decision === 'refused'
      ? `REFUSED: ${failed.length} of ${data.checks.length} checks failed (${failed.map((c) => c.name).join(', ')}), ${refusals} ${noun(refusals, 'reason')}.`
      : `ALLOWED${data.breakGlass ? ' UNDER BREAK-GLASS' : ''}: ${data.checks.filter((c) => c.status === 'pass').length} passed, ${data.checks.filter((c) => c.status === 'waived').length} waived, ${data.checks.filter((c) => c.status === 'skipped').length} skipped.`,
  );
  return `${lines.join('\n')}\n`;
}

export function render(result: StepResult<GateData>): string {
  return renderGate(result.data);
}
