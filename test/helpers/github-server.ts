import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for the GitHub REST endpoints dbops uses, on loopback:
 * - issue comments of a pull request (the sticky report comment);
 * - issues (monitoring's alerts): create, read, update (close) by number, and their comments;
 * - what four-eyes reads: a run's environment approvals, the commits that touched a path, the pull requests
 *   of a commit, a pull request and its reviews.
 * It keeps everything in memory, paginates like GitHub (Link header with rel="next") where GitHub does, and
 * records every request for assertions.
 */

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: unknown;
}

export interface StoredComment {
  id: number;
  body: string;
  user: { login: string; type: 'Bot' | 'User' };
  html_url: string;
}

/** One environment review of a run, as `GET …/actions/runs/{run_id}/approvals` lists it. */
export interface ApprovalFixture {
  user: string;
  /** Default 'approved'. */
  state?: 'approved' | 'rejected';
  comment?: string;
  environments: string[];
}

export interface CommitFixture {
  sha: string;
  /** GitHub login of the commit's author; null when the author email is linked to no account. */
  author: string | null;
  /** Default: the author. `web-flow` for commits GitHub made (merge and squash buttons). */
  committer?: string | null;
  /** Repository paths the commit touches (for `GET …/commits?path=`). */
  paths: string[];
  /** Pull requests `GET …/commits/{sha}/pulls` answers with. */
  pulls?: number[];
  message?: string;
  date?: string;
}

export interface ReviewFixture {
  user: string;
  /** APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED. */
  state: string;
  submittedAt?: string;
  commitId?: string | null;
  body?: string;
}

export interface PullFixture {
  number: number;
  author: string;
  title?: string;
  /** Default: null (not merged). */
  mergedBy?: string | null;
  /** Default: a fixed date when mergedBy is set, else null. */
  mergedAt?: string | null;
  mergeCommit?: string | null;
  labels?: string[];
  reviews?: ReviewFixture[];
}

export interface EnvironmentFixture {
  canAdminsBypass?: boolean;
  /** Omitted: no required-reviewers rule. */
  reviewers?: Array<{ user?: string; team?: string }>;
  preventSelfReview?: boolean;
  waitTimer?: number;
  /** null (default): any branch may deploy. */
  branchPolicy?: { protectedBranches: boolean; customBranchPolicies: boolean } | null;
}

export interface StoredIssue {
  number: number;
  title: string;
  body: string;
  labels: string[];
  state: 'open' | 'closed';
  state_reason: string | null;
  html_url: string;
}

export interface GitHubServer {
  url: string;
  requests: RecordedRequest[];
  comments: Map<number, StoredComment[]>;
  /** Issues created through POST /repos/{owner}/{repo}/issues, by number (numbered from 1). */
  issues: Map<number, StoredIssue>;
  /** Adds `count` comments by people (not the bot) to an issue, to make the listing span pages. */
  seed(issue: number, count: number, body?: (i: number) => string): void;
  /** The environment reviews of a run (replaces earlier ones). A run never given any answers `[]`. */
  setApprovals(runId: string | number, approvals: ApprovalFixture[]): void;
  /** A GitHub environment's settings, as `GET …/environments/{name}` returns them (unknown names answer 404). */
  setEnvironment(name: string, settings: EnvironmentFixture): void;
  /**
   * Appends a commit to the branch history (call oldest first). `GET …/commits?path=P&sha=S` lists, newest
   * first, the commits touching P up to and including S (all of them when S is no known commit), and with
   * `since=T` only those dated T or later.
   */
  addCommit(commit: CommitFixture): void;
  /** A pull request with its reviews (replaces one with the same number). */
  addPull(pull: PullFixture): void;
  /**
   * Answers with this status (e.g. 403 for a read-only fork token) until cleared with null: every request,
   * or only those whose path contains `only` (e.g. '/approvals', '/reviews').
   */
  failWith(status: number | null, only?: string): void;
  close(): Promise<void>;
}

const MERGED_AT = '2026-01-02T10:00:00Z';

export async function startGitHubServer(owner = 'acme', repo = 'astro'): Promise<GitHubServer> {
  const requests: RecordedRequest[] = [];
  const comments = new Map<number, StoredComment[]>();
  const issues = new Map<number, StoredIssue>();
  let nextIssue = 1;
  const approvals = new Map<string, ApprovalFixture[]>();
  const environments = new Map<string, EnvironmentFixture>();
  const history: CommitFixture[] = [];
  const pulls = new Map<number, PullFixture>();
  let nextId = 1000;
  let failure: { status: number; only: string | undefined } | null = null;
  let base = '';
  const list = (issue: number) => comments.get(issue) ?? comments.set(issue, []).get(issue)!;
  const htmlUrl = (issue: number, id: number) => `https://github.example/${owner}/${repo}/pull/${issue}#issuecomment-${id}`;
  const user = (login: string | null | undefined) => (login ? { login, id: login.length, type: login.endsWith('[bot]') ? 'Bot' : 'User' } : null);

  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', base);
      const body = raw ? (JSON.parse(raw) as unknown) : undefined;
      requests.push({ method: req.method ?? '', path: url.pathname, query: url.searchParams, headers: req.headers, body });
      const send = (status: number, data: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
        res.end(JSON.stringify(data));
      };
      /** One page of `all`, with GitHub's Link header (per_page defaults to 30, at most 100). */
      const paginated = (all: unknown[]) => {
        const perPage = Math.min(100, Number(url.searchParams.get('per_page') ?? 30));
        const page = Number(url.searchParams.get('page') ?? 1);
        const pages = Math.max(1, Math.ceil(all.length / perPage));
        const headers: Record<string, string> = {};
        if (page < pages) {
          const next = new URL(url);
          next.searchParams.set('page', String(page + 1));
          const last = new URL(url);
          last.searchParams.set('page', String(pages));
          headers['link'] = `<${next.href}>; rel="next", <${last.href}>; rel="last"`;
        }
        return send(200, all.slice((page - 1) * perPage, page * perPage), headers);
      };
      if (failure && (failure.only === undefined || url.pathname.includes(failure.only))) {
        return send(failure.status, { message: 'Resource not accessible by integration', documentation_url: 'https://docs.github.com/rest' });
      }
      if (!req.headers.authorization) return send(401, { message: 'Requires authentication' });

      const repoPath = `/repos/${owner}/${repo}`;
      const route = (pattern: string) => new RegExp(`^${repoPath}${pattern}$`).exec(url.pathname);
      const get = req.method === 'GET';

      const prefix = `/repos/${owner}/${repo}/issues/`;
      const listing = new RegExp(`^${prefix}(\\d+)/comments$`).exec(url.pathname);
      const single = new RegExp(`^${prefix}comments/(\\d+)$`).exec(url.pathname);
      if (listing && req.method === 'GET') return paginated(list(Number(listing[1])));
      if (listing && req.method === 'POST') {
        const issue = Number(listing[1]);
        const id = nextId++;
        const comment: StoredComment = {
          id,
          body: (body as { body: string }).body,
          user: { login: 'github-actions[bot]', type: 'Bot' },
          html_url: htmlUrl(issue, id),
        };
        list(issue).push(comment);
        return send(201, comment);
      }
      if (single && req.method === 'PATCH') {
        const id = Number(single[1]);
        for (const all of comments.values()) {
          const found = all.find((c) => c.id === id);
          if (found) {
            found.body = (body as { body: string }).body;
            return send(200, found);
          }
        }
        return send(404, { message: 'Not Found' });
      }

      if (route('/issues') && req.method === 'POST') {
        const given = body as { title?: string; body?: string; labels?: Array<string | { name: string }> };
        if (!given.title) return send(422, { message: 'Validation Failed', errors: [{ resource: 'Issue', field: 'title', code: 'missing_field' }] });
        const number = nextIssue++;
        const issue: StoredIssue = {
          number,
          title: given.title,
          body: given.body ?? '',
          labels: (given.labels ?? []).map((l) => (typeof l === 'string' ? l : l.name)),
          state: 'open',
          state_reason: null,
          html_url: `https://github.example/${owner}/${repo}/issues/${number}`,
        };
        issues.set(number, issue);
        return send(201, { ...issue, id: number + 5000, labels: issue.labels.map((name) => ({ name })) });
      }
      const oneIssue = route('/issues/(\\d+)');
      if (oneIssue && (get || req.method === 'PATCH')) {
        const issue = issues.get(Number(oneIssue[1]));
        if (!issue) return send(404, { message: 'Not Found' });
        if (req.method === 'PATCH') {
          const change = body as Partial<Pick<StoredIssue, 'title' | 'body' | 'state' | 'state_reason'>>;
          Object.assign(issue, Object.fromEntries(Object.entries(change).filter(([k]) => ['title', 'body', 'state', 'state_reason'].includes(k))));
        }
        return send(200, { ...issue, labels: issue.labels.map((name) => ({ name })) });
      }

      const runApprovals = route('/actions/runs/(\\d+)/approvals');
      // GitHub answers this one unpaginated.
      if (runApprovals && get) {
        return send(
          200,
          (approvals.get(runApprovals[1]!) ?? []).map((a, i) => ({
            environments: a.environments.map((name, j) => ({
              id: 100 + j,
              node_id: `EN_${name}`,
              name,
              url: `${base}${repoPath}/environments/${name}`,
              html_url: `https://github.example/${owner}/${repo}/deployments/activity_log?environments_filter=${name}`,
            })),
            state: a.state ?? 'approved',
            user: user(a.user),
            comment: a.comment ?? '',
            id: i + 1,
          })),
        );
      }

      const environment = route('/environments/([^/]+)');
      if (environment && get) {
        const name = decodeURIComponent(environment[1]!);
        const e = environments.get(name);
        if (!e) return send(404, { message: 'Not Found' });
        const rules: unknown[] = [];
        if (e.reviewers) {
          rules.push({
            id: 1,
            type: 'required_reviewers',
            prevent_self_review: e.preventSelfReview ?? false,
            reviewers: e.reviewers.map((r) =>
              r.team ? { type: 'Team', reviewer: { slug: r.team, name: r.team } } : { type: 'User', reviewer: user(r.user!) },
            ),
          });
        }
        if (e.waitTimer !== undefined) rules.push({ id: 2, type: 'wait_timer', wait_timer: e.waitTimer });
        const policy = e.branchPolicy ?? null;
        if (policy) rules.push({ id: 3, type: 'branch_policy' });
        return send(200, {
          id: 7,
          name,
          url: `${base}${repoPath}/environments/${name}`,
          can_admins_bypass: e.canAdminsBypass ?? true,
          protection_rules: rules,
          deployment_branch_policy: policy ? { protected_branches: policy.protectedBranches, custom_branch_policies: policy.customBranchPolicies } : null,
        });
      }

      const commitPulls = route('/commits/([0-9a-fA-F]+)/pulls');
      if (commitPulls && get) {
        const commit = history.find((c) => c.sha === commitPulls[1]);
        if (!commit) return send(422, { message: `No commit found for SHA: ${commitPulls[1]}` });
        return paginated(
          (commit.pulls ?? [])
            .map((n) => pulls.get(n))
            .filter((p) => p !== undefined)
            .map((p) => pullJson(p)),
        );
      }

      if (route('/commits') && get) {
        const path = url.searchParams.get('path');
        const sha = url.searchParams.get('sha');
        const upTo = history.findIndex((c) => c.sha === sha);
        const reachable = upTo >= 0 ? history.slice(0, upTo + 1) : history;
        // `since`: only commits whose date is at or after it, as GitHub filters.
        const since = url.searchParams.get('since');
        const touching = reachable
          .filter((c) => path === null || c.paths.includes(path))
          .filter((c) => since === null || Date.parse(c.date ?? MERGED_AT) >= Date.parse(since))
          .reverse();
        return paginated(
          touching.map((c) => {
            const committer = c.committer === undefined ? c.author : c.committer;
            const date = c.date ?? MERGED_AT;
            return {
              sha: c.sha,
              html_url: `https://github.example/${owner}/${repo}/commit/${c.sha}`,
              commit: {
                message: c.message ?? `change ${c.paths.join(', ')}`,
                author: { name: c.author ?? 'Someone', email: `${c.author ?? 'someone'}@example.com`, date },
                committer: {
                  name: committer === 'web-flow' ? 'GitHub' : (committer ?? 'Someone'),
                  email: committer === 'web-flow' ? 'noreply@github.com' : `${committer ?? 'someone'}@example.com`,
                  date,
                },
              },
              author: user(c.author),
              committer: user(committer),
            };
          }),
        );
      }

      const pullReviews = route('/pulls/(\\d+)/reviews');
      if (pullReviews && get) {
        const pull = pulls.get(Number(pullReviews[1]));
        if (!pull) return send(404, { message: 'Not Found' });
        return paginated(
          (pull.reviews ?? []).map((r, i) => ({
            id: i + 1,
            user: user(r.user),
            body: r.body ?? '',
            state: r.state,
            submitted_at: r.submittedAt ?? MERGED_AT,
            commit_id: r.commitId === undefined ? 'f'.repeat(40) : r.commitId,
            html_url: `https://github.example/${owner}/${repo}/pull/${pull.number}#pullrequestreview-${i + 1}`,
          })),
        );
      }

      const pull = route('/pulls/(\\d+)');
      if (pull && get) {
        const found = pulls.get(Number(pull[1]));
        if (!found) return send(404, { message: 'Not Found' });
        return send(200, { ...pullJson(found), merged: Boolean(found.mergedBy), merged_by: user(found.mergedBy) });
      }

      return send(404, { message: `Not Found: ${req.method} ${url.pathname}` });
    });
  });

  // pull-request-simple: what the listing endpoints return (no merged_by).
  const pullJson = (p: PullFixture) => {
    const mergedAt = p.mergedAt !== undefined ? p.mergedAt : p.mergedBy ? MERGED_AT : null;
    return {
      number: p.number,
      title: p.title ?? `Pull request ${p.number}`,
      html_url: `https://github.example/${owner}/${repo}/pull/${p.number}`,
      state: mergedAt ? 'closed' : 'open',
      user: user(p.author),
      merged_at: mergedAt,
      merge_commit_sha: p.mergeCommit ?? null,
      labels: (p.labels ?? []).map((name, i) => ({ id: p.number * 100 + i, name, color: 'ededed' })),
    };
  };

  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    requests,
    comments,
    issues,
    seed(issue, count, body = (i) => `LGTM ${i}`) {
      for (let i = 0; i < count; i++) {
        const id = nextId++;
        list(issue).push({ id, body: body(i), user: { login: `reviewer${i % 3}`, type: 'User' }, html_url: htmlUrl(issue, id) });
      }
    },
    setApprovals(runId, list) {
      approvals.set(String(runId), list);
    },
    setEnvironment(name, settings) {
      environments.set(name, settings);
    },
    addCommit(commit) {
      history.push(commit);
    },
    addPull(p) {
      pulls.set(p.number, p);
    },
    failWith(status, only) {
      failure = status === null ? null : { status, only };
    },
    close: () =>
      new Promise((done) => {
        server.close(() => done());
        // Keep-alive connections of a client that gave up mid-way (an error on one of parallel requests) would hold close() open.
        server.closeAllConnections();
      }),
  };
}
