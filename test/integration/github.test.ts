import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runDbops, testEnv } from '../helpers/cli.ts';
import { startGitHubServer, type GitHubServer } from '../helpers/github-server.ts';
import { type ReportEnvelope } from '../../pipeline/core/result.ts';
import { COMMENT_MARKER } from '../../pipeline/infra/github/comment.ts';

/**
 * `dbops report` inside GitHub Actions, run as its own process (as in a workflow step: @actions/core and
 * @actions/github read process.env), against a loopback stand-in for the REST API, with GITHUB_OUTPUT and
 * GITHUB_STEP_SUMMARY pointing at temp files and GITHUB_EVENT_PATH at a pull_request event.
 */

const FIXTURES = join(import.meta.dirname, '../fixtures/reports/pr-failing');
const TOKEN = 'ghs_Zq8fakeTokenForTests1234567890';
const tmp = mkdtempSync(join(tmpdir(), 'dbops-github-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let server: GitHubServer;
let n = 0;
let dir: string;
beforeEach(async () => {
  server = await startGitHubServer('acme', 'astro');
  dir = join(tmp, `run${++n}`);
  cpSync(FIXTURES, join(dir, 'reports'), { recursive: true });
  for (const f of ['output', 'summary']) writeFileSync(join(dir, f), '');
});
afterEach(() => server.close());

function event(kind: 'pull_request' | 'push'): string {
  const path = join(dir, `${kind}.json`);
  const repository = { full_name: 'acme/astro', name: 'astro', owner: { login: 'acme' } };
  const payload =
    kind === 'pull_request'
      ? { action: 'synchronize', number: 42, pull_request: { number: 42, head: { sha: 'abc', repo: repository }, base: { ref: 'main' } }, repository }
      : { ref: 'refs/heads/main', after: 'abc', repository };
  writeFileSync(path, JSON.stringify(payload));
  return path;
}

function actionsEnv(kind: 'pull_request' | 'push' = 'pull_request', extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return testEnv({
    DBOPS_LOG_LEVEL: 'info',
    GITHUB_ACTIONS: 'true',
    GITHUB_TOKEN: TOKEN,
    GITHUB_REPOSITORY: 'acme/astro',
    GITHUB_EVENT_NAME: kind,
    GITHUB_EVENT_PATH: event(kind),
    GITHUB_API_URL: server.url,
    GITHUB_OUTPUT: join(dir, 'output'),
    GITHUB_STEP_SUMMARY: join(dir, 'summary'),
    ...extra,
  });
}

/** GITHUB_OUTPUT holds `name<<delimiter`, the value, `delimiter` per output. */
function outputs(): Record<string, string> {
  const text = readFileSync(join(dir, 'output'), 'utf8');
  return Object.fromEntries([...text.matchAll(/^([\w-]+)<<(\S+)\n([\s\S]*?)\n\2$/gm)].map((m) => [m[1]!, m[3]!]));
}

const commentCalls = () => server.requests.filter((r) => r.path.includes('/comments'));

describe('dbops report in GitHub Actions', () => {
  it('posts one sticky comment, annotates, writes the summary, outputs and SARIF, then exits 1 for the failed reports', async () => {
    // 130 earlier comments: the listing spans two pages of 100.
    server.seed(42, 130);
    const run = await runDbops(['report', '--reports-dir', join(dir, 'reports')], actionsEnv());
    expect(run.code).toBe(1);

    const calls = commentCalls().map((r) => `${r.method} ${r.path}${r.query.get('page') ? ` page=${r.query.get('page')}` : ''}`);
    expect(calls).toEqual([
      'GET /repos/acme/astro/issues/42/comments',
      'GET /repos/acme/astro/issues/42/comments page=2',
      'POST /repos/acme/astro/issues/42/comments',
    ]);
    for (const r of server.requests) expect(r.headers.authorization).toBe(`token ${TOKEN}`);
    expect(server.requests[0]!.query.get('per_page')).toBe('100');
    const posted = (server.requests.at(-1)!.body as { body: string }).body;
    expect(posted.startsWith(`${COMMENT_MARKER}\n## ❌ dbops migration checks: failed`)).toBe(true);
    expect(posted).toContain('```mermaid');
    expect(posted.length).toBeLessThan(65_536);
    const created = server.comments.get(42)!.at(-1)!;

    expect(outputs()).toEqual({ verdict: 'fail', errors: '3', warnings: '3', notices: '1', 'comment-url': created.html_url });

    const summary = readFileSync(join(dir, 'summary'), 'utf8');
    expect(summary.startsWith('## ❌ dbops migration checks: failed')).toBe(true);
    expect(summary).toContain('### Findings (7)');
    expect(summary).not.toContain(COMMENT_MARKER);

    // Annotations on the SQL lines (workflow commands on stdout), errors first.
    const annotations = run.stdout.split('\n').filter((l) => /^::(error|warning|notice) /.test(l));
    expect(annotations[0]).toMatch(/^::error /);
    expect(annotations).toContain(
      '::error title=dbops lint%3A squawk/require-concurrent-index-creation,file=prisma/migrations/20261104120000_invoice_due_date/migration.sql,line=5,endLine=5,col=1,endColumn=59::During normal index creation, table updates are blocked, but reads are still allowed.%0AUse `CONCURRENTLY` to avoid blocking writes (and move the statement to a migration of its own: it cannot run in a transaction).',
    );
    expect(annotations).toContain(
      '::error title=dbops rehearse%3A rehearse/access-exclusive,file=prisma/migrations/20261104120000_invoice_due_date/migration.sql,line=1,endLine=1::ACCESS EXCLUSIVE on public.Invoice (200,000 rows) held for 2.79 s, over the 2 s budget (rehearse.budgets.access_exclusive.error): reads and writes of Invoice wait that long in production.%0ASplit the change: add the column without the type change, backfill in batches, create the index CONCURRENTLY in a migration of its own.',
    );
    expect(annotations.filter((a) => a.startsWith('::notice '))).toEqual([
      '::notice title=dbops lint%3A rollbacks/drops-data,file=rollbacks/20261104120000_invoice_due_date.sql,line=9,endLine=9,col=1,endColumn=44::The rollback drops "Invoice"."dueDate": due dates entered after the deploy are lost if it runs.',
    ]);
    expect(annotations).toHaveLength(7);

    const sarif = JSON.parse(readFileSync(join(dir, 'reports', 'dbops.sarif'), 'utf8')) as { version: string; runs: Array<{ results: unknown[] }> };
    expect(sarif.version).toBe('2.1.0');
    expect(sarif.runs[0]!.results).toHaveLength(7);

    expect(run.all).not.toContain(TOKEN);
    for (const f of ['output', 'summary', 'reports/dbops.sarif']) expect(readFileSync(join(dir, f), 'utf8')).not.toContain(TOKEN);
  });

  it('masks a connection string in a finding everywhere it publishes', async () => {
    const path = join(dir, 'reports', 'rehearse.json');
    const rehearse = JSON.parse(readFileSync(path, 'utf8')) as ReportEnvelope;
    rehearse.findings[0]!.message = 'clone failed: postgresql://snap:Leak3dPw@staging.internal:5432/astro';
    writeFileSync(path, JSON.stringify(rehearse));
    const run = await runDbops(['report', '--reports-dir', join(dir, 'reports')], actionsEnv());
    expect(run.code).toBe(1);
    const published = [
      run.all,
      JSON.stringify(server.requests.map((r) => r.body)),
      readFileSync(join(dir, 'summary'), 'utf8'),
      readFileSync(join(dir, 'reports', 'dbops.sarif'), 'utf8'),
    ];
    for (const text of published) expect(text).not.toContain('Leak3dPw');
    expect(run.stdout).toContain('::clone failed: postgresql://snap:***@staging.internal:5432/astro');
  });

  it('edits the same comment on the next run instead of posting a second one', async () => {
    server.seed(42, 130);
    const env = actionsEnv();
    expect((await runDbops(['report', '--reports-dir', join(dir, 'reports')], env)).code).toBe(1);
    const first = server.comments.get(42)!.at(-1)!;
    server.requests.length = 0;
    // The next push: rehearse passes now.
    const path = join(dir, 'reports', 'rehearse.json');
    const rehearse = JSON.parse(readFileSync(path, 'utf8')) as ReportEnvelope;
    writeFileSync(path, JSON.stringify({ ...rehearse, verdict: 'pass', exitCode: 0, findings: [] }));
    writeFileSync(join(dir, 'output'), '');

    const second = await runDbops(['report', '--reports-dir', join(dir, 'reports')], env);
    expect(second.code).toBe(1);
    const calls = commentCalls().map((r) => `${r.method} ${r.path}`);
    expect(calls).toEqual([
      'GET /repos/acme/astro/issues/42/comments',
      'GET /repos/acme/astro/issues/42/comments',
      `PATCH /repos/acme/astro/issues/comments/${first.id}`,
    ]);
    expect(server.requests[1]!.query.get('page')).toBe('2');
    expect((server.requests.at(-1)!.body as { body: string }).body).toContain(COMMENT_MARKER);
    const ours = server.comments.get(42)!.filter((c) => c.body.startsWith(COMMENT_MARKER));
    expect(ours).toHaveLength(1);
    expect(ours[0]!.body).toContain('| rehearse | ✅ pass |');
    expect(outputs()['comment-url']).toBe(first.html_url);
  });

  it('outside a pull request (push) skips the comment with a log line and does the rest', async () => {
    const run = await runDbops(['report', '--reports-dir', join(dir, 'reports')], actionsEnv('push'));
    expect(run.code).toBe(1);
    expect(server.requests).toEqual([]);
    expect(run.stderr).toContain('skipping the pull request comment: the push event is not a pull request');
    expect(outputs()).toMatchObject({ verdict: 'fail', 'comment-url': '' });
    expect(readFileSync(join(dir, 'summary'), 'utf8')).toContain('dbops migration checks');
    expect(existsSync(join(dir, 'reports', 'dbops.sarif'))).toBe(true);
  });

  it('without a token skips the comment with a log line', async () => {
    const env = actionsEnv();
    delete env['GITHUB_TOKEN'];
    const run = await runDbops(['report', '--reports-dir', join(dir, 'reports')], env);
    expect(run.code).toBe(1);
    expect(server.requests).toEqual([]);
    expect(run.stderr).toContain('GITHUB_TOKEN is not set: skipping the pull request comment');
    expect(outputs()['comment-url']).toBe('');
  });

  it('a job summary that cannot be written costs a warning, not the outputs', async () => {
    const run = await runDbops(
      ['report', '--reports-dir', join(dir, 'reports')],
      actionsEnv('pull_request', { GITHUB_STEP_SUMMARY: join(dir, 'missing', 'summary') }),
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('could not write the job summary');
    expect(outputs()).toMatchObject({ verdict: 'fail', errors: '3' });
  });

  it('a refused comment (read-only fork token) is a warning: outputs and summary are still written, the token is not printed', async () => {
    server.failWith(403);
    const run = await runDbops(['report', '--reports-dir', join(dir, 'reports')], actionsEnv());
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('could not publish the pull request comment (HTTP 403');
    expect(run.stderr).toContain('permissions: pull-requests: write');
    expect(outputs()).toMatchObject({ verdict: 'fail', errors: '3', 'comment-url': '' });
    expect(readFileSync(join(dir, 'summary'), 'utf8')).toContain('dbops migration checks');
    expect(run.all).not.toContain(TOKEN);
  });

  it('annotates at most 10 errors and 10 warnings, errors first, and says in the summary how many were left out', async () => {
    const lintPath = join(dir, 'reports', 'lint.json');
    const lint = JSON.parse(readFileSync(lintPath, 'utf8')) as ReportEnvelope;
    const finding = (severity: 'error' | 'warning' | 'notice', i: number) => ({
      rule: `squawk/rule-${severity}`,
      severity,
      message: `${severity} ${i}`,
      file: 'prisma/migrations/20261104120000_invoice_due_date/migration.sql',
      line: i + 1,
    });
    lint.findings = [
      ...Array.from({ length: 12 }, (_, i) => finding('warning', i)),
      ...Array.from({ length: 14 }, (_, i) => finding('error', i)),
      ...Array.from({ length: 3 }, (_, i) => finding('notice', i)),
    ];
    writeFileSync(lintPath, JSON.stringify(lint));
    rmSync(join(dir, 'reports', 'rehearse.json'));

    const run = await runDbops(['report', '--reports-dir', join(dir, 'reports')], actionsEnv());
    const kinds = run.stdout.split('\n').flatMap((l) => /^::(error|warning|notice) /.exec(l)?.[1] ?? []);
    expect(kinds).toEqual([...Array(10).fill('error'), ...Array(10).fill('warning'), ...Array(3).fill('notice')]);
    const summary = readFileSync(join(dir, 'summary'), 'utf8');
    expect(summary).toContain('6 of 29 findings are not annotated on the files');
    expect(outputs()).toMatchObject({ errors: '14', warnings: '12', notices: '3' });
  });

  it('--github publishes outside Actions too; --output alone inside Actions only renders', async () => {
    const env = actionsEnv();
    delete env['GITHUB_ACTIONS'];
    expect((await runDbops(['report', '--reports-dir', join(dir, 'reports'), '--github'], env)).code).toBe(1);
    expect(commentCalls().map((r) => r.method)).toEqual(['GET', 'POST']);

    server.requests.length = 0;
    const md = join(dir, 'report.md');
    const rendering = await runDbops(['report', '--reports-dir', join(dir, 'reports'), '--format', 'markdown', '--output', md], actionsEnv());
    expect(rendering.code).toBe(1);
    expect(server.requests).toEqual([]);
    expect(readFileSync(md, 'utf8')).toContain('## ❌ dbops migration checks: failed');
  });
});
