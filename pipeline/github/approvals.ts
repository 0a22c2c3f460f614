import type { Logger } from '../core/logger.ts';
import type { Approval, FileProvenance, FourEyesResult, PullRequest, RunIdentity } from '../deploy/schema.ts';

export interface ApprovalQuery {
  /** GitHub environment whose approvals count. */
  environment: string;
  required: number;
  fourEyes: boolean;
  /** Repository paths (relative to the repository root) of the change's migration and rollback files. */
  files: Array<{ migration: string; path: string }>;
}

export interface ApprovalEvidence {
  run: RunIdentity;
  approvals: Approval[];
  pulls: PullRequest[];
  provenance: FileProvenance[];
  fourEyes: FourEyesResult;
}

/** The run this command is a step of, from GITHUB_* variables; null outside GitHub Actions. */
export function runIdentity(_env: NodeJS.ProcessEnv): RunIdentity | null {
  throw new Error('not implemented: runIdentity');
}

/**
 * Reads the run's environment approvals, the commits and pull requests behind the files, their reviews,
 * and judges four-eyes. Throws EnvError when the REST API cannot be read (no token, 403, unreachable).
 */
export async function collectApprovalEvidence(_query: ApprovalQuery, _env: NodeJS.ProcessEnv, _log: Logger): Promise<ApprovalEvidence> {
  throw new Error('not implemented: collectApprovalEvidence');
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

/** Pure: which approvals count, and every one that does not, naming the user and the rule. */
export function judgeFourEyes(_input: FourEyesInput): FourEyesResult {
  throw new Error('not implemented: judgeFourEyes');
}
