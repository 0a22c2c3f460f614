import type { StepContext } from '../../../cli/contract.ts';
import { plural } from '../../../core/format.ts';
import { UsageError } from '../../../core/errors.ts';
import type { Finding, StepResult } from '../../../core/result.ts';
import { accessPolicyOf, applyAccess, type AccessApplyResult } from '../../../operations/access/index.ts';
import { environmentTarget } from '../../flags.ts';
import type { AccessApplyInputs } from './spec.ts';

export type AccessApplyData = AccessApplyResult & { environment: string | null; policy: string; dryRun: boolean; prune: boolean };

/** `dbops access apply`: a failed statement (nothing changed) or drift left after it is exit 1. */
export async function run(input: AccessApplyInputs, ctx: StepContext): Promise<StepResult<AccessApplyData>> {
  const { policy, path } = accessPolicyOf(await ctx.policies('access'), input.policiesDir);
  const { target, environment } = await environmentTarget(input, ctx, 'whose gate the change passes');
  if (!environment && (input.breakGlass !== undefined || input.outsideWindow !== undefined))
    throw new UsageError('--break-glass and --outside-window belong to the gate of an environment.', { hint: 'Pass --environment NAME, or drop them.' });
  const result = await applyAccess(target, policy, { prune: input.prune, dryRun: input.dryRun }, ctx);
  const findings: Finding[] = result.remaining.map((f) => ({
    rule: `access/${f.kind}`,
    severity: 'error',
    message: `still differs after the apply: ${f.message}.`,
  }));
  const data: AccessApplyData = { ...result, environment: environment?.name ?? null, policy: path, dryRun: input.dryRun, prune: input.prune };
  return { verdict: findings.length > 0 ? 'fail' : 'pass', findings, data };
}

export function render(result: StepResult<AccessApplyData>): string {
  const d = result.data;
  const lines: string[] = [];
  if (d.statements.length === 0) lines.push(`Access of ${d.before.database} already matches ${d.policy}: nothing to do.`);
  else if (!d.applied)
    lines.push(
      `${plural(d.statements.length, 'statement')} would run in one transaction (--dry-run: nothing was changed):`,
      ...d.statements.map((s) => `  ${s}`),
    );
  else lines.push(`Applied ${plural(d.statements.length, 'statement')} in one transaction:`, ...d.statements.map((s) => `  ${s}`));
  const skipped = d.before.findings.filter((f) => f.prune && !d.prune);
  if (skipped.length > 0) lines.push('', `Left alone (roles the policy does not name; --prune acts on them): ${skipped.map((f) => f.subject).join(', ')}.`);
  if (d.applied)
    lines.push('', d.remaining.length === 0 ? 'The audit after it finds no drift.' : `Still differs: ${d.remaining.map((f) => f.message).join('; ')}.`);
  return `${lines.join('\n')}\n`;
}
