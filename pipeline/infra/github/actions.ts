import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as core from '@actions/core';
import * as github from '@actions/github';
import type { Logger } from '../../core/logger.ts';
import { registerSecret } from '../../core/redact.ts';
import { allFindings, countFindings, worstVerdict } from '../../report/findings.ts';
import { COMMENT_MARKER, renderMarkdown } from '../../report/markdown.ts';
import { writeFileAtomic } from '../../core/fs.ts';
import type { LoadedReport } from '../../report/store.ts';
import { planAnnotations } from './annotations.ts';
import { upsertComment, type GitHubApi } from './comment.ts';

/**
 * The GitHub adapter: the only module that talks to the Actions runtime (@actions/core: annotations, job
 * summary, step outputs) and the REST API (@actions/github: the sticky PR comment). Both libraries read
 * process.env (GITHUB_TOKEN, GITHUB_EVENT_PATH, GITHUB_REPOSITORY, GITHUB_API_URL, GITHUB_OUTPUT,
 * GITHUB_STEP_SUMMARY), so this module is imported only when publishing.
 */

/** GitHub rejects comments over 65,536 characters; the margin covers counting differences. */
export const COMMENT_LIMIT = 65_000;
/** A step summary may be up to 1 MiB. */
export const SUMMARY_LIMIT = 1_000_000;

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
  comment: { status: 'created' | 'updated' | 'skipped' | 'failed'; url: string | null; reason?: string };
  summary: 'written' | 'skipped';
  outputs: 'written' | 'skipped';
}

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

async function publishComment(body: string, log: Logger): Promise<Publication['comment']> {
  const token = process.env['GITHUB_TOKEN'];
  if (!token) {
    log.info('GITHUB_TOKEN is not set: skipping the pull request comment (pass `env: GITHUB_TOKEN: ${{ github.token }}` to the step)');
    return { status: 'skipped', url: null, reason: 'no GITHUB_TOKEN' };
  }
  // Never printed: anything that echoes it (an error message) is masked from here on.
  registerSecret(token);
  const { context } = github;
  const pr = context.payload.pull_request?.number;
  if (!pr) {
    log.info({ event: context.eventName }, `skipping the pull request comment: the ${context.eventName || 'current'} event is not a pull request`);
    return { status: 'skipped', url: null, reason: `${context.eventName || 'unknown'} event` };
  }
  try {
    const { owner, repo } = context.repo;
    const octokit = github.getOctokit(token, {
      baseUrl: process.env['GITHUB_API_URL'] || 'https://api.github.com',
      log: { debug: () => {}, info: () => {}, warn: (m: string) => log.warn(m), error: (m: string) => log.error(m) },
    });
    const api: GitHubApi = {
      paginate: (route, params) => octokit.paginate(route, params) as Promise<unknown[]>,
      request: (route, params) => octokit.request(route, params),
    };
    const done = await upsertComment(api, { owner, repo, issue: pr }, body);
    log.info({ url: done.url }, done.status === 'created' ? 'posted the report on the pull request' : 'updated the report comment on the pull request');
    return { status: done.status, url: done.url };
  } catch (e) {
    const status = (e as { status?: number }).status;
    const reason = `${status ? `HTTP ${status}: ` : ''}${(e as Error).message}`;
    log.warn(
      { status },
      `could not publish the pull request comment (${reason}). ${status === 403 || status === 404 ? 'The job needs `permissions: pull-requests: write`; pull requests from forks get a read-only token.' : ''}`.trim(),
    );
    return { status: 'failed', url: null, reason };
  }
}

export async function publish({ reports, reportsDir, sarif, log }: PublishOptions): Promise<Publication> {
  const findings = allFindings(reports);
  const plan = planAnnotations(findings);
  const notes =
    plan.omitted > 0
      ? [`ℹ️ GitHub shows at most 10 error and 10 warning annotations per step: ${plan.omitted} of ${findings.length} findings are not annotated on the files. All of them are listed here and in code scanning (SARIF).`]
      : [];

  const sarifPath = join(reportsDir, 'dbops.sarif');
  await writeFileAtomic(sarifPath, sarif);

  const emit = { error: core.error, warning: core.warning, notice: core.notice };
  for (const { severity, message, ...properties } of plan.shown) emit[severity](message, properties);

  const comment = await publishComment(renderMarkdown(reports, { notes, prefix: `${COMMENT_MARKER}\n`, limit: COMMENT_LIMIT }), log);

  // Each channel on its own: a missing summary file must not cost the step outputs, and neither may
  // turn a finished report into a crash.
  let summary: Publication['summary'] = 'skipped';
  if (process.env['GITHUB_STEP_SUMMARY']) {
    try {
      await core.summary.addRaw(renderMarkdown(reports, { notes, limit: SUMMARY_LIMIT, measure: bytes })).write();
      summary = 'written';
    } catch (e) {
      log.warn(`could not write the job summary: ${(e as Error).message}`);
    }
  } else log.info('GITHUB_STEP_SUMMARY is not set: no job summary');

  let outputs: Publication['outputs'] = 'skipped';
  if (process.env['GITHUB_OUTPUT']) {
    try {
      const counts = countFindings(findings);
      core.setOutput('verdict', worstVerdict(reports.map((r) => r.report.verdict)));
      core.setOutput('errors', counts.error);
      core.setOutput('warnings', counts.warning);
      core.setOutput('notices', counts.notice);
      core.setOutput('comment-url', comment.url ?? '');
      outputs = 'written';
    } catch (e) {
      log.warn(`could not write the step outputs: ${(e as Error).message}`);
    }
  } else log.info('GITHUB_OUTPUT is not set: no step outputs');

  return { sarif: sarifPath, annotations: { shown: plan.shown.length, omitted: plan.omitted }, comment, summary, outputs };
}

/**
 * Appends Markdown to the job summary of the environment given (the command's own, which in-process runs
 * keep apart from process.env). The file protocol is core.summary's: UTF-8 appended to $GITHUB_STEP_SUMMARY,
 * so other steps of the job keep their parts; core.summary itself reads process.env only, hence the write here.
 */
export async function appendJobSummary(markdown: string, env: NodeJS.ProcessEnv = process.env): Promise<'written' | 'skipped'> {
  const path = env['GITHUB_STEP_SUMMARY'];
  if (!path) return 'skipped';
  await appendFile(path, `${markdown.replace(/\n*$/, '')}\n\n`, 'utf8');
  return 'written';
}
