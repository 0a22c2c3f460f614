import { oneLine, plural, statementMs } from '../core/format.ts';
import type { QueriesReportData } from '../operations/queries/index.ts';

/** How `dbops report` shows a queries review in the job summary (the command prints its own lines: commands/queries/report). */

const flat = (q: string, max = 90) => oneLine(q, max);
const ms = statementMs;

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
