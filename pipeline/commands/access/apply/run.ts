import type { StepContext } from '../../../cli/contract.ts';
import { plural } from '../../../core/format.ts';
import { UsageError } from '../../../core/errors.ts';
import { type Finding, type StepResult, verdictOf } from '../../../core/result.ts';
import type { PolicyGateData } from '../../../change/release/index.ts';
import { accessPolicyOf, applyAccess, applyAccessChange, type AccessApplyResult, type AccessChangeResult } from '../../../operations/access/index.ts';
import { environmentTarget } from '../../flags.ts';
import type { AccessApplyInputs } from './spec.ts';

export type AccessApplyData = AccessApplyResult & {
  environment: string | null;
  policy: string;
  dryRun: boolean;
  prune: boolean;
  /** With --environment: the gate's decision and the evidence bundle written (none with --dry-run). */
  gate: PolicyGateData | null;
  bundle: AccessChangeResult['bundle'];
};

/** `dbops access apply`: refused by the gate, a failed statement (nothing changed) or drift left after it is exit 1. */
export async function run(input: AccessApplyInputs, ctx: StepContext): Promise<StepResult<AccessApplyData>> {
  const { policy, path } = accessPolicyOf(await ctx.policies('access'), input.policiesDir);
  const { target, environment } = await environmentTarget(input, ctx, 'whose gate the change passes');
  if (!environment && (input.breakGlass !== undefined || input.outsideWindow !== undefined))
    throw new UsageError('--break-glass and --outside-window belong to the gate of an environment.', { hint: 'Pass --environment NAME, or drop them.' });
  let result: AccessApplyResult;
  let gate: PolicyGateData | null = null;
  let bundle: AccessChangeResult['bundle'] = null;
  if (environment) {
    const { backups, environments } = await ctx.policies('backups', 'environments');
    const r = await applyAccessChange(
      {
        environment,
        policies: { access: policy, backups: backups.value, environments: environments.value },
        policyFile: path,
        prune: input.prune,
        dryRun: input.dryRun,
        breakGlass: input.breakGlass,
        outsideWindow: input.outsideWindow,
      },
      ctx,
    );
    ({ result, gate, bundle } = r);
  } else result = await applyAccess(target, policy, { prune: input.prune, dryRun: input.dryRun }, ctx);
  // A refusal is an error unless it is only a --dry-run's judgement of what a real run would meet.
  const refused: Finding[] = (gate?.checks ?? []).flatMap((c) =>
    c.reasons.map((r) => ({
      rule: `gate/${r.rule}`,
      severity: c.status === 'fail' && !input.dryRun ? ('error' as const) : ('warning' as const),
      message: r.message,
      ...(r.hint ? { help: r.hint } : {}),
    })),
  );
  const findings: Finding[] = [
    ...refused,
    ...result.remaining.map((f) => ({
      rule: `access/${f.kind}`,
      severity: 'error' as const,
      message: `still differs after the apply: ${f.message}.`,
    })),
  ];
  const data: AccessApplyData = {
    ...result,
    environment: environment?.name ?? null,
    policy: path,
    dryRun: input.dryRun,
    prune: input.prune,
    gate,
    bundle,
  };
  const verdict = verdictOf(findings);
  return { verdict, findings, data };
}

export function render(result: StepResult<AccessApplyData>): string {
  const d = result.data;
  const lines: string[] = [];
  if (d.gate) {
    lines.push(
      `Gate of the access change on ${d.environment}: ${d.gate.decision === 'allowed' ? 'allowed' : 'REFUSED'}${d.dryRun ? ' (--dry-run: judged, nothing recorded)' : ''}.`,
    );
    for (const c of d.gate.checks) {
      lines.push(`  ${c.name}: ${c.status}, ${c.summary}`);
      for (const reason of c.reasons) lines.push(`    ${reason.message}${reason.hint ? ` Fix: ${reason.hint}` : ''}`);
    }
    if (d.gate.breakGlass) lines.push(`  BREAK-GLASS by ${d.gate.breakGlass.by}: ${d.gate.breakGlass.reason}`);
    lines.push('');
  }
  const refused = d.gate?.decision === 'refused' && !d.dryRun;
  if (d.statements.length === 0) lines.push(`Access of ${d.before.database} already matches ${d.policy}: nothing to do.`);
  else if (refused)
    lines.push(
      `Refused: nothing was changed. Once allowed, ${plural(d.statements.length, 'statement')} would run in one transaction:`,
      ...d.statements.map((s) => `  ${s}`),
    );
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
  if (d.bundle) lines.push('', `Evidence: bundle #${d.bundle.sequence} of ${d.bundle.environment} (${d.bundle.key}), SHA-256 ${d.bundle.sha256}.`);
  return `${lines.join('\n')}\n`;
}
