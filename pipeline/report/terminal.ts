import type { Logger } from '../core/logger.ts';
import { countFindings, locationText, worstVerdict } from './findings.ts';
import type { LoadedReport } from './store.ts';
import { formatMs, plural } from '../core/format.ts';
import { type StepResult } from '../core/result.ts';

/** The findings of a report as plain lines: for steps whose own renderer is not available. */
export function genericRender(report: LoadedReport['report']): string {
  if (report.findings.length === 0) return report.error ? '' : 'No findings.\n';
  return `${report.findings
    .map((f) => {
      const where = locationText(f);
      return `  ${f.severity.padEnd(7)} ${f.rule}${where ? `  ${where}` : ''}\n          ${f.message.replace(/\n/g, '\n          ')}${f.help ? `\n          fix: ${f.help}` : ''}`;
    })
    .join('\n')}\n`;
}

/** What `dbops report` needs of a command of the CLI's registry: its report name and its module's renderer. */
export interface ReportRenderer {
  report?: string | undefined;
  inputs: { safeParse(value: unknown): { success: true; data: unknown } | { success: false } };
  load(): Promise<{ render(result: StepResult<unknown>, input: never): string }>;
}

/**
 * Each report printed the way its own command prints it (the step module's render, loaded through the
 * registry entry that writes that report), so `dbops report` on a downloaded artifact reads like the
 * original run. A step whose module cannot render it (not installed in this version, or a report with no
 * data because the step stopped) falls back to a list of findings.
 */
export async function renderTerminal(reports: LoadedReport[], commands: readonly ReportRenderer[], log: Logger): Promise<string> {
  const out: string[] = [];
  for (const { file, report } of reports) {
    const c = countFindings(report.findings);
    const counts = [plural(c.error, 'error'), plural(c.warning, 'warning'), plural(c.notice, 'notice')].join(', ');
    out.push(
      `── ${report.command} ── ${report.verdict}${report.exitCode > 1 ? ` (exit ${report.exitCode})` : ''} · ${counts} · ${formatMs(report.durationMs)} · commit ${report.commit?.slice(0, 12) ?? 'unknown'} · ${file}\n`,
    );
    if (report.error)
      out.push(
        `Stopped${report.error.code ? ` (${report.error.code})` : ''}: ${report.error.message}\n${report.error.hint ? `Fix: ${report.error.hint}\n` : ''}`,
      );
    let rendered: string | undefined;
    const spec = commands.find((s) => s.report === report.step);
    if (spec && report.data !== null) {
      try {
        const step = await spec.load();
        const input = spec.inputs.safeParse({});
        const result: StepResult<unknown> = {
          verdict: report.verdict,
          findings: report.findings,
          data: report.data,
          exitCode: report.exitCode as StepResult<unknown>['exitCode'],
          error: report.error,
        };
        rendered = step.render(result, (input.success ? input.data : {}) as never);
      } catch (e) {
        log.debug({ step: report.step, err: (e as Error).message }, 'the step cannot render its report; listing its findings instead');
      }
    }
    out.push(rendered ?? genericRender(report), '\n');
  }
  const verdict = worstVerdict(reports.map((r) => r.report.verdict));
  out.push(`dbops report: ${verdict} (${reports.map((r) => `${r.report.step} ${r.report.verdict}`).join(', ')})\n`);
  return out.join('');
}
