import type { StepContext } from '../../../cli/contract.ts';
import { alignedTable, formatBytes, plural } from '../../../core/format.ts';
import type { Finding, StepResult } from '../../../core/result.ts';
import { runMaintenance, windowLabel, type MaintenanceRun } from '../../../operations/maintenance/index.ts';
import { maintenanceTarget, ownSessionDatabase } from '../../flags.ts';
import type { MaintainRunInputs } from './spec.ts';

/**
 * `dbops maintain run`: fails (exit 1) when an action failed its proof or the window is closed; skipped actions
 * (a rebuild held up by a long transaction, the rest after the window closed or the budget was spent) are warnings.
 */
export async function run(input: MaintainRunInputs, ctx: StepContext): Promise<StepResult<MaintenanceRun>> {
  const { maintenance } = await ctx.policies('maintenance');
  const { target, window, environment } = await maintenanceTarget(input, ctx);
  await ownSessionDatabase(ctx, 'dbops maintain run', target, environment);
  const data = await runMaintenance(target, maintenance.value, ctx, { dryRun: input.dryRun, scope: input.only ?? 'all', ...(window ? { window } : {}) });
  const findings: Finding[] = [
    ...(data.stopped
      ? [
          {
            rule: 'maintain/stopped',
            severity: 'warning',
            message: `${data.stopped.reason}: ${plural(data.stopped.skipped, 'action')} not started; the next run picks them up`,
          } satisfies Finding,
        ]
      : []),
    ...data.outcomes
      .filter((o) => o.status !== 'ok')
      .map((o): Finding => ({
        rule: `maintain/${o.status}`,
        severity: o.status === 'failed' ? 'error' : 'warning',
        message: `${o.kind} ${o.target}: ${o.detail}`,
      })),
    ...data.plan.warnings.map((w): Finding => ({ rule: `maintain/${w.kind}`, severity: 'warning', message: w.message })),
  ];
  const verdict = data.counts.failed > 0 ? 'fail' : findings.length > 0 ? 'warn' : 'pass';
  return { verdict, findings, data };
}

export function render(result: StepResult<MaintenanceRun>): string {
  const r = result.data;
  const p = r.plan;
  const lines: string[] = [];
  const only = p.scope === 'all' ? '' : ` (--only ${p.scope})`;
  const context: string[] = [];
  if (r.window) context.push(`Window: ${r.window.summary}.`);
  if (r.pgstattuple === 'created') context.push('pgstattuple: created by this run (create_pgstattuple: true), so the plan uses exact measures.');
  if (r.pgstattuple === 'would-create') context.push('pgstattuple: not installed; the run would create it first (create_pgstattuple: true). Not created now.');
  if (r.throttle)
    context.push(
      `Throttle: vacuum_cost_delay ${r.throttle.effective.vacuumCostDelay}, vacuum_cost_limit ${r.throttle.effective.vacuumCostLimit} (as the session reports them)${
        r.budget.limit === '0' ? '; no time budget' : `; budget ${r.budget.limit} from ${r.budget.startedAt ?? '?'}`
      }.`,
    );
  if (r.stopped)
    context.push(`Stopped early: ${r.stopped.reason}, at ${windowLabel('UTC', new Date(r.stopped.at))}; ${plural(r.stopped.skipped, 'action')} not started.`);
  if (r.dryRun) {
    lines.push(`Maintenance of ${p.database}${only}, dry run: ${plural(p.actions.length, 'action')} would run. Nothing was changed.`, '');
    if (context.length > 0) lines.push(...context, '');
    if (p.actions.length === 0) lines.push('No maintenance needed by policies/maintenance.yaml.');
    for (const [n, a] of p.actions.entries())
      lines.push(`  ${n + 1}. ${a.sql}`, `     ${a.kind}: ${a.reason} (expected gain ${formatBytes(a.expectedGainBytes)})`);
  } else {
    lines.push(
      `Maintenance of ${p.database}${only}: ${r.counts.ok} ok, ${r.counts.skipped} skipped, ${r.counts.failed} failed; ${formatBytes(r.reclaimedBytes)} reclaimed in ${(r.durationMs / 1000).toFixed(1)} s.`,
      '',
    );
    if (context.length > 0) lines.push(...context, '');
    if (r.outcomes.length === 0) lines.push('No maintenance needed by policies/maintenance.yaml.');
    else {
      const rows = r.outcomes.map((o, n) => [String(n + 1), o.status.toUpperCase(), o.kind, o.target, formatBytes(o.reclaimedBytes), o.detail]);
      lines.push(...alignedTable(['#', 'RESULT', 'ACTION', 'TARGET', 'RECLAIMED', 'PROOF / REASON'], rows, new Set([0, 4])));
    }
  }
  if (p.warnings.length > 0) {
    lines.push('', `${plural(p.warnings.length, 'warning')}:`);
    for (const w of p.warnings) lines.push(`  ${w.kind}: ${w.message}`);
  }
  return `${lines.join('\n')}\n`;
}
