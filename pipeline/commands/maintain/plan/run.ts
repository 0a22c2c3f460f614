import type { StepContext } from '../../../cli/contract.ts';
import { alignedTable, formatBytes, plural } from '../../../core/format.ts';
import type { Finding, StepResult } from '../../../core/result.ts';
import { surveyMaintenance, windowStatus, type MaintenancePlan, type WindowStatus } from '../../../operations/maintenance/index.ts';
import { maintenanceTarget } from '../../flags.ts';
import type { MaintainPlanInputs } from './spec.ts';

/** The plan, and with --environment the environment's maintenance window as it is now (informational). */
export type MaintainPlanData = MaintenancePlan & { environment?: string; window?: WindowStatus };

/** `dbops maintain plan`: measures and plans; the warnings are findings, and the verdict never fails (exit 0). */
export async function run(input: MaintainPlanInputs, ctx: StepContext): Promise<StepResult<MaintainPlanData>> {
  const { maintenance } = await ctx.policies('maintenance');
  const { target, environment, window } = await maintenanceTarget(input, ctx);
  const { plan } = await surveyMaintenance(target, maintenance.value, ctx, input.only ?? 'all');
  const findings: Finding[] = plan.warnings.map((w) => ({ rule: `maintain/${w.kind}`, severity: 'warning', message: w.message }));
  const data: MaintainPlanData = { ...plan, ...(environment ? { environment } : {}), ...(window ? { window: windowStatus(window, new Date()) } : {}) };
  return { verdict: findings.length > 0 ? 'warn' : 'pass', findings, data };
}

const number = (v: number | null | undefined): string => (v === null || v === undefined ? '–' : Number.isInteger(v) ? String(v) : v.toFixed(3));

/** The measurement in a line: the ratios and counts the decision was taken on. */
function measured(m: Record<string, number | null>): string {
  return Object.entries(m)
    .map(([k, v]) => `${k}=${/Bytes$|^bytes$/.test(k) ? formatBytes(v) : number(v)}`)
    .join(' ');
}

export function render(result: StepResult<MaintainPlanData>): string {
  const p = result.data;
  const lines: string[] = [
    `Maintenance plan for ${p.database} at ${p.at} (${plural(p.measured.tables, 'table')}, ${plural(p.measured.indexes, 'index', 'indexes')} measured; ${
      p.pgstattuple ? 'exact measures by pgstattuple' : 'pgstattuple not installed: index bloat is estimated'
    }). Nothing was changed.`,
    '',
  ];
  if (p.environment)
    lines.push(
      p.window
        ? `Environment ${p.environment}: ${p.window.summary}.`
        : `Environment ${p.environment}: no maintenance window in policies/maintenance.yaml (runs any time).`,
      '',
    );
  if (p.scope !== 'all')
    lines.push(
      `Only the ${p.scope === 'tables' ? 'table actions (vacuum-analyze, analyze)' : 'index actions (reindex, drop-invalid)'}: --only ${p.scope}.`,
      '',
    );
  if (p.actions.length === 0) lines.push('No maintenance needed by policies/maintenance.yaml.');
  else {
    const rows = p.actions.map((a, n) => [String(n + 1), a.kind, a.target, formatBytes(a.expectedGainBytes), a.method, a.reason]);
    lines.push(...alignedTable(['#', 'ACTION', 'TARGET', 'GAIN', 'MEASURED BY', 'REASON'], rows, new Set([0, 3])));
    lines.push('', 'Measurements:');
    for (const [n, a] of p.actions.entries()) lines.push(`  ${n + 1}. ${a.sql}`, `     ${measured(a.measurement)}`);
    lines.push('', `  ${formatBytes(p.expectedGainBytes)} expected in total.`);
  }
  if (p.excluded.length > 0) lines.push('', `Excluded by exclude_tables: ${p.excluded.join(', ')}.`);
  if (p.warnings.length > 0) {
    lines.push('', `${plural(p.warnings.length, 'warning')}:`);
    for (const w of p.warnings) lines.push(`  ${w.kind}: ${w.message}`);
  }
  return `${lines.join('\n')}\n`;
}
