import type { StepContext } from '../../../cli/contract.ts';
import { UsageError } from '../../../core/errors.ts';
import type { Finding, StepResult } from '../../../core/result.ts';
import { notifyReview, recordQueryReview, reviewQueries, reviewVerdict, type QueriesReportData } from '../../../operations/queries/index.ts';
import { alignedTable, oneLine, plural, statementMs } from '../../../core/format.ts';
import { queriesTarget } from '../../flags.ts';
import type { QueriesReportInputs } from './spec.ts';

const flat = (q: string, max = 90) => oneLine(q, max);
const ms = statementMs;

/** Regressions and newly slow statements are warnings; counter breaks, unjudged indexes and index findings are notices. */
export function queriesFindings(d: QueriesReportData): Finding[] {
  const s = d.statements;
  return [
    ...s.regressions.map((r): Finding => ({
      rule: 'queries/regression',
      severity: 'warning',
      message: `statement ${r.queryid} regressed: mean ${ms(r.meanMs)} ms over ${r.calls} calls, was ${ms(r.before.meanMs)} ms (×${r.ratio ?? '∞'}): ${flat(r.query)}`,
    })),
    ...s.slow.map((r): Finding => ({
      rule: 'queries/slow',
      severity: r.newlySlow ? 'warning' : 'notice',
      message: `statement ${r.queryid} is ${r.newlySlow ? 'newly ' : ''}slow: mean ${ms(r.meanMs)} ms over ${r.calls} calls: ${flat(r.query)}`,
    })),
    ...s.breaks.map((b): Finding => ({ rule: 'queries/counter-break', severity: 'notice', message: b.message })),
    ...d.indexes.findings.map((f): Finding => ({ rule: `queries/${f.kind}`, severity: 'notice', message: `${f.message}. Fix: ${f.fix}` })),
  ];
}

function statementRows(list: QueriesReportData['statements']['top']): string[][] {
  return list.map((r) => [r.queryid, String(r.calls), ms(r.meanMs), ms(r.totalMs), flat(r.query, 70)]);
}

export function queriesLines(d: QueriesReportData): string[] {
  const s = d.statements;
  const lines = [
    `Queries of ${d.database}${d.environment ? ` (${d.environment})` : ''}: ${
      s.from ? `${s.from.at} (${s.from.label}) → ${s.to.at}` : `everything since the counters started (first snapshot), to ${s.to.at}`
    }; ${plural(s.totals.statements, 'statement')}, ${s.totals.calls} calls, ${ms(s.totals.totalMs)} ms.`,
  ];
  for (const b of s.breaks) lines.push(`Counter break: ${b.message}.`);
  lines.push('');
  if (s.regressions.length > 0) {
    lines.push(`${plural(s.regressions.length, 'regression')}:`);
    lines.push(
      ...alignedTable(
        ['QUERYID', 'CALLS', 'MEAN ms', 'BEFORE ms', 'RATIO', 'STATEMENT'],
        s.regressions.map((r) => [r.queryid, String(r.calls), ms(r.meanMs), ms(r.before.meanMs), String(r.ratio ?? '∞'), flat(r.query, 70)]),
      ),
      '',
    );
  } else lines.push('No regression.', '');
  if (s.slow.length > 0)
    lines.push(
      `${plural(s.slow.length, 'slow statement')} (mean ≥ slow.mean over the interval):`,
      ...alignedTable(['QUERYID', 'CALLS', 'MEAN ms', 'TOTAL ms', 'STATEMENT'], statementRows(s.slow)),
      '',
    );
  else lines.push('No slow statement.', '');
  if (s.top.length > 0) lines.push('Top by total time:', ...alignedTable(['QUERYID', 'CALLS', 'MEAN ms', 'TOTAL ms', 'STATEMENT'], statementRows(s.top)), '');
  if (s.newStatements.length > 0) lines.push(`${plural(s.newStatements.length, 'new statement')} in the interval.`, '');
  const ix = d.indexes;
  lines.push(`Index usage (scans summed over ${ix.nodes.join(', ')}):`);
  if (ix.findings.length === 0) lines.push('  nothing to report.');
  for (const f of ix.findings) {
    lines.push(`  ${f.kind}: ${f.message}`, `    fix: ${f.fix}`);
    const w = f['whatIf'] as { measured: boolean; costBefore?: number; costAfter?: number; usesIndex?: boolean; reason?: string } | undefined;
    if (w)
      lines.push(
        w.measured
          ? `    what-if (hypopg): plan cost ${w.costBefore} → ${w.costAfter}${w.usesIndex ? ', the planner uses the index' : ', the planner would not use it'}`
          : `    what-if: ${w.reason}`,
      );
  }
  for (const n of ix.notJudged) lines.push(`  not judged yet: ${n.index}: ${n.reason}`);
  lines.push('');
  for (const st of d.snapshot) lines.push(`Snapshot stored ${st.place === 'local' ? 'locally' : 'beside the evidence'}: ${st.location} ${st.key}`);
  if (d.evidence) lines.push(`Query-review bundle #${d.evidence.sequence}: ${d.evidence.key}`);
  if (d.notification) lines.push(`Notification: ${d.notification.status}${d.notification.reason ? ` (${d.notification.reason})` : ''}.`);
  return lines;
}

/** `dbops queries report`: a review is information; its findings are warnings and it exits 0. */
export async function run(input: QueriesReportInputs, ctx: StepContext): Promise<StepResult<QueriesReportData>> {
  if (input.sinceDeploy !== undefined && input.environment === undefined)
    throw new UsageError('--since-deploy needs --environment: the deploy and its snapshot are in that environment’s evidence.', {
      hint: 'dbops queries report --environment production --since-deploy 42',
    });
  const { queries } = await ctx.policies('queries');
  const target = await queriesTarget(input, ctx);
  const review = await reviewQueries(target, queries.value, { sinceDeploy: input.sinceDeploy }, ctx);
  let evidence: QueriesReportData['evidence'] = null;
  if (input.sinceDeploy !== undefined) {
    const { backups, environments } = await ctx.policies('backups', 'environments');
    // GitHub's client loads only for the bundle, which names the run.
    const { runIdentity } = await import('../../../infra/github/approvals.ts');
    const stored = await recordQueryReview(target, review, { backups: backups.value, environments: environments.value }, runIdentity(ctx.env), ctx);
    evidence = { sequence: stored.bundle.sequence, key: stored.key, sha256: stored.bundle.sha256 };
    await ctx.summarize(stored.markdown).catch((e: unknown) => ctx.log.warn(`could not write the job summary: ${(e as Error).message}`));
  }
  const notification = input.notify ? await notifyReview(review, queries.value, ctx) : null;
  if (notification?.status === 'failed') ctx.log.warn({ host: notification.host }, `the queries notification was not delivered: ${notification.reason}`);
  const data: QueriesReportData = { ...review, verdict: reviewVerdict(review), evidence, notification };
  const findings: Finding[] = queriesFindings(data);
  return { verdict: findings.some((f) => f.severity === 'warning') ? 'warn' : 'pass', findings, data };
}

export const render = (result: StepResult<QueriesReportData>): string => `${queriesLines(result.data).join('\n')}\n`;
