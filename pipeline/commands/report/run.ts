import { resolve } from 'node:path';
import { ConfigError, ExitCode } from '../../core/errors.ts';
import { DBOPS_VERSION } from '../../core/version.ts';
import { inGitHubActions } from '../../infra/github/env.ts';
import type { ReportInputs } from './spec.ts';
import {
  allFindings,
  countFindings,
  worstVerdict,
  type Counts,
  renderMarkdown,
  toSarif,
  REPORT_STEPS,
  readReports,
  type LoadedReport,
  renderTerminal,
} from '../../report/index.ts';
import { assertWritableFile, writeFileAtomic } from '../../core/fs.ts';
import type { StepContext } from '../../cli/contract.ts';
import type { StepResult, Verdict } from '../../core/result.ts';
import { redactDeep } from '../../core/redact.ts';

export interface ReportData {
  reportsDir: string;
  format: ReportInputs['format'];
  steps: Array<{ step: string; file: string; verdict: Verdict; exitCode: number; commit: string | null; finishedAt: string; counts: Counts }>;
  /** The rendering in the requested format. */
  rendered: string;
  /** The file it was written to (--output). */
  output: string | null;
  /** What was published to GitHub, when it was. */
  github: import('../../cli/publish.ts').Publication | null;
}

export async function run(input: ReportInputs, ctx: StepContext): Promise<StepResult<ReportData>> {
  if (input.output) await assertWritableFile(input.output, `--output ${input.output}`);
  const loaded = await readReports(input.reportsDir, REPORT_STEPS);
  if (loaded.length === 0) {
    throw new ConfigError(`No reports in ${input.reportsDir}/: expected ${REPORT_STEPS.map((s) => `${s}.json`).join(', ')}.`, {
      hint: 'Run `dbops lint`, `dbops rollbacks check`, `dbops rehearse` or a `dbops backup` command first (they write there), or pass --reports-dir.',
    });
  }
  // Reports may come from a downloaded artifact written by another version: mask secrets again on the way out.
  const reports: LoadedReport[] = loaded.map((r) => ({ file: r.file, report: redactDeep(r.report) }));
  ctx.log.debug({ files: reports.map((r) => r.file) }, 'reports read');

  const sarif = () => `${JSON.stringify(redactDeep(toSarif(reports, DBOPS_VERSION)), null, 2)}\n`;
  const rendered =
    input.format === 'markdown' ? renderMarkdown(reports) : input.format === 'sarif' ? sarif() : await renderTerminal(reports, await ctx.commands(), ctx.log);
  if (input.output) {
    await writeFileAtomic(resolve(input.output), rendered);
    ctx.progress(`Wrote the ${input.format} report to ${input.output}`);
  }

  // Inside Actions a bare `dbops report` publishes; one that writes a file (--output) is a rendering only.
  const publish = input.github ?? (inGitHubActions(ctx.env) && !input.output);
  let github: ReportData['github'] = null;
  if (publish) {
    const { publish: toGitHub } = await import('../../cli/publish.ts');
    github = await toGitHub({ reports, reportsDir: input.reportsDir, sarif: sarif(), log: ctx.log });
  }

  const verdict = worstVerdict(reports.map((r) => r.report.verdict));
  return {
    verdict,
    findings: allFindings(reports).map(({ step: _step, path: _path, ...f }) => f),
    exitCode: verdict === 'fail' ? ExitCode.Failed : ExitCode.Ok,
    data: {
      reportsDir: input.reportsDir,
      format: input.format,
      steps: reports.map(({ file, report }) => ({
        step: report.step,
        file,
        verdict: report.verdict,
        exitCode: report.exitCode,
        commit: report.commit,
        finishedAt: report.finishedAt,
        counts: countFindings(report.findings),
      })),
      rendered,
      output: input.output ?? null,
      github,
    },
  };
}

export function render(result: StepResult<ReportData>, input: ReportInputs): string {
  const d = result.data;
  const lines: string[] = [];
  // Written to a file: the terminal still gets the readable version when that is what was asked for.
  if (!input.output || input.format === 'terminal') lines.push(d.rendered.replace(/\n?$/, '\n'));
  if (d.github) {
    const g = d.github;
    lines.push(
      `GitHub: ${g.annotations.shown} annotations${g.annotations.omitted ? ` (${g.annotations.omitted} findings over GitHub's limit not annotated)` : ''}, ` +
        `comment ${g.comment.status}${g.comment.url ? ` ${g.comment.url}` : ''}${g.comment.reason ? ` (${g.comment.reason})` : ''}, ` +
        `job summary ${g.summary}, step outputs ${g.outputs}, SARIF ${g.sarif}\n`,
    );
  }
  return lines.join('');
}
