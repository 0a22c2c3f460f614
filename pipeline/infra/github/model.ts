import { z } from 'zod';

/** What dbops reads from GitHub: the run, its environment approvals, the commits and pull requests behind files, the environment's settings. Recorded as evidence, so validated on read. */

/** The GitHub Actions run a command runs in; null outside Actions. From GITHUB_* variables and the run object. */
export const RunIdentity = z.object({
  repository: z.string().describe('owner/name'),
  runId: z.string(),
  runAttempt: z.number().int(),
  runUrl: z.string(),
  workflowRef: z.string().nullable().describe('GITHUB_WORKFLOW_REF: owner/repo/.github/workflows/file.yml@refs/heads/main'),
  workflowSha: z.string().nullable(),
  event: z.string(),
  ref: z.string().nullable(),
  sha: z.string().describe('commit the run deploys (GITHUB_SHA)'),
  actor: z.string().describe('GITHUB_ACTOR'),
  triggeringActor: z.string().describe('GITHUB_TRIGGERING_ACTOR (who started this attempt; a re-run may differ from actor)'),
});
export type RunIdentity = z.output<typeof RunIdentity>;

/** One environment approval of the run (GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals). */
export const Approval = z.object({
  user: z.string(),
  state: z.enum(['approved', 'rejected']),
  comment: z.string(),
  environments: z.array(z.string()),
});
export type Approval = z.output<typeof Approval>;

export const Review = z.object({
  user: z.string(),
  state: z.string().describe('APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED'),
  submittedAt: z.string().nullable(),
  commitId: z.string().nullable(),
});

/** Where one migration (or rollback) file came from: the commits that touched it and their pull requests. */
export const FileProvenance = z.object({
  migration: z.string(),
  path: z.string().describe('repository path, e.g. prisma/migrations/<name>/migration.sql or rollbacks/<name>.sql'),
  commits: z.array(z.object({ sha: z.string(), author: z.string().nullable(), committer: z.string().nullable() })),
  pulls: z.array(z.number().int()),
});
export type FileProvenance = z.output<typeof FileProvenance>;

export const PullRequest = z.object({
  number: z.number().int(),
  title: z.string(),
  url: z.string(),
  author: z.string(),
  mergedBy: z.string().nullable(),
  mergedAt: z.string().nullable(),
  mergeCommit: z.string().nullable(),
  /** Labels on the pull request: a lint.destructive.allow_labels label is how its reviewers allowed data loss. */
  labels: z.array(z.string()).default([]),
  reviews: z.array(Review),
});
export type PullRequest = z.output<typeof PullRequest>;

/** The GitHub environment's protection settings when the gate ran (GET /repos/{owner}/{repo}/environments/{name}). */
export const EnvironmentSettings = z.object({
  name: z.string(),
  /** Administrators may start waiting jobs without an approval ("bypass"). */
  canAdminsBypass: z.boolean().nullable(),
  /** GitHub blocks the run's initiator from approving (only that: dbops' four-eyes does the rest). Null without required reviewers. */
  preventSelfReview: z.boolean().nullable(),
  /** Required reviewers: user logins and team slugs (`team:<slug>`). */
  reviewers: z.array(z.string()),
  waitTimerMinutes: z.number().nullable(),
  /** null: any branch may deploy. */
  deploymentBranchPolicy: z.object({ protectedBranches: z.boolean(), customBranchPolicies: z.boolean() }).nullable(),
});
export type EnvironmentSettings = z.output<typeof EnvironmentSettings>;
