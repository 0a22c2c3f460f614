import { join } from 'node:path';
import { writeFileAtomic } from '../core/fs.ts';
import type { Logger } from '../core/logger.ts';
import { annotate, COMMENT_LIMIT, publishComment, setOutputs, SUMMARY_LIMIT, appendJobSummary, type CommentPublication } from '../infra/github/actions.ts';
import { COMMENT_MARKER } from '../infra/github/comment.ts';
import { allFindings, countFindings, worstVerdict, renderMarkdown, type LoadedReport } from '../report/index.ts';
import { planAnnotations } from './annotations.ts';

/**
 * Publishing a run's reports to GitHub: annotations, the sticky pull request comment, the job summary,
 * step outputs and the SARIF file. The reports are rendered here; infra/github only talks to GitHub.
 */

export interface PublishOptions {
  reports: LoadedReport[];
  reportsDir: string;
  /** The SARIF log, already rendered and redacted. */
  sarif: string;
  log: Logger;
}

export interface Publication {
  sarif: string;
  annotations: { shown: number; omitted: number };
  comment: CommentPublication;
  summary: 'written' | 'skipped';
  outputs: 'written' | 'skipped';
}

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

export async function publish({ reports, reportsDir, sarif, log }: PublishOptions): Promise<Publication> {
  const findings = allFindings(reports);
  const plan = planAnnotations(findings);
  const notes =
    plan.omitted > 0
      ? [
          `ℹ️ GitHub shows at most 10 error and 10 warning annotations per step: ${plan.omitted} of ${findings.length} findings are not annotated on the files. All of them are listed here and in code scanning (SARIF).`,
        ]
      : [];

  const sarifPath = join(reportsDir, 'dbops.sarif');
  await writeFileAtomic(sarifPath, sarif);

  annotate(plan.shown);

  const comment = await publishComment(renderMarkdown(reports, { notes, prefix: `${COMMENT_MARKER}\n`, limit: COMMENT_LIMIT }), log);

  // Each channel on its own: a missing summary file must not cost the step outputs, and neither may
  // turn a finished report into a crash.
  let summary: Publication['summary'] = 'skipped';
  if (process.env['GITHUB_STEP_SUMMARY']) {
    try {
      await appendJobSummary(renderMarkdown(reports, { notes, limit: SUMMARY_LIMIT, measure: bytes }));
      summary = 'written';
    } catch (e) {
      log.warn(`could not write the job summary: ${(e as Error).message}`);
    }
  } else log.info('GITHUB_STEP_SUMMARY is not set: no job summary');

  let outputs: Publication['outputs'] = 'skipped';
  if (process.env['GITHUB_OUTPUT']) {
    try {
      const counts = countFindings(findings);
      setOutputs({
        verdict: worstVerdict(reports.map((r) => r.report.verdict)),
        errors: counts.error,
        warnings: counts.warning,
        notices: counts.notice,
        'comment-url': comment.url ?? '',
      });
      outputs = 'written';
    } catch (e) {
      log.warn(`could not write the step outputs: ${(e as Error).message}`);
    }
  } else log.info('GITHUB_OUTPUT is not set: no step outputs');

  return { sarif: sarifPath, annotations: { shown: plan.shown.length, omitted: plan.omitted }, comment, summary, outputs };
}
