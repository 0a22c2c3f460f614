import type { StepContext } from '../../../cli/contract.ts';
import { UsageError } from '../../../core/errors.ts';
import { formatMs } from '../../../core/format.ts';
import type { StepResult } from '../../../core/result.ts';
import { resolveEnvironment } from '../../../change/release/index.ts';
import { openEvidenceOf } from '../../../evidence/index.ts';
import { runIdentity } from '../../../infra/github/approvals.ts';
import { runDrill, type DrillData } from '../../../protection/pitr/index.ts';
import { parseDuration } from '../../../core/duration.ts';
import type { DrDrillInputs } from './spec.ts';

/** `dbops dr drill`: the scratch primary (or an environment's repository) and the evidence chain; the drill is protection/pitr's. */
export async function run(input: DrDrillInputs, ctx: StepContext): Promise<StepResult<DrillData>> {
  const { backups, environments } = await ctx.policies('backups', 'environments');
  if (input.environment && input.scenario !== 'lost-primary')
    throw new UsageError(
      `--scenario ${input.scenario} breaks a scratch primary; with --environment nothing is broken (the environment is restored into scratch space).`,
    );
  const environment = input.environment ? resolveEnvironment(environments.value, input.environment, ctx.env) : undefined;
  const store = await openEvidenceOf({ backups: backups.value, environments: environments.value }, environment?.name, ctx.env, ctx.log);
  const data = await runDrill(
    {
      scenario: input.scenario,
      backups: backups.value,
      store,
      run: runIdentity(ctx.env),
      workloadMs: parseDuration(input.workload) ?? 5_000,
      keep: input.keep,
      source: environment?.target,
    },
    ctx,
  );
  return { verdict: data.drill.passed ? 'pass' : 'fail', findings: [], data };
}

export function render({ data }: StepResult<DrillData>): string {
  const d = data.drill;
  const met = (ok: boolean) => (ok ? 'met' : 'MISSED');
  return [
    `DR drill (${d.scenario}) of ${d.source}:`,
    ...d.phases.map((p) => `  ${p.ok ? '✓' : '✗'} ${p.name.padEnd(11)} ${formatMs(p.durationMs).padStart(9)}  ${p.message}`),
    '',
    `  RPO achieved ${d.rpo.achievedMs === null ? 'not measured (no heartbeat came back)' : formatMs(d.rpo.achievedMs)} (objective ${formatMs(d.rpo.objectiveMs)}): ${met(d.rpo.met)}`,
    `  RTO achieved ${formatMs(d.rto.achievedMs)} (objective ${formatMs(d.rto.objectiveMs)}): ${met(d.rto.met)}`,
    d.rows
      ? `  ledger rows ${d.rows.restored ?? 'none'} back of ${d.rows.expected}: ${d.rows.ok ? 'as expected' : 'NOT as expected'}`
      : '  data: judged by the heartbeat (RPO above)',
    '',
    `${d.passed ? 'Passed' : 'FAILED'}. Evidence: bundle #${data.bundle.sequence} of environment ${data.bundle.environment} (${data.bundle.key}, SHA-256 ${data.bundle.sha256}).`,
    data.kept ? `Kept for inspection: ${data.scratchDir} (the recovered cluster is still running).` : '',
    '',
  ].join('\n');
}
