import { resolveEnvironment } from '../../../change/release/index.ts';
import { reconcileEnvironment, type EvidenceReconcileData, openEvidence } from '../../../evidence/index.ts';
import type { EvidenceReconcileInputs } from './spec.ts';
import type { StepResult } from '../../../core/result.ts';
import type { StepContext } from '../../../cli/contract.ts';
import { noun } from '../../../core/format.ts';

/** `dbops evidence reconcile --environment NAME`: the database's migration history against the evidence. */
export async function run(input: EvidenceReconcileInputs, ctx: StepContext): Promise<StepResult<EvidenceReconcileData>> {
  const { environments, backups } = await ctx.policies('environments', 'backups');
  const environment = resolveEnvironment(environments.value, input.environment, ctx.env, input.schema);
  const store = openEvidence({ environments: environments.value, backups: backups.value }, environment.name, ctx.env, ctx.log);
  return reconcileEnvironment(environment, store, ctx.log);
}

const MARK = { explained: '✔', outside: '✘', 'before-evidence': '–' } as const;

export function render(result: StepResult<EvidenceReconcileData>): string {
  const d = result.data;
  const lines = [
    `Reconciling ${d.environment} (${d.database}) with its evidence: ${d.chain.bundles} ${noun(d.chain.bundles, 'bundle')}, chain ${d.chain.ok ? 'verifies' : `BROKEN (${d.chain.firstProblem})`}.`,
    '',
  ];
  const width = Math.max(9, ...d.rows.map((r) => r.migration.length));
  for (const r of d.rows) {
    const why =
      r.status === 'explained' ? `bundle ${r.bundle}` : r.status === 'outside' ? 'OUTSIDE THE PIPELINE: no bundle covers it' : 'before the evidence starts';
    lines.push(`  ${MARK[r.status]} ${r.migration.padEnd(width)}  ${r.event.padEnd(11)}  ${r.at}  ${why}`);
  }
  if (d.rows.length === 0) lines.push('  (no migration recorded in _prisma_migrations)');
  const outside = d.rows.filter((r) => r.status === 'outside').length;
  lines.push(
    '',
    outside === 0 && d.chain.ok
      ? 'Every recorded change is explained by the evidence.'
      : `${outside} ${noun(outside, 'change')} made outside the pipeline${d.chain.ok ? '' : '; the evidence chain is broken'}.`,
  );
  return `${lines.join('\n')}\n`;
}
