import type { Logger } from '../../core/logger.ts';
import { EnvError } from '../../core/errors.ts';
import { readApprovalFacts, runIdentity, type ApprovalFacts, type ApprovalFactsQuery } from '../../infra/github/approvals.ts';
import type { Approval, FileProvenance, FourEyesResult, PullRequest } from '../../evidence/index.ts';
import { noun } from '../../core/format.ts';

/**
 * Four-eyes over what GitHub says: an approval counts only from someone who neither wrote (pull request
 * author), committed, nor triggered the change. GitHub's "prevent self-review" stops only the run's initiator.
 */

export interface ApprovalQuery extends ApprovalFactsQuery {
  required: number;
  fourEyes: boolean;
}

export interface ApprovalEvidence extends ApprovalFacts {
  fourEyes: FourEyesResult;
}

/** The run's approvals and who wrote the change, read from GitHub, and the four-eyes judgement over them. */
export async function collectApprovalEvidence(
  query: ApprovalQuery,
  env: NodeJS.ProcessEnv,
  log: Logger,
  options: { timeoutMs?: number } = {},
): Promise<ApprovalEvidence> {
  const run = runIdentity(env);
  // Before any request: without the triggering actor four-eyes cannot be judged at all.
  if (query.fourEyes && run && env['GITHUB_TOKEN'] && !run.triggeringActor) {
    throw new EnvError('Neither GITHUB_TRIGGERING_ACTOR nor GITHUB_ACTOR is set: four-eyes cannot exclude whoever started this run.', {
      hint: 'The Actions runner sets both; pass them through if the step replaces its environment.',
    });
  }
  const facts = await readApprovalFacts(query, env, log, options);
  const fourEyes = judgeFourEyes({
    ...facts,
    environment: query.environment,
    required: query.required,
    fourEyes: query.fourEyes,
    triggeringActor: facts.run.triggeringActor || null,
  });
  log.info(
    { environment: query.environment, counted: fourEyes.counted, refused: fourEyes.refused.length },
    `four-eyes: ${fourEyes.counted.length} approval(s) count, ${fourEyes.refused.length} refused`,
  );
  return { ...facts, fourEyes };
}

export interface FourEyesInput {
  environment: string;
  required: number;
  fourEyes: boolean;
  approvals: Approval[];
  pulls: PullRequest[];
  provenance: FileProvenance[];
  triggeringActor: string | null;
}

type Refusal = FourEyesResult['refused'][number];

/** GitHub's own committer on merge, squash and web-edit commits: an account, not a person who wrote the change. */
const NOT_A_PERSON = new Set(['web-flow']);

const key = (user: string) => user.toLowerCase();

/** Distinct by login, case-insensitively, keeping the first spelling. */
function distinct(users: Iterable<string>): string[] {
  const seen = new Map<string, string>();
  for (const u of users) if (u && !seen.has(key(u))) seen.set(key(u), u);
  return [...seen.values()];
}

const listOf = (items: string[]) => (items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`);

/** Pure: which approvals count, and every one that does not, naming the user and the rule. */
export function judgeFourEyes(input: FourEyesInput): FourEyesResult {
  const { environment, required, fourEyes } = input;
  const migrationsOfPull = (n: number) => [...new Set(input.provenance.filter((f) => f.pulls.includes(n)).map((f) => f.migration))];

  // Who wrote the change, per login, with what they did (the refusal names it).
  const authored = new Map<string, PullRequest[]>();
  for (const p of input.pulls) authored.set(key(p.author), [...(authored.get(key(p.author)) ?? []), p]);
  const committed = new Map<string, { login: string; role: 'author' | 'committer'; sha: string; path: string; migration: string }>();
  for (const f of input.provenance) {
    for (const c of f.commits) {
      for (const [who, role] of [
        [c.author, 'author'],
        [c.committer, 'committer'],
      ] as const) {
        if (!who || NOT_A_PERSON.has(key(who)) || committed.has(key(who))) continue;
        committed.set(key(who), { login: who, role, sha: c.sha, path: f.path, migration: f.migration });
      }
    }
  }
  const trigger = input.triggeringActor || null;

  const counted: string[] = [];
  const refused: Refusal[] = [];
  const refuse = (r: Refusal) => {
    if (!refused.some((x) => key(x.user) === key(r.user) && x.rule === r.rule)) refused.push(r);
  };

  for (const a of input.approvals) {
    const u = a.user;
    const said = a.comment.trim() ? ` ("${a.comment.trim()}")` : '';
    if (!a.environments.includes(environment)) {
      refuse({
        user: u,
        rule: 'other-environment',
        message: `${u} ${a.state} ${listOf(a.environments) || 'no environment'}, not ${environment}: only reviews of the ${environment} environment count for this deploy.`,
      });
      continue;
    }
    if (a.state === 'rejected') {
      refuse({
        user: u,
        rule: 'rejected',
        message: `${u} rejected the ${environment} deployment${said}: a rejected review stops the deploy until a new run is approved.`,
      });
      continue;
    }
    if (fourEyes) {
      const authoredPulls = authored.get(key(u));
      if (authoredPulls) {
        const pulls = authoredPulls.map((p) => {
          const migrations = migrationsOfPull(p.number);
          return `pull request #${p.number}${migrations.length ? ` that introduced ${listOf(migrations)}` : ''}`;
        });
        refuse({
          user: u,
          rule: 'pr-author',
          message: `${u} approved ${environment} but authored ${listOf(pulls)}: the author of a change cannot approve its deploy (four-eyes).`,
        });
        continue;
      }
      const commit = committed.get(key(u));
      if (commit) {
        refuse({
          user: u,
          rule: 'committer',
          message: `${u} approved ${environment} but is the ${commit.role} of commit ${commit.sha.slice(0, 7)} to ${commit.path} (${commit.migration}): whoever wrote or committed a change cannot approve its deploy (four-eyes).`,
        });
        continue;
      }
      if (trigger && key(trigger) === key(u)) {
        refuse({
          user: u,
          rule: 'triggering-actor',
          message: `${u} approved ${environment} but started this run (the triggering actor): whoever starts a deploy cannot also approve it (four-eyes).`,
        });
        continue;
      }
    }
    if (!counted.some((c) => key(c) === key(u))) counted.push(u);
  }

  if (counted.length < required) {
    const notCounted = distinct(refused.map((r) => r.user)).filter((u) => !counted.some((c) => key(c) === key(u)));
    refused.push({
      user: '',
      rule: 'too-few',
      message:
        `${counted.length} of ${required} required ${noun(required, 'approval')} of ${environment} count (counted: ${counted.length ? listOf(counted) : 'none'}` +
        `${notCounted.length ? `; not counted: ${listOf(notCounted)}` : ''}): ${fourEyes ? `ask a reviewer of the ${environment} environment who did not write, commit or start the change to approve it` : `ask a reviewer of the ${environment} environment to approve it`}.`,
    });
  }
  return {
    environment,
    required,
    ok: counted.length >= required && !refused.some((r) => r.rule === 'too-few' || r.rule === 'rejected'),
    counted,
    refused,
    // With four-eyes off nobody is excluded; the pull requests and provenance still record who wrote what.
    excluded: fourEyes
      ? { prAuthors: distinct(input.pulls.map((p) => p.author)), committers: distinct([...committed.values()].map((c) => c.login)), triggeringActor: trigger }
      : { prAuthors: [], committers: [], triggeringActor: null },
  };
}
