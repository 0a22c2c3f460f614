import type { StepContext } from '../../../cli/contract.ts';
import { plural } from '../../../core/format.ts';
import { type Finding, type StepResult, verdictOf } from '../../../core/result.ts';
import { surveySettings, type SettingsCheckData } from '../../../operations/settings/index.ts';
import { environmentTarget } from '../../flags.ts';
import type { SettingsCheckInputs } from './spec.ts';
import { settingFindings, settingsTable } from '../../../report/index.ts';

/** `dbops settings check`: fails (exit 1) on drift, an unknown or an invalid setting; a pending restart warns. */
export async function run(input: SettingsCheckInputs, ctx: StepContext): Promise<StepResult<SettingsCheckData>> {
  const { postgresql, backups } = await ctx.policies('postgresql', 'backups');
  const { target, environment } = await environmentTarget(input, ctx, 'and its entry of policies/postgresql.yaml');
  const name = environment?.name ?? 'local';
  const survey = await surveySettings(target, { postgresql: postgresql.value, backups: backups.value }, name, ctx);
  const findings: Finding[] = settingFindings(survey.plan.checks);
  const verdict = verdictOf(findings);
  return { verdict, findings, data: { database: target.display, ...survey.plan, notes: survey.notes } };
}

export function render(result: StepResult<SettingsCheckData>): string {
  const d = result.data;
  const c = d.counts;
  const lines = [
    `Settings of ${d.database} against policies/postgresql.yaml (environment ${d.environment}${d.advised ? ', with the tuning advice of its resources' : ', no resources declared: no advice'}): ${plural(d.checks.length, 'setting')}, ${c['ok'] ?? 0} ok, ${c['drift'] ?? 0} drifted, ${c['pending-restart'] ?? 0} waiting for a restart, ${(c['unknown'] ?? 0) + (c['invalid'] ?? 0)} unknown or invalid. Nothing was changed.`,
    '',
    ...settingsTable(d.checks),
  ];
  for (const n of d.notes) lines.push('', `Note: ${n}.`);
  return `${lines.join('\n')}\n`;
}
