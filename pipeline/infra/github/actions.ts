import { appendFile } from 'node:fs/promises';
import * as core from '@actions/core';
import * as github from '@actions/github';
import type { Logger } from '../../core/logger.ts';
import { registerSecret } from '../../core/redact.ts';
import { upsertComment, type GitHubApi } from './comment.ts';

/**
 * The Actions runtime adapter: with approvals.ts and comment.ts the only code that talks to the Actions runtime (@actions/core: annotations, job
 * summary, step outputs) and the REST API (@actions/github: the sticky PR comment). Both libraries read
 * process.env (GITHUB_TOKEN, GITHUB_EVENT_PATH, GITHUB_REPOSITORY, GITHUB_API_URL, GITHUB_OUTPUT,
 * GITHUB_STEP_SUMMARY), so this module is imported only when publishing.
 */

/** GitHub rejects comments over 65,536 characters; the margin covers counting differences. */
export const COMMENT_LIMIT = 65_000;
/** A step summary may be up to 1 MiB. */
export const SUMMARY_LIMIT = 1_000_000;

export interface CommentPublication {
  status: 'created' | 'updated' | 'skipped' | 'failed';
  url: string | null;
  reason?: string;
}

/** What an annotation says and where (GitHub's AnnotationProperties plus the level and message). */
export interface Annotation {
  severity: 'error' | 'warning' | 'notice';
  message: string;
  title: string;
  file?: string;
  startLine?: number;
  endLine?: number;
  startColumn?: number;
  endColumn?: number;
}

/** Creates or updates dbops' sticky comment on the pull request of the run; never throws, says why it did not. */
export async function publishComment(body: string, log: Logger): Promise<CommentPublication> {
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

/** Annotations on the files of the run (error, warning, notice lines of the Actions runtime). */
export function annotate(annotations: readonly Annotation[]): void {
  const emit = { error: core.error, warning: core.warning, notice: core.notice };
  for (const { severity, message, ...properties } of annotations) emit[severity](message, properties);
}

/** Step outputs (GITHUB_OUTPUT). */
export function setOutputs(values: Record<string, string | number>): void {
  for (const [key, value] of Object.entries(values)) core.setOutput(key, value);
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
