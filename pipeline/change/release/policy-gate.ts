import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Runtime } from '../../core/runtime.ts';
import {
  appendBundle,
  newestBundle,
  type Approval,
  type BreakGlass,
  type BundleDraft,
  type EvidenceBundle,
  type EvidenceStore,
  type FileProvenance,
  type FourEyesResult,
  type GateCheck,
  type PullRequest,
  type RunIdentity,
  type SettingsChange,
  type StoredBundle,
} from '../../evidence/index.ts';
import { withClient } from '../../infra/db/client.ts';
import { acquireOperationLock } from '../../infra/db/locks.ts';
import { approvalCheck, repositoryPaths } from './checks/approval.ts';
import type { Environment } from './environment.ts';
import { windowCheck } from './gate.ts';

/**
 * The gate of a change made by applying one policy file to an environment (`dbops settings apply
 * --environment` with policies/postgresql.yaml, `dbops access apply --environment` with policies/access.yaml):
 * the same change window and the same environment approvals with four-eyes as a deploy, judged over the
 * commits to that file since its previous applied change. Backups, staging-first, lint and rehearsal are a
 * migration's checks: such a change is undone by applying the previous file.
 */

export interface PolicyGateRequest {
  environment: Environment;
  /** The policy file as given (its repository path is what the commits API is asked about). */
  policyFile: string;
  /** What the change is called where the approvals name it, e.g. 'server settings', 'access policy'. */
  change: string;
  /** What the window's refusal says is to be done, e.g. 'Apply the settings'. */
  verb: string;
  /** Commits after this instant are the change; null: the file's whole history. */
  since: string | null;
  breakGlass?: string | undefined;
  outsideWindow?: string | undefined;
  now?: () => Date;
}

export interface PolicyGateData {
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

export async function evaluatePolicyGate(request: PolicyGateRequest, ctx: Runtime): Promise<PolicyGateData> {
  const now = (request.now ?? (() => new Date()))();
  const { environment } = request;
  const window = windowCheck(environment, now, request.outsideWindow, request.verb);
  const repoPath = await repositoryPaths(ctx, dirname(request.policyFile));
  const approval = await approvalCheck(
    {
      environment,
      env: ctx.env,
      ctx,
      now,
      breakGlass: request.breakGlass,
      since: request.since ?? undefined,
      files: async () => [{ migration: request.change, path: repoPath(request.policyFile) }],
    },
    window.extraApprovals,
  );
  const checks = [approval.check, window.check];
  const decision = checks.some((c) => c.status === 'fail') ? 'refused' : 'allowed';
  ctx.log.info({ environment: environment.name, change: request.change, decision }, 'policy gate: decided');
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

/** What every gated policy change records in its bundle: the file, the gate's decision and all it was judged on. */
export type PolicyChangeRecord = Pick<
  SettingsChange,
  'database' | 'policy' | 'since' | 'decision' | 'checks' | 'outsideWindow' | 'approvals' | 'fourEyes' | 'pulls' | 'provenance'
>;

export interface GatedPolicyChange extends Omit<PolicyGateRequest, 'since'> {
  store: EvidenceStore;
  /** The bundle kind the change records; the previous applied one of this kind starts the commits that are the change. */
  kind: 'settings' | 'access';
  /** Judge only: no apply, no bundle. */
  dryRun?: boolean;
}

export interface GatedPolicyChangeSteps<A> {
  /** The change itself, run only when the gate allows it; its exception is recorded, then rethrown. */
  apply: () => Promise<A>;
  /** Whether a bundle of this kind records an applied change (the previous one bounds the commits judged). */
  wasApplied: (b: EvidenceBundle) => boolean;
  /** The bundle's own part (`{ settings }`, `{ access }`) from the gate's record and what happened. */
  record: (gate: PolicyChangeRecord, outcome: { applied: A | undefined; error: string | undefined }) => Promise<Pick<BundleDraft, 'settings' | 'access'>>;
}

/**
 * A change of a policy file on an environment (settings, access) goes the way of a migration: under the deploy
 * lock (a deploy and such a change of one database never interleave, and the evidence chain has one writer),
 * the gate judges the commits to the file since its previous applied change, the change runs if allowed, and
 * a bundle records it, refused, applied or failed; a failure is recorded first, then rethrown.
 */
export async function gatedPolicyChange<A>(
  request: GatedPolicyChange,
  steps: GatedPolicyChangeSteps<A>,
  rt: Runtime,
): Promise<{ gate: PolicyGateData; applied: A | undefined; stored: StoredBundle | null }> {
  const { environment, store } = request;
  const bytes = await readFile(request.policyFile);
  return withClient(environment.target, { log: rt.log, applicationName: `dbops ${request.kind} apply` }, async (c) => {
    await acquireOperationLock(c, 'deploy', { what: 'A deploy, rollback, settings or access change', signal: rt.signal });
    const previous = await newestBundle(store, request.kind, steps.wasApplied);
    const since = previous?.createdAt ?? null;
    const gate = await evaluatePolicyGate({ ...request, since }, rt);
    if (request.dryRun) return { gate, applied: undefined, stored: null };
    let applied: A | undefined;
    let error: string | undefined;
    let failure: unknown;
    if (gate.decision === 'allowed') {
      try {
        applied = await steps.apply();
      } catch (e) {
        failure = e;
        error = e instanceof Error ? e.message : String(e);
      }
    }
    const record: PolicyChangeRecord = {
      database: environment.target.display,
      policy: { path: request.policyFile, sha256: createHash('sha256').update(bytes).digest('hex') },
      since,
      decision: gate.decision,
      checks: gate.checks,
      outsideWindow: gate.outsideWindow,
      approvals: gate.approvals,
      fourEyes: gate.fourEyes,
      pulls: gate.pulls,
      provenance: gate.provenance,
    };
    const part = await steps.record(record, { applied, error });
    const stored = await appendBundle(store, { kind: request.kind, breakGlass: gate.breakGlass, execution: null, interrupted: null, run: gate.run, ...part });
    if (failure) throw failure;
    return { gate, applied, stored };
  });
}
