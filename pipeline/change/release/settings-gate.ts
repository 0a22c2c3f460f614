import { dirname } from 'node:path';
import type { Runtime } from '../../core/runtime.ts';
import type { Approval, BreakGlass, FileProvenance, FourEyesResult, GateCheck, PullRequest, RunIdentity } from '../../evidence/index.ts';
import { approvalCheck, repositoryPaths } from './checks/approval.ts';
import type { Environment } from './environment.ts';
import { windowCheck } from './gate.ts';

/**
 * The gate of a settings change on an environment (`dbops settings apply --environment`): the same change
 * window and the same environment approvals with four-eyes as a deploy, judged over the commits to
 * policies/postgresql.yaml since its previous applied change. Backups, staging-first, lint and rehearsal
 * are a migration's checks: a setting changes no data and is undone by applying the previous file.
 */

export interface SettingsGateRequest {
  environment: Environment;
  /** policies/postgresql.yaml as given (its repository path is what the commits API is asked about). */
  policyFile: string;
  /** Commits after this instant are the change; null: the file's whole history. */
  since: string | null;
  breakGlass?: string | undefined;
  outsideWindow?: string | undefined;
  now?: () => Date;
}

export interface SettingsGateData {
  decision: 'allowed' | 'refused';
  at: string;
  checks: GateCheck[];
  breakGlass: BreakGlass | null;
  outsideWindow: { reason: string; window: string } | null;
  run: RunIdentity | null;
  approvals: Approval[];
  fourEyes: FourEyesResult | null;
  pulls: PullRequest[];
  provenance: FileProvenance[];
}

export async function evaluateSettingsGate(request: SettingsGateRequest, ctx: Runtime): Promise<SettingsGateData> {
  const now = (request.now ?? (() => new Date()))();
  const { environment } = request;
  const window = windowCheck(environment, now, request.outsideWindow, 'Apply the settings');
  const repoPath = await repositoryPaths(ctx, dirname(request.policyFile));
  const approval = await approvalCheck(
    {
      environment,
      env: ctx.env,
      ctx,
      now,
      breakGlass: request.breakGlass,
      since: request.since ?? undefined,
      files: async () => [{ migration: 'server settings', path: repoPath(request.policyFile) }],
    },
    window.extraApprovals,
  );
  const checks = [approval.check, window.check];
  const decision = checks.some((c) => c.status === 'fail') ? 'refused' : 'allowed';
  ctx.log.info({ environment: environment.name, decision }, 'settings gate: decided');
  const evidence = approval.evidence;
  return {
    decision,
    at: now.toISOString(),
    checks,
    breakGlass: approval.breakGlass,
    outsideWindow: window.outsideWindow,
    run: evidence?.run ?? approval.run,
    approvals: evidence?.approvals ?? [],
    fourEyes: evidence?.fourEyes ?? null,
    pulls: evidence?.pulls ?? [],
    provenance: evidence?.provenance ?? [],
  };
}
