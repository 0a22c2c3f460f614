import { describe, expect, it } from 'vitest';
import { EnvError, ExitCode } from '../../pipeline/core/errors.ts';
import { FourEyesResult, type Approval, type FileProvenance, type PullRequest } from '../../pipeline/evidence/records.ts';
import { runIdentity } from '../../pipeline/infra/github/approvals.ts';
import { type FourEyesInput, judgeFourEyes } from '../../pipeline/change/release/approvals.ts';

const INIT = '20260101000000_init';
const ORDERS = '20260102000000_orders';

const pull = (number: number, author: string): PullRequest => ({
  number,
  title: `PR ${number}`,
  labels: [],
  url: `https://github.example/acme/astro/pull/${number}`,
  author,
  mergedBy: 'mergebot',
  mergedAt: '2026-01-02T10:00:00Z',
  mergeCommit: null,
  reviews: [],
});

/** alice opened #12 (init); carol opened #13 (orders), on which bob pushed a commit; rita started the run. */
const provenance: FileProvenance[] = [
  { migration: INIT, path: `prisma/migrations/${INIT}/migration.sql`, commits: [{ sha: 'a'.repeat(40), author: 'alice', committer: 'web-flow' }], pulls: [12] },
  { migration: INIT, path: `rollbacks/${INIT}.sql`, commits: [{ sha: 'a'.repeat(40), author: 'alice', committer: 'web-flow' }], pulls: [12] },
  {
    migration: ORDERS,
    path: `prisma/migrations/${ORDERS}/migration.sql`,
    commits: [
      { sha: 'b'.repeat(40), author: 'carol', committer: 'carol' },
      { sha: 'd'.repeat(40), author: null, committer: 'bob' },
    ],
    pulls: [13],
  },
];

const approve = (user: string, environments = ['production'], state: Approval['state'] = 'approved', comment = ''): Approval => ({
  user,
  state,
  comment,
  environments,
});

const input = (approvals: Approval[], over: Partial<FourEyesInput> = {}): FourEyesInput => ({
  environment: 'production',
  required: 1,
  fourEyes: true,
  approvals,
  pulls: [pull(12, 'alice'), pull(13, 'carol')],
  provenance,
  triggeringActor: 'rita',
  ...over,
});

const judge = (approvals: Approval[], over: Partial<FourEyesInput> = {}) => {
  const result = judgeFourEyes(input(approvals, over));
  // Every result is what the gate report and the evidence bundle store.
  expect(FourEyesResult.parse(result)).toEqual(result);
  for (const r of result.refused) {
    if (r.rule === 'too-few') continue;
    // Every refusal names its user and, in words, its rule.
    expect(r.message.startsWith(`${r.user} `)).toBe(true);
  }
  return result;
};

describe('judgeFourEyes', () => {
  it('refuses the author of a pull request behind the change, naming the PR and its migration', () => {
    const r = judge([approve('alice')]);
    expect(r.ok).toBe(false);
    expect(r.counted).toEqual([]);
    expect(r.refused[0]).toEqual({
      user: 'alice',
      rule: 'pr-author',
      message: `alice approved production but authored pull request #12 that introduced ${INIT}: the author of a change cannot approve its deploy (four-eyes).`,
    });
  });

  it('refuses whoever committed to the files, though they opened no PR', () => {
    const r = judge([approve('bob')]);
    expect(r.ok).toBe(false);
    expect(r.refused[0]).toEqual({
      user: 'bob',
      rule: 'committer',
      message: `bob approved production but is the committer of commit ddddddd to prisma/migrations/${ORDERS}/migration.sql (${ORDERS}): whoever wrote or committed a change cannot approve its deploy (four-eyes).`,
    });
  });

  it('refuses the triggering actor', () => {
    const r = judge([approve('rita')]);
    expect(r.ok).toBe(false);
    expect(r.refused[0]).toMatchObject({ user: 'rita', rule: 'triggering-actor' });
    expect(r.refused[0]!.message).toBe(
      'rita approved production but started this run (the triggering actor): whoever starts a deploy cannot also approve it (four-eyes).',
    );
  });

  it('reports the first rule a user breaks: PR author before committer before triggering actor', () => {
    const r = judge([approve('carol')], { triggeringActor: 'carol' });
    expect(r.refused.filter((x) => x.user === 'carol').map((x) => x.rule)).toEqual(['pr-author']);
    expect(
      judge([approve('bob')], { triggeringActor: 'bob' })
        .refused.filter((x) => x.user === 'bob')
        .map((x) => x.rule),
    ).toEqual(['committer']);
  });

  it('allows an approval by someone who neither wrote, committed nor started the change', () => {
    const r = judge([approve('frank')]);
    expect(r).toEqual({
      environment: 'production',
      required: 1,
      ok: true,
      counted: ['frank'],
      refused: [],
      excluded: { prAuthors: ['alice', 'carol'], committers: ['alice', 'carol', 'bob'], triggeringActor: 'rita' },
    });
  });

  it('refuses fewer counted approvals than required, saying how many and whose count', () => {
    const r = judge([approve('frank'), approve('alice'), approve('frank')], { required: 2 });
    expect(r.ok).toBe(false);
    expect(r.counted).toEqual(['frank']);
    const short = r.refused.find((x) => x.rule === 'too-few')!;
    expect(short.user).toBe('');
    expect(short.message).toBe(
      '1 of 2 required approvals of production count (counted: frank; not counted: alice): ask a reviewer of the production environment who did not write, commit or start the change to approve it.',
    );
    expect(judge([]).refused).toEqual([
      expect.objectContaining({ rule: 'too-few', message: expect.stringContaining('0 of 1 required approval of production count (counted: none)') }),
    ]);
  });

  it('counts each user once, however many times they approved', () => {
    const r = judge([approve('frank'), approve('Frank'), approve('grace')], { required: 3 });
    expect(r.counted).toEqual(['frank', 'grace']);
    expect(r.ok).toBe(false);
    expect(r.refused.at(-1)!.message).toContain('2 of 3 required approvals');
  });

  it('does not count an approval of another environment', () => {
    const r = judge([approve('erin', ['staging'])]);
    expect(r.ok).toBe(false);
    expect(r.counted).toEqual([]);
    expect(r.refused[0]).toEqual({
      user: 'erin',
      rule: 'other-environment',
      message: 'erin approved staging, not production: only reviews of the production environment count for this deploy.',
    });
    // One review may cover several environments of the run.
    expect(judge([approve('erin', ['staging', 'production'])]).counted).toEqual(['erin']);
  });

  it('records a rejection, with its comment, and it makes the result not ok even with enough approvals', () => {
    const r = judge([approve('frank'), approve('grace', ['production'], 'rejected', 'backup is from yesterday')]);
    expect(r.counted).toEqual(['frank']);
    expect(r.ok).toBe(false);
    expect(r.refused).toEqual([
      {
        user: 'grace',
        rule: 'rejected',
        message: 'grace rejected the production deployment ("backup is from yesterday"): a rejected review stops the deploy until a new run is approved.',
      },
    ]);
  });

  it('compares logins case-insensitively, and web-flow is nobody', () => {
    const r = judge([approve('ALICE'), approve('Bob'), approve('RITA'), approve('web-flow')], { required: 1 });
    expect(r.refused.map((x) => [x.user, x.rule])).toEqual([
      ['ALICE', 'pr-author'],
      ['Bob', 'committer'],
      ['RITA', 'triggering-actor'],
    ]);
    // GitHub's merge-button committer is not a person who wrote the change.
    expect(r.excluded.committers).not.toContain('web-flow');
    expect(r.counted).toEqual(['web-flow']);
  });

  it('with four_eyes off, authors and the triggering actor count; environment and rejection rules still apply', () => {
    const r = judge([approve('alice'), approve('bob'), approve('rita'), approve('erin', ['staging'])], { fourEyes: false, required: 3 });
    expect(r.ok).toBe(true);
    expect(r.counted).toEqual(['alice', 'bob', 'rita']);
    expect(r.refused.map((x) => x.rule)).toEqual(['other-environment']);
    expect(r.excluded).toEqual({ prAuthors: [], committers: [], triggeringActor: null });
    expect(judge([approve('alice', ['production'], 'rejected')], { fourEyes: false }).ok).toBe(false);
  });

  it('requires nothing when the policy asks for no approvals, unless someone rejected', () => {
    expect(judge([], { required: 0 }).ok).toBe(true);
    expect(judge([approve('grace', ['production'], 'rejected')], { required: 0 }).ok).toBe(false);
  });
});

describe('runIdentity', () => {
  const env = {
    GITHUB_ACTIONS: 'true',
    GITHUB_REPOSITORY: 'acme/astro',
    GITHUB_RUN_ID: '987',
    GITHUB_SHA: 'c'.repeat(40),
    GITHUB_ACTOR: 'rita',
    GITHUB_EVENT_NAME: 'workflow_dispatch',
  };

  it('is null outside GitHub Actions', () => {
    expect(runIdentity({ ...env, GITHUB_ACTIONS: undefined })).toBeNull();
    expect(runIdentity({})).toBeNull();
  });

  it('reads the run from GITHUB_* variables, with attempt 1, github.com and the actor as defaults', () => {
    expect(runIdentity(env)).toEqual({
      repository: 'acme/astro',
      runId: '987',
      runAttempt: 1,
      runUrl: 'https://github.com/acme/astro/actions/runs/987/attempts/1',
      workflowRef: null,
      workflowSha: null,
      event: 'workflow_dispatch',
      ref: null,
      sha: 'c'.repeat(40),
      actor: 'rita',
      triggeringActor: 'rita',
    });
    const rerun = runIdentity({
      ...env,
      GITHUB_RUN_ATTEMPT: '3',
      GITHUB_TRIGGERING_ACTOR: 'sam',
      GITHUB_SERVER_URL: 'https://ghe.example',
      GITHUB_REF: 'refs/heads/main',
      GITHUB_WORKFLOW_REF: 'acme/astro/.github/workflows/deploy-production.yml@refs/heads/main',
    });
    expect(rerun).toMatchObject({
      runAttempt: 3,
      actor: 'rita',
      triggeringActor: 'sam',
      runUrl: 'https://ghe.example/acme/astro/actions/runs/987/attempts/3',
      ref: 'refs/heads/main',
    });
  });

  it.each(['GITHUB_REPOSITORY', 'GITHUB_RUN_ID', 'GITHUB_SHA'])('inside Actions without %s: EnvError naming it', (name) => {
    let error: unknown;
    try {
      runIdentity({ ...env, [name]: undefined });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EnvError);
    expect((error as EnvError).exitCode).toBe(ExitCode.Environment);
    expect((error as EnvError).message).toContain(name);
  });
});
