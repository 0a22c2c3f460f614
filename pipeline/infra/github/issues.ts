import { getOctokit } from '@actions/github';
import type { Logger } from '../../core/logger.ts';
import { redact, registerSecret } from '../../core/redact.ts';
import type { GitHubApi } from './comment.ts';

/**
 * Issues of the repository (monitoring's alerts): create one, comment on it, close it by number. The same
 * Octokit-style API the sticky comment uses, so tests pass a fake or point GITHUB_API_URL at a loopback server.
 * Token and repository come from the `env` argument (GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL), never
 * process.env; the token is registered as a secret before anything can print it.
 */

export interface IssueClient {
  /** `owner/name`, for messages. */
  repository: string;
  create(issue: { title: string; body: string; labels: string[] }): Promise<{ number: number; url: string }>;
  comment(number: number, body: string): Promise<{ url: string }>;
  /** Comments (when a body is given), then closes the issue as completed. */
  close(number: number, body?: string): Promise<void>;
}

const REQUEST_TIMEOUT_MS = 30_000;

export function issueClient(api: GitHubApi, owner: string, repo: string): IssueClient {
  return {
    repository: `${owner}/${repo}`,
    async create({ title, body, labels }) {
      const { data } = await api.request('POST /repos/{owner}/{repo}/issues', { owner, repo, title, body, labels });
      const issue = data as { number: number; html_url: string };
      return { number: issue.number, url: issue.html_url };
    },
    async comment(number, body) {
      const { data } = await api.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', { owner, repo, issue_number: number, body });
      return { url: (data as { html_url: string }).html_url };
    },
    async close(number, body) {
      if (body) await api.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', { owner, repo, issue_number: number, body });
      await api.request('PATCH /repos/{owner}/{repo}/issues/{issue_number}', { owner, repo, issue_number: number, state: 'closed', state_reason: 'completed' });
    },
  };
}

/** The client for GITHUB_REPOSITORY with GITHUB_TOKEN, or why there is none (never throws). */
export function issueClientFromEnv(env: NodeJS.ProcessEnv, log: Logger): IssueClient | { unavailable: string } {
  const token = env['GITHUB_TOKEN'];
  if (!token) return { unavailable: 'GITHUB_TOKEN is not set' };
  registerSecret(token);
  const repository = env['GITHUB_REPOSITORY'] ?? '';
  const [owner, repo, ...rest] = repository.split('/');
  if (!owner || !repo || rest.length > 0)
    return { unavailable: repository ? `GITHUB_REPOSITORY "${repository}" is not owner/name` : 'GITHUB_REPOSITORY is not set' };
  const octokit = getOctokit(token, {
    baseUrl: (env['GITHUB_API_URL'] || 'https://api.github.com').replace(/\/+$/, ''),
    log: { debug: () => {}, info: () => {}, warn: (m: string) => log.warn(redact(m)), error: (m: string) => log.error(redact(m)) },
  });
  octokit.hook.before('request', (options) => {
    options.request = { ...options.request, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) };
  });
  const api: GitHubApi = {
    paginate: (route, params) => octokit.paginate(route, params) as Promise<unknown[]>,
    request: (route, params) => octokit.request(route, params),
  };
  return issueClient(api, owner, repo);
}

/** An API error as one redacted line: `HTTP 403: Resource not accessible by integration`. */
export function githubErrorReason(e: unknown): string {
  const status = (e as { status?: number }).status;
  return redact(`${status ? `HTTP ${status}: ` : ''}${(e as Error).message}`);
}
