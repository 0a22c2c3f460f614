import { alignedTable, plural } from '../core/format.ts';
import type { Finding } from '../core/result.ts';
import type { QueriesReportData } from '../operations/queries/index.ts';

/** How `queries report` shows a review: the terminal lines, its findings, and the Markdown of the job summary. */

const flat = (q: string, max = 90) => {
  const one = q.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
};
const ms = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(2));

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

const cell = (t: string) => t.replaceAll('|', '\\|').replace(/\s+/g, ' ');

/** The job summary's section: regressions, slow statements, index findings. */
export function queriesMarkdown(d: QueriesReportData): string {
  const s = d.statements;
  const out = [
    `### Queries of ${cell(d.database)}${d.environment ? ` (${cell(d.environment)})` : ''}`,
    '',
    s.from ? `From ${s.from.at} (${cell(s.from.label)}) to ${s.to.at}.` : `First snapshot: everything since the counters started, to ${s.to.at}.`,
    '',
    ...s.breaks.map((b) => `> Counter break: ${cell(b.message)}.`),
  ];
  const table = (head: string[], rows: string[][]) => [
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ];
  if (s.regressions.length > 0)
    out.push(
      '',
      `**${plural(s.regressions.length, 'regression')}**`,
      '',
      ...table(
        ['queryid', 'calls', 'mean ms', 'before ms', 'ratio', 'statement'],
        s.regressions.map((r) => [r.queryid, String(r.calls), ms(r.meanMs), ms(r.before.meanMs), String(r.ratio ?? '∞'), `\`${flat(r.query, 120)}\``]),
      ),
    );
  if (s.slow.length > 0)
    out.push(
      '',
      `**${plural(s.slow.length, 'slow statement')}**`,
      '',
      ...table(
        ['queryid', 'calls', 'mean ms', 'newly slow', 'statement'],
        s.slow.map((r) => [r.queryid, String(r.calls), ms(r.meanMs), r.newlySlow ? 'yes' : 'no', `\`${flat(r.query, 120)}\``]),
      ),
    );
  if (s.regressions.length === 0 && s.slow.length === 0) out.push('', 'No regression and no slow statement.');
  if (d.indexes.findings.length > 0) out.push('', '**Index usage**', '', ...d.indexes.findings.map((f) => `- ${f.kind}: ${cell(f.message)} (\`${f.fix}\`)`));
  return out.join('\n');
}
