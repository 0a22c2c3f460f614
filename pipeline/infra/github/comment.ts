/** Hidden marker that identifies dbops' sticky PR comment. */
export const COMMENT_MARKER = '<!-- dbops:migration-report -->';

/** The two REST calls the sticky comment needs, as Octokit's `paginate` and `request` make them. */
export interface GitHubApi {
  paginate(route: string, params: Record<string, unknown>): Promise<unknown[]>;
  request(route: string, params: Record<string, unknown>): Promise<{ data: unknown }>;
}

interface IssueComment {
  id: number;
  body?: string | null;
  html_url: string;
  user?: { type?: string } | null;
}

export interface CommentTarget {
  owner: string;
  repo: string;
  issue: number;
}

export interface CommentOutcome {
  status: 'created' | 'updated';
  url: string;
  id: number;
}

/**
 * One comment per pull request, edited in place on every run: the newest report replaces the last one
 * instead of piling up. It is found by the hidden marker it starts with, across every page of the PR's
 * comments (a busy PR has more than one page).
 */
export async function upsertComment(api: GitHubApi, { owner, repo, issue }: CommentTarget, body: string): Promise<CommentOutcome> {
  if (!body.startsWith(COMMENT_MARKER)) throw new Error('the comment body must start with the dbops marker');
  const comments = (await api.paginate('GET /repos/{owner}/{repo}/issues/{issue_number}/comments', {
    owner,
    repo,
    issue_number: issue,
    per_page: 100,
  })) as IssueComment[];
  const ours = comments.filter((c) => c.body?.startsWith(COMMENT_MARKER));
  // A person could paste the marker; the token can edit only the bot's own comment.
  const existing = ours.find((c) => c.user?.type === 'Bot') ?? ours[0];
  if (existing) {
    const { data } = await api.request('PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}', { owner, repo, comment_id: existing.id, body });
    return { status: 'updated', url: (data as IssueComment).html_url, id: existing.id };
  }
  const { data } = await api.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', { owner, repo, issue_number: issue, body });
  return { status: 'created', url: (data as IssueComment).html_url, id: (data as IssueComment).id };
}
