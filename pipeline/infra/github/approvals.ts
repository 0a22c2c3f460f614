import { getOctokit } from '@actions/github';
import { EnvError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { redact, registerSecret } from '../../core/redact.ts';
import type { Approval, EnvironmentSettings, FileProvenance, PullRequest, RunIdentity } from './model.ts';
import { mapLimit } from '../../core/concurrency.ts';

/**
 * Approval facts (four-eyes itself is judged in change/release/approvals.ts). GitHub's "prevent self-review" only stops the user who started a run from
 * approving it; it does not stop the author of the pull request that wrote the migration. So dbops reads the
 * run's environment approvals and the history of the migration and rollback files itself, and refuses any
 * approval by someone who wrote, committed or triggered the change.
 *
 * Everything is read from the `env` argument, never process.env (commands run in-process in tests with their
 * own environment). That is also why @actions/github's `context` is not used: it reads process.env at import.
 */

export interface ApprovalFactsQuery {
  /** GitHub environment whose approvals are read. */
  environment: string;
  /** Repository paths (relative to the repository root) of the change's migration and rollback files. */
  files: Array<{ migration: string; path: string }>;
  /**
   * Only commits after this instant (ISO 8601) belong to the change: a file that lives on (policies/postgresql.yaml)
   * was changed by many people over the years, and only those since its last applied change wrote this one.
   */
  since?: string | undefined;
}

/** What GitHub says about a run: who approved, and who wrote, committed and reviewed the files. */
export interface ApprovalFacts {
  run: RunIdentity;
  approvals: Approval[];
  pulls: PullRequest[];
  provenance: FileProvenance[];
  /** The environment's protection settings, or null when the token may not read them (recorded, not required). */
  environmentSettings: EnvironmentSettings | null;
}

interface EnvironmentJson {
  name: string;
  can_admins_bypass?: boolean;
  protection_rules?: Array<{
    type: string;
    prevent_self_review?: boolean;
    wait_timer?: number;
    reviewers?: Array<{ type: string; reviewer?: { login?: string; slug?: string } | null }>;
  }>;
  deployment_branch_policy?: { protected_branches: boolean; custom_branch_policies: boolean } | null;
}

function settingsOf(e: EnvironmentJson): EnvironmentSettings {
  const reviewers = e.protection_rules?.find((r) => r.type === 'required_reviewers');
  return {
    name: e.name,
    canAdminsBypass: e.can_admins_bypass ?? null,
    preventSelfReview: reviewers?.prevent_self_review ?? null,
    reviewers: (reviewers?.reviewers ?? []).map((r) => (r.type === 'Team' ? `team:${r.reviewer?.slug ?? '?'}` : (r.reviewer?.login ?? '?'))),
    waitTimerMinutes: e.protection_rules?.find((r) => r.type === 'wait_timer')?.wait_timer ?? null,
    deploymentBranchPolicy: e.deployment_branch_policy
      ? { protectedBranches: e.deployment_branch_policy.protected_branches, customBranchPolicies: e.deployment_branch_policy.custom_branch_policies }
      : null,
  };
}

/** The job permissions the approval evidence needs, as they go into a workflow. */
export const APPROVAL_PERMISSIONS =
  "permissions:\n  actions: read        # the run's environment approvals\n  contents: read       # the commits that touched the migration files\n  pull-requests: read  # their pull requests and reviews";

const TOKEN_HINT = `Pass the job's token to the step and give the job read access to what four-eyes reads:\n${APPROVAL_PERMISSIONS}\nsteps:\n  - run: ./dbops deploy --environment <name>\n    env:\n      GITHUB_TOKEN: \${{ github.token }}`;

/** Default per HTTP request: a hung API must not hold the deploy job until the job's own timeout. */
const REQUEST_TIMEOUT_MS = 60_000;

/** The run this command is a step of, from GITHUB_* variables; null outside GitHub Actions. */
export function runIdentity(env: NodeJS.ProcessEnv): RunIdentity | null {
  if (env['GITHUB_ACTIONS'] !== 'true') return null;
  const required = (name: string): string => {
    const value = env[name];
    if (!value) {
      throw new EnvError(`GITHUB_ACTIONS is 'true' but ${name} is not set: dbops cannot tell which run this is.`, {
        hint: `The Actions runner sets ${name} in every step; if the step's environment is replaced (env -i, a container without the runner's variables), pass ${name} through.`,
      });
    }
    return value;
  };
  const repository = required('GITHUB_REPOSITORY');
  const runId = required('GITHUB_RUN_ID');
  const sha = required('GITHUB_SHA');
  const attempt = Number.parseInt(env['GITHUB_RUN_ATTEMPT'] ?? '', 10);
  const runAttempt = Number.isInteger(attempt) && attempt > 0 ? attempt : 1;
  const server = (env['GITHUB_SERVER_URL'] || 'https://github.com').replace(/\/+$/, '');
  const actor = env['GITHUB_ACTOR'] ?? '';
  return {
    repository,
    runId,
    runAttempt,
    runUrl: `${server}/${repository}/actions/runs/${runId}/attempts/${runAttempt}`,
    workflowRef: env['GITHUB_WORKFLOW_REF'] || null,
    workflowSha: env['GITHUB_WORKFLOW_SHA'] || null,
    event: env['GITHUB_EVENT_NAME'] ?? '',
    ref: env['GITHUB_REF'] || null,
    sha,
    actor,
    triggeringActor: env['GITHUB_TRIGGERING_ACTOR'] || actor,
  };
}

// The REST shapes dbops reads, narrowed to the fields it uses (Octokit's generated types are per route and
// far larger; these keep the mapping readable and the fixtures small).
interface UserJson {
  login: string;
}
interface ApprovalJson {
  state: string;
  comment?: string | null;
  user?: UserJson | null;
  environments?: Array<{ name?: string | null }>;
}
interface CommitJson {
  sha: string;
  author?: UserJson | null;
  committer?: UserJson | null;
  commit?: { author?: { name?: string | null; email?: string | null } | null };
}
interface PullJson {
  number: number;
  title: string;
  html_url: string;
  user?: UserJson | null;
  merged_by?: UserJson | null;
  merged_at?: string | null;
  merge_commit_sha?: string | null;
  labels?: Array<{ name?: string } | string> | null;
}
interface ReviewJson {
  user?: UserJson | null;
  state: string;
  submitted_at?: string | null;
  commit_id?: string | null;
}

/** A deleted account shows as null; GitHub itself displays it as "ghost". */
const login = (u: UserJson | null | undefined): string | null => u?.login ?? null;

/**
 * Reads the run's environment approvals, the commits and pull requests behind the files and their reviews.
 * Throws EnvError when the REST API cannot be read (no token, 403, unreachable).
 */
export async function readApprovalFacts(
  query: ApprovalFactsQuery,
  env: NodeJS.ProcessEnv,
  log: Logger,
  options: { timeoutMs?: number } = {},
): Promise<ApprovalFacts> {
  const timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS;
  const run = runIdentity(env);
  if (!run) {
    throw new EnvError('The environment approvals can only be read inside GitHub Actions (GITHUB_ACTIONS is not "true").', {
      hint: 'Run the deploy from the workflow job that references the GitHub environment, or use --break-glass "<reason>" where the policy allows it.',
    });
  }
  const token = env['GITHUB_TOKEN'];
  if (!token) {
    throw new EnvError(`GITHUB_TOKEN is not set: dbops cannot read the approvals of the ${query.environment} environment for run ${run.runId}.`, {
      hint: TOKEN_HINT,
    });
  }
  // Never printed: anything that echoes it (an error message, a log line) is masked from here on.
  registerSecret(token);
  const [owner, repo, ...rest] = run.repository.split('/');
  if (!owner || !repo || rest.length > 0) {
    throw new EnvError(`GITHUB_REPOSITORY is "${run.repository}", expected owner/name.`, { hint: 'The runner sets it as owner/name; do not override it.' });
  }
  const baseUrl = (env['GITHUB_API_URL'] || 'https://api.github.com').replace(/\/+$/, '');
  const octokit = getOctokit(token, {
    baseUrl,
    log: { debug: () => {}, info: () => {}, warn: (m: string) => log.warn(redact(m)), error: (m: string) => log.error(redact(m)) },
  });
  // A hook rather than a per-call option: paginate drops per-call request options on its follow-up pages. It
  // edits the options in place because hooks pass the same object along (a `wrap` hook's copy is ignored).
  octokit.hook.before('request', (options) => {
    options.request = { ...options.request, signal: AbortSignal.timeout(timeoutMs) };
  });
  // Octokit types each route literally; dbops's routes are passed as plain strings, so paginate is seen through
  // the signature it has for any route.
  const paginate = octokit.paginate as unknown as (
    route: string,
    params: Record<string, unknown>,
    map: (response: { data: unknown }) => unknown[],
  ) => Promise<unknown[]>;
  let requests = 0;
  const api = {
    async get<T>(route: string, params: Record<string, unknown>, permission: string): Promise<T> {
      requests++;
      try {
        return (await octokit.request(route, { owner, repo, ...params })).data as T;
      } catch (e) {
        throw apiError(e, route, { owner, repo, ...params }, permission, baseUrl);
      }
    },
    async all<T>(route: string, params: Record<string, unknown>, permission: string): Promise<T[]> {
      try {
        return (await paginate(route, { owner, repo, per_page: 100, ...params }, (response) => {
          requests++;
          return response.data as T[];
        })) as T[];
      } catch (e) {
        requests++;
        throw apiError(e, route, { owner, repo, ...params }, permission, baseUrl);
      }
    },
  };

  const approvalsJson = await api.get<ApprovalJson[]>('GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals', { run_id: run.runId }, 'actions: read');
  const approvals: Approval[] = approvalsJson
    // 'pending' is documented for the field; only decisions are evidence.
    .filter((a) => a.state === 'approved' || a.state === 'rejected')
    .map((a) => ({
      user: login(a.user) ?? 'ghost',
      state: a.state as 'approved' | 'rejected',
      comment: a.comment ?? '',
      environments: (a.environments ?? []).map((e) => e.name ?? '').filter((n) => n !== ''),
    }));

  // A path listed twice (a migration and its rollback are distinct paths, but callers may repeat) is read once.
  const paths = [...new Set(query.files.map((f) => f.path))];
  const commitsByPath = new Map<string, CommitJson[]>();
  // Four at a time: a change of 40 migrations is 80 files, and GitHub's secondary rate limit dislikes bursts.
  await mapLimit(paths, 4, async (path) => {
    commitsByPath.set(
      path,
      await api.all<CommitJson>('GET /repos/{owner}/{repo}/commits', { path, sha: run.sha, ...(query.since ? { since: query.since } : {}) }, 'contents: read'),
    );
  });

  const commits = new Map([...commitsByPath.values()].flat().map((c) => [c.sha, c]));
  const shas = [...commits.keys()];
  const pullsBySha = new Map<string, number[]>();
  await mapLimit(shas, 4, async (sha) => {
    const found = await api.all<{ number: number }>(
      'GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls',
      { commit_sha: sha },
      'contents: read and pull-requests: read',
    );
    pullsBySha.set(
      sha,
      found.map((p) => p.number),
    );
  });

  const numbers = [...new Set([...pullsBySha.values()].flat())].sort((a, b) => a - b);
  const pulls = await mapLimit(numbers, 4, async (n): Promise<PullRequest> => {
    const [pull, reviews] = await Promise.all([
      api.get<PullJson>('GET /repos/{owner}/{repo}/pulls/{pull_number}', { pull_number: n }, 'pull-requests: read'),
      api.all<ReviewJson>('GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews', { pull_number: n }, 'pull-requests: read'),
    ]);
    return {
      number: pull.number,
      title: pull.title,
      url: pull.html_url,
      author: login(pull.user) ?? 'ghost',
      mergedBy: login(pull.merged_by),
      mergedAt: pull.merged_at ?? null,
      mergeCommit: pull.merge_commit_sha ?? null,
      labels: (pull.labels ?? []).map((l) => (typeof l === 'string' ? l : (l.name ?? ''))).filter((l) => l !== ''),
      reviews: reviews.map((r) => ({ user: login(r.user) ?? 'ghost', state: r.state, submittedAt: r.submitted_at ?? null, commitId: r.commit_id ?? null })),
    };
  });

  const provenance: FileProvenance[] = query.files.map((f) => {
    const touching = commitsByPath.get(f.path) ?? [];
    return {
      migration: f.migration,
      path: f.path,
      commits: touching.map((c) => ({ sha: c.sha, author: login(c.author), committer: login(c.committer) })),
      pulls: [...new Set(touching.flatMap((c) => pullsBySha.get(c.sha) ?? []))].sort((a, b) => a - b),
    };
  });

  for (const c of commits.values()) {
    if (!c.author) {
      // Four-eyes compares GitHub logins; an author email linked to no account cannot be matched to an approver.
      log.warn(
        { commit: c.sha, name: c.commit?.author?.name ?? null },
        `commit ${c.sha.slice(0, 7)} has no GitHub author (its email is linked to no account): four-eyes cannot exclude its author by login`,
      );
    }
  }
  for (const f of provenance) {
    if (f.commits.length === 0)
      log.warn(
        { path: f.path, sha: run.sha },
        `no commit of ${run.sha.slice(0, 7)}'s history touches ${f.path}: its authors cannot be excluded (is the file committed?)`,
      );
  }

  log.info(
    { environment: query.environment, approvals: approvals.length, pulls: numbers, commits: shas.length, requests },
    `read ${approvals.length} environment review(s), ${shas.length} commit(s) and ${numbers.length} pull request(s) from GitHub in ${requests} request(s)`,
  );
  // The settings are evidence (checklist: environment configuration), not a condition: a token that may not
  // read them leaves them out with a warning rather than refusing a deploy the approvals already justify.
  let environmentSettings: EnvironmentSettings | null = null;
  try {
    environmentSettings = settingsOf(
      await api.get<EnvironmentJson>('GET /repos/{owner}/{repo}/environments/{environment_name}', { environment_name: query.environment }, 'actions: read'),
    );
  } catch (e) {
    if (!(e instanceof EnvError)) throw e;
    log.warn(`the settings of the ${query.environment} environment could not be read (${redact(e.message)}); the evidence will not include them`);
  }
  return { run, approvals, pulls, provenance, environmentSettings };
}

/** An HTTP failure as an EnvError naming the endpoint and, where it is one, the missing permission. */
function apiError(e: unknown, route: string, params: Record<string, unknown>, permission: string, baseUrl: string): EnvError {
  const err = e as { status?: number; message?: string; response?: { headers?: Record<string, string | undefined>; data?: { message?: string } } };
  const used = new Set<string>();
  const path = route.replace(/\{(\w+)\}/g, (whole, name: string) => (params[name] === undefined ? whole : (used.add(name), String(params[name]))));
  const rest = Object.entries(params).filter(([name]) => !used.has(name) && name !== 'per_page');
  const endpoint = rest.length ? `${path}?${rest.map(([name, value]) => `${name}=${String(value)}`).join('&')}` : path;
  if (!err.response) {
    // No HTTP answer: refused connection, DNS, TLS.
    return new EnvError(redact(`Cannot reach the GitHub API at ${baseUrl} (${endpoint}): ${err.message ?? String(e)}.`), {
      hint: "Check GITHUB_API_URL (GitHub Enterprise Server: https://<host>/api/v3) and the runner's network access.",
    });
  }
  const status = err.status ?? 0;
  const said = err.response.data?.message ?? err.message ?? '';
  const message = redact(`GitHub answered ${status} to ${endpoint}${said ? ` (${said})` : ''}.`);
  if (status === 403 && err.response.headers?.['x-ratelimit-remaining'] === '0') {
    return new EnvError(message, { hint: "The token's API rate limit is used up; re-run the job after the reset time GitHub reports." });
  }
  if (status === 401) return new EnvError(message, { hint: `The token was rejected (expired or not a token). ${TOKEN_HINT}` });
  if (status === 403 || status === 404) {
    return new EnvError(message, {
      hint: `The token lacks \`${permission}\` (a 404 is how GitHub hides what a token may not read). Give the deploy job:\n${APPROVAL_PERMISSIONS}`,
    });
  }
  return new EnvError(message, { hint: 'A GitHub outage or a transient error: re-run the job.' });
}
