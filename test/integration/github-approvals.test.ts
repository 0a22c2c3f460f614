import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EnvError, ExitCode } from '../../pipeline/core/errors.ts';
import { createLogger } from '../../pipeline/core/logger.ts';
import { FourEyesResult, GateData } from '../../pipeline/evidence/records.ts';
import { startGitHubServer, type GitHubServer } from '../helpers/github-server.ts';
import { type ApprovalQuery, collectApprovalEvidence } from '../../pipeline/change/release/approvals.ts';

/**
 * Approval evidence read through the REST API, against a loopback stand-in for GitHub: the run's environment
 * reviews, the commits behind the migration and rollback files, their pull requests and reviews, judged by
 * four-eyes. Everything comes from the env argument (the process environment has no GITHUB_* here).
 */

const TOKEN = 'ghs_Approvals0fakeTokenForTests987654';
const HEAD = 'c'.repeat(40);
const INIT = '20260101000000_init';
const ORDERS = '20260102000000_orders';
const files: ApprovalQuery['files'] = [
  { migration: INIT, path: `prisma/migrations/${INIT}/migration.sql` },
  { migration: INIT, path: `rollbacks/${INIT}.sql` },
  { migration: ORDERS, path: `prisma/migrations/${ORDERS}/migration.sql` },
  { migration: ORDERS, path: `rollbacks/${ORDERS}.sql` },
];
const query = (over: Partial<ApprovalQuery> = {}): ApprovalQuery => ({ environment: 'production', required: 1, fourEyes: true, files, ...over });

let server: GitHubServer;
let logged: string;
const log = () => {
  const stream = new PassThrough();
  stream.on('data', (d: Buffer) => (logged += d.toString()));
  return createLogger({ level: 'debug', stream });
};
beforeEach(async () => {
  server = await startGitHubServer('acme', 'astro');
  logged = '';
});
afterEach(() => server.close());

const actionsEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  GITHUB_ACTIONS: 'true',
  GITHUB_REPOSITORY: 'acme/astro',
  GITHUB_RUN_ID: '4242',
  GITHUB_RUN_ATTEMPT: '2',
  GITHUB_SERVER_URL: 'https://github.example',
  GITHUB_WORKFLOW_REF: 'acme/astro/.github/workflows/deploy-production.yml@refs/heads/main',
  GITHUB_WORKFLOW_SHA: HEAD,
  GITHUB_EVENT_NAME: 'workflow_dispatch',
  GITHUB_REF: 'refs/heads/main',
  GITHUB_SHA: HEAD,
  GITHUB_ACTOR: 'rita',
  GITHUB_TRIGGERING_ACTOR: 'rita',
  GITHUB_API_URL: server.url,
  GITHUB_TOKEN: TOKEN,
  ...extra,
});

/** Two pull requests: alice's squash-merged #12 (init), and carol's #13 (orders) with a commit of bob's on top. */
function seedChange() {
  server.addCommit({ sha: 'a'.repeat(40), author: 'alice', committer: 'web-flow', paths: [files[0]!.path, files[1]!.path], pulls: [12] });
  server.addCommit({ sha: 'b'.repeat(40), author: 'carol', committer: 'carol', paths: [files[2]!.path, files[3]!.path], pulls: [13] });
  server.addCommit({ sha: 'd'.repeat(40), author: 'bob', committer: 'web-flow', paths: [files[3]!.path], pulls: [13] });
  server.addCommit({ sha: HEAD, author: 'zoe', paths: ['README.md'] });
  // A later commit than the run's sha: not part of what this run deploys.
  server.addCommit({ sha: 'e'.repeat(40), author: 'mallory', paths: [files[0]!.path], pulls: [99] });
  server.addPull({
    number: 12,
    author: 'alice',
    title: 'Initial schema',
    mergedBy: 'dave',
    mergeCommit: 'a'.repeat(40),
    labels: ['database', 'allow-destructive'],
    reviews: [{ user: 'dave', state: 'APPROVED', submittedAt: '2026-01-01T12:00:00Z', commitId: '1'.repeat(40) }],
  });
  server.addPull({
    number: 13,
    author: 'carol',
    title: 'Orders',
    mergedBy: 'carol',
    reviews: [
      { user: 'frank', state: 'CHANGES_REQUESTED' },
      { user: 'frank', state: 'APPROVED' },
    ],
  });
  server.addPull({ number: 99, author: 'mallory', title: 'Not deployed yet' });
}

describe('collectApprovalEvidence', () => {
  it('assembles approvals, provenance, pull requests with reviews and the four-eyes verdict', async () => {
    seedChange();
    server.setApprovals(4242, [
      { user: 'Alice', environments: ['production'], comment: 'ship it' },
      { user: 'bob', environments: ['production'] },
      { user: 'rita', environments: ['production'] },
      { user: 'erin', environments: ['staging'] },
      { user: 'frank', environments: ['production'], comment: 'checked the backup' },
    ]);
    const evidence = await collectApprovalEvidence(query(), actionsEnv(), log());

    expect(evidence.run).toEqual({
      repository: 'acme/astro',
      runId: '4242',
      runAttempt: 2,
      runUrl: 'https://github.example/acme/astro/actions/runs/4242/attempts/2',
      workflowRef: 'acme/astro/.github/workflows/deploy-production.yml@refs/heads/main',
      workflowSha: HEAD,
      event: 'workflow_dispatch',
      ref: 'refs/heads/main',
      sha: HEAD,
      actor: 'rita',
      triggeringActor: 'rita',
    });
    expect(evidence.approvals).toEqual([
      { user: 'Alice', state: 'approved', comment: 'ship it', environments: ['production'] },
      { user: 'bob', state: 'approved', comment: '', environments: ['production'] },
      { user: 'rita', state: 'approved', comment: '', environments: ['production'] },
      { user: 'erin', state: 'approved', comment: '', environments: ['staging'] },
      { user: 'frank', state: 'approved', comment: 'checked the backup', environments: ['production'] },
    ]);
    expect(evidence.provenance).toEqual([
      { migration: INIT, path: files[0]!.path, commits: [{ sha: 'a'.repeat(40), author: 'alice', committer: 'web-flow' }], pulls: [12] },
      { migration: INIT, path: files[1]!.path, commits: [{ sha: 'a'.repeat(40), author: 'alice', committer: 'web-flow' }], pulls: [12] },
      { migration: ORDERS, path: files[2]!.path, commits: [{ sha: 'b'.repeat(40), author: 'carol', committer: 'carol' }], pulls: [13] },
      {
        migration: ORDERS,
        path: files[3]!.path,
        commits: [
          { sha: 'd'.repeat(40), author: 'bob', committer: 'web-flow' },
          { sha: 'b'.repeat(40), author: 'carol', committer: 'carol' },
        ],
        pulls: [13],
      },
    ]);
    expect(evidence.pulls).toEqual([
      {
        number: 12,
        title: 'Initial schema',
        url: 'https://github.example/acme/astro/pull/12',
        author: 'alice',
        mergedBy: 'dave',
        mergedAt: '2026-01-02T10:00:00Z',
        mergeCommit: 'a'.repeat(40),
        labels: ['database', 'allow-destructive'],
        reviews: [{ user: 'dave', state: 'APPROVED', submittedAt: '2026-01-01T12:00:00Z', commitId: '1'.repeat(40) }],
      },
      expect.objectContaining({
        number: 13,
        author: 'carol',
        mergedBy: 'carol',
        reviews: [expect.objectContaining({ user: 'frank', state: 'CHANGES_REQUESTED' }), expect.objectContaining({ user: 'frank', state: 'APPROVED' })],
      }),
    ]);

    const fe = evidence.fourEyes;
    expect(FourEyesResult.parse(fe)).toEqual(fe);
    expect(fe.ok).toBe(true);
    expect(fe.counted).toEqual(['frank']);
    expect(fe.refused.map((r) => [r.user, r.rule])).toEqual([
      ['Alice', 'pr-author'],
      ['bob', 'committer'],
      ['rita', 'triggering-actor'],
      ['erin', 'other-environment'],
    ]);
    expect(fe.refused[0]!.message).toBe(
      `Alice approved production but authored pull request #12 that introduced ${INIT}: the author of a change cannot approve its deploy (four-eyes).`,
    );
    expect(fe.excluded).toEqual({ prAuthors: ['alice', 'carol'], committers: ['alice', 'carol', 'bob'], triggeringActor: 'rita' });

    // Bounded: one listing per file, one /pulls per distinct commit, one pull + reviews per distinct PR.
    const calls = server.requests.map((r) => `${r.method} ${r.path}`);
    expect(calls.filter((c) => c.endsWith('/approvals'))).toEqual(['GET /repos/acme/astro/actions/runs/4242/approvals']);
    expect(calls.filter((c) => c === 'GET /repos/acme/astro/commits')).toHaveLength(4);
    expect(calls.filter((c) => /\/commits\/\w+\/pulls$/.test(c)).sort()).toEqual(
      ['a', 'b', 'd'].map((x) => `GET /repos/acme/astro/commits/${x.repeat(40)}/pulls`),
    );
    expect(calls.filter((c) => /\/pulls\/\d+$/.test(c)).sort()).toEqual(['GET /repos/acme/astro/pulls/12', 'GET /repos/acme/astro/pulls/13']);
    // … plus the environment's settings, which this test never seeded: GitHub's 404 leaves them out, with a warning.
    expect(calls.filter((c) => c.endsWith('/environments/production'))).toHaveLength(1);
    expect(evidence.environmentSettings).toBeNull();
    expect(logged).toContain('the settings of the production environment could not be read');
    expect(server.requests).toHaveLength(1 + 4 + 3 + 2 * 2 + 1);
    for (const r of server.requests.filter((x) => x.path === '/repos/acme/astro/commits')) expect(r.query.get('sha')).toBe(HEAD);
    for (const r of server.requests) expect(r.headers.authorization).toBe(`token ${TOKEN}`);
    expect(logged).not.toContain(TOKEN);
  });

  it('fits a gate report: the evidence goes into GateData as is', async () => {
    seedChange();
    server.setApprovals(4242, [{ user: 'frank', environments: ['production'] }]);
    const e = await collectApprovalEvidence(query(), actionsEnv(), log());
    const fields = GateData.pick({ run: true, approvals: true, fourEyes: true, pulls: true, provenance: true });
    expect(fields.parse({ run: e.run, approvals: e.approvals, fourEyes: e.fourEyes, pulls: e.pulls, provenance: e.provenance })).toBeTruthy();
  });

  it('refuses fewer approvals than required, naming who was not counted', async () => {
    seedChange();
    server.setApprovals(4242, [
      { user: 'carol', environments: ['production'] },
      { user: 'frank', environments: ['production'] },
    ]);
    const { fourEyes } = await collectApprovalEvidence(query({ required: 2 }), actionsEnv(), log());
    expect(fourEyes.ok).toBe(false);
    expect(fourEyes.refused.map((r) => r.rule)).toEqual(['pr-author', 'too-few']);
    expect(fourEyes.refused[1]!.message).toContain('1 of 2 required approvals of production count (counted: frank; not counted: carol)');
  });

  it("reads every page of a long file history and of a pull request's reviews", async () => {
    // 130 commits touch one file (two pages of 100); they all come from one PR with 120 reviews.
    for (let i = 0; i < 130; i++)
      server.addCommit({ sha: i.toString(16).padStart(40, '0'), author: i === 0 ? 'henry' : `dev${i % 7}`, paths: [files[0]!.path], pulls: [21] });
    server.addPull({
      number: 21,
      author: 'ivy',
      mergedBy: 'ivy',
      reviews: Array.from({ length: 120 }, (_, i) => ({ user: `reviewer${i}`, state: 'COMMENTED' })),
    });
    server.setApprovals(4242, [
      { user: 'henry', environments: ['production'] },
      { user: 'judy', environments: ['production'] },
    ]);
    const e = await collectApprovalEvidence(query({ files: [files[0]!] }), actionsEnv({ GITHUB_SHA: 'f'.repeat(40) }), log());

    expect(e.provenance[0]!.commits).toHaveLength(130);
    expect(e.pulls).toHaveLength(1);
    expect(e.pulls[0]!.reviews).toHaveLength(120);
    const pages = (path: string) => server.requests.filter((r) => r.path === path).map((r) => r.query.get('page') ?? '1');
    expect(pages('/repos/acme/astro/commits')).toEqual(['1', '2']);
    expect(pages('/repos/acme/astro/pulls/21/reviews')).toEqual(['1', '2']);
    expect(server.requests.filter((r) => r.path === '/repos/acme/astro/commits')[0]!.query.get('per_page')).toBe('100');
    // The oldest commit, on the second page, still excludes its author.
    expect(e.fourEyes.refused).toEqual([expect.objectContaining({ user: 'henry', rule: 'committer' })]);
    expect(e.fourEyes.counted).toEqual(['judy']);
    // 130 commits of one PR: the PR is read once.
    expect(server.requests.filter((r) => r.path === '/repos/acme/astro/pulls/21')).toHaveLength(1);
  });

  it('without GITHUB_TOKEN: EnvError (exit 3) showing the step env and the job permissions', async () => {
    const error = await collectApprovalEvidence(query(), actionsEnv({ GITHUB_TOKEN: undefined }), log()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EnvError);
    const e = error as EnvError;
    expect(e.exitCode).toBe(ExitCode.Environment);
    expect(e.message).toContain('GITHUB_TOKEN is not set');
    expect(e.hint).toContain('GITHUB_TOKEN: ${{ github.token }}');
    for (const p of ['actions: read', 'contents: read', 'pull-requests: read']) expect(e.hint).toContain(p);
    expect(server.requests).toHaveLength(0);
  });

  it.each([
    ['/approvals', 403, 'actions: read', '/repos/acme/astro/actions/runs/4242/approvals'],
    ['/commits', 403, 'contents: read', `/repos/acme/astro/commits?path=prisma/migrations/`],
    ['/reviews', 404, 'pull-requests: read', '/repos/acme/astro/pulls/12/reviews'],
  ])('%s answering %i: EnvError naming the endpoint and the missing permission, never the token', async (only, status, permission, endpoint) => {
    seedChange();
    server.failWith(status, only);
    const error = (await collectApprovalEvidence(query(), actionsEnv(), log()).catch((e: unknown) => e)) as EnvError;
    expect(error).toBeInstanceOf(EnvError);
    expect(error.exitCode).toBe(ExitCode.Environment);
    expect(error.message).toContain(`GitHub answered ${status} to GET ${endpoint}`);
    expect(error.hint).toContain(`The token lacks \`${permission}\``);
    expect(`${error.message} ${error.hint} ${error.stack} ${logged}`).not.toContain(TOKEN);
  });

  it('an unreachable API is an EnvError naming the URL', async () => {
    const env = actionsEnv();
    await server.close();
    const error = (await collectApprovalEvidence(query(), env, log()).catch((e: unknown) => e)) as EnvError;
    expect(error).toBeInstanceOf(EnvError);
    expect(error.message).toContain(`Cannot reach the GitHub API at ${env['GITHUB_API_URL']}`);
    expect(error.message).not.toContain(TOKEN);
    // afterEach closes again; a second close of a stopped server is harmless with a fresh one.
    server = await startGitHubServer();
  });

  it('an API that never answers is an EnvError after the request timeout, not a hung deploy job', async () => {
    const silent = createServer(() => {});
    await new Promise<void>((done) => silent.listen(0, '127.0.0.1', done));
    try {
      const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
      const error = (await collectApprovalEvidence(query(), actionsEnv({ GITHUB_API_URL: url }), log(), { timeoutMs: 200 }).catch(
        (e: unknown) => e,
      )) as EnvError;
      expect(error).toBeInstanceOf(EnvError);
      expect(error.message).toContain(`Cannot reach the GitHub API at ${url} (GET /repos/acme/astro/actions/runs/4242/approvals)`);
      expect(error.message).toContain('timeout');
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });

  it('outside GitHub Actions there is no run to read approvals of', async () => {
    const error = await collectApprovalEvidence(query(), { GITHUB_TOKEN: TOKEN, GITHUB_API_URL: server.url }, log()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EnvError);
    expect((error as EnvError).message).toContain('only be read inside GitHub Actions');
    expect(server.requests).toHaveLength(0);
  });
});

describe('a file that lives on (policies/postgresql.yaml): only the commits since its previous applied change', () => {
  const policy = [{ migration: 'server settings', path: 'policies/postgresql.yaml' }];
  beforeEach(() => {
    // olive wrote the file a year ago (applied since); nina changed it now.
    server.addCommit({ sha: '1'.repeat(40), author: 'olive', paths: ['policies/postgresql.yaml'], date: '2025-11-01T09:00:00Z' });
    server.addCommit({ sha: '2'.repeat(40), author: 'nina', paths: ['policies/postgresql.yaml'], date: '2026-12-01T09:00:00Z' });
    server.addCommit({ sha: HEAD, author: 'zoe', paths: ['README.md'] });
    server.setApprovals(4242, [{ user: 'olive', environments: ['production'] }]);
  });

  it('with since, an earlier author of the file may approve; the change is the later commits', async () => {
    const e = await collectApprovalEvidence(query({ files: policy, since: '2026-01-15T00:00:00Z' }), actionsEnv(), log());
    expect(e.provenance[0]!.commits.map((c) => c.author)).toEqual(['nina']);
    expect(e.fourEyes).toMatchObject({ ok: true, counted: ['olive'] });
  });

  it('without since, every author of the file in its history is excluded', async () => {
    const e = await collectApprovalEvidence(query({ files: policy }), actionsEnv(), log());
    expect(e.provenance[0]!.commits.map((c) => c.author).sort()).toEqual(['nina', 'olive']);
    expect(e.fourEyes.ok).toBe(false);
    expect(e.fourEyes.refused.map((r) => `${r.user}: ${r.rule}`)).toContain('olive: committer');
  });
});
