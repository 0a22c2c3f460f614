import type { StepContext } from '../../../cli/contract.ts';
import { names } from '../../../core/format.ts';
import { type Finding, type StepResult, verdictOf } from '../../../core/result.ts';
import type { PolicyGateData } from '../../../change/release/index.ts';
import { applySettings, applySettingsChange, type SettingsApplyData, type SettingsChangeResult } from '../../../operations/settings/index.ts';
import { settingFindings, settingsTable } from '../../../report/index.ts';
import { environmentTarget } from '../../flags.ts';
import type { SettingsApplyInputs } from './spec.ts';
import { UsageError } from '../../../core/errors.ts';

export interface SettingsApplyResult {
  environment: string;
  /** With --environment: the gate's decision and the evidence bundle written. */
  gate: PolicyGateData | null;
  bundle: SettingsChangeResult['bundle'] | null;
  /** Absent when the gate refused. */
  apply: SettingsApplyData | null;
}

/** `dbops settings apply`: refused by the gate or a setting still drifting is exit 1; a restart to do is a warning. */
export async function run(input: SettingsApplyInputs, ctx: StepContext): Promise<StepResult<SettingsApplyResult>> {
  const { postgresql, backups, environments } = await ctx.policies('postgresql', 'backups', 'environments');
  const { target, environment } = await environmentTarget(input, ctx, 'and its entry of policies/postgresql.yaml');
  if (!environment && (input.breakGlass !== undefined || input.outsideWindow !== undefined))
    throw new UsageError('--break-glass and --outside-window belong to the gate of an environment.', { hint: 'Pass --environment NAME, or drop them.' });
  let data: SettingsApplyResult;
  if (environment) {
    const r = await applySettingsChange(
      {
        environment,
        policies: { postgresql: postgresql.value, backups: backups.value, environments: environments.value },
        policyFile: postgresql.path ?? `${input.policiesDir}/postgresql.yaml`,
        breakGlass: input.breakGlass,
        outsideWindow: input.outsideWindow,
      },
      ctx,
    );
    data = { environment: environment.name, gate: r.gate, bundle: r.bundle, apply: r.applied ?? null };
  } else {
    const apply = await applySettings(target, { postgresql: postgresql.value, backups: backups.value }, 'local', ctx);
    data = { environment: 'local', gate: null, bundle: null, apply };
  }
  const refused: Finding[] = (data.gate?.checks ?? []).flatMap((c) =>
    c.reasons.map((r) => ({
      rule: `gate/${r.rule}`,
      severity: c.status === 'fail' ? ('error' as const) : ('warning' as const),
      message: r.message,
      ...(r.hint ? { help: r.hint } : {}),
    })),
  );
  // For a server elsewhere nothing changed: what `check` would say is the truth, as warnings until installed.
  const a = data.apply;
  const findings: Finding[] = [...refused, ...(a ? settingFindings(a.after.checks).map((f) => (a.remote ? { ...f, severity: 'warning' as const } : f)) : [])];
  const verdict = verdictOf(findings);
  return { verdict, findings, data };
}

export function render(result: StepResult<SettingsApplyResult>): string {
  const r = result.data;
  const lines: string[] = [];
  if (r.gate) {
    lines.push(`Gate of the settings change on ${r.environment}: ${r.gate.decision === 'allowed' ? 'allowed' : 'REFUSED'}.`);
    for (const c of r.gate.checks) {
      lines.push(`  ${c.name}: ${c.status}, ${c.summary}`);
      for (const reason of c.reasons) lines.push(`    ${reason.message}${reason.hint ? ` Fix: ${reason.hint}` : ''}`);
    }
    if (r.gate.breakGlass) lines.push(`  BREAK-GLASS by ${r.gate.breakGlass.by}: ${r.gate.breakGlass.reason}`);
    lines.push('');
  }
  const d = r.apply;
  if (d?.remote) {
    lines.push(
      `${d.database} is not on this machine: nothing was changed. Install this as dbops-settings.conf beside its postgresql.conf, add \`include_if_exists = 'dbops-settings.conf'\` at the end of postgresql.conf, reload (SELECT pg_reload_conf()), then run \`dbops settings check\`:`,
      '',
      ...d.text
        .trimEnd()
        .split('\n')
        .map((l) => `  ${l}`),
      '',
    );
  } else if (d) {
    lines.push(
      d.actions.length === 0
        ? `Settings of ${d.database} (environment ${d.environment}): already as policies/postgresql.yaml wants; nothing was changed.`
        : `Settings of ${d.database} (environment ${d.environment}): ${d.actions.join('; ')}.`,
      '',
    );
  } else lines.push('Nothing was changed.');
  if (d) lines.push(...settingsTable(d.after.checks));
  if (d && !d.remote && d.needsRestart.length > 0)
    lines.push('', `Restart PostgreSQL for ${names(d.needsRestart)}: dbops does not restart a server; until then it runs with the old values.`);
  if (r.bundle) lines.push('', `Evidence: bundle #${r.bundle.sequence} of ${r.bundle.environment} (${r.bundle.key}), SHA-256 ${r.bundle.sha256}.`);
  return `${lines.join('\n')}\n`;
}
