import { hostname, userInfo } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { EnvError } from '../../../core/errors.ts';
import { redact } from '../../../core/redact.ts';
import { runIdentity } from '../../../infra/github/approvals.ts';
import type { BreakGlass, EnvironmentSettings, GateCheck, GateReason, RunIdentity } from '../../../evidence/index.ts';
import { gateCheck, type GateScope } from './types.ts';

/**
 * What the approval check needs of a change: the environment, the clock, break-glass, and the repository
 * paths of the change's files (whose authors and committers may not approve it): a deploy's migration and
 * rollback files, a settings change's policies/postgresql.yaml, an access change's policies/access.yaml.
 */
export type ApprovalScope = Pick<GateScope, 'environment' | 'env' | 'ctx' | 'now'> & {
  breakGlass?: string | undefined;
  files: () => Promise<Array<{ migration: string; path: string }>>;
  /** Only commits after this instant count as the change (the previous applied change of the policy file), ISO 8601. */
  since?: string | undefined;
};
import { names, plural } from '../../../core/format.ts';
import { type ApprovalEvidence, collectApprovalEvidence } from '../approvals.ts';

export interface ApprovalCheck {
  check: GateCheck;
  run: RunIdentity | null;
  evidence: ApprovalEvidence | null;
  breakGlass: BreakGlass | null;
}

/** Who used --break-glass: the GitHub actor inside Actions, else the OS user and the git identity of this checkout. */
async function breakGlassRecord(scope: ApprovalScope, reason: string, run: RunIdentity | null): Promise<BreakGlass> {
  let by: string;
  if (run) by = `${run.actor} (GitHub Actions run ${run.runUrl})`;
  else {
    const os = (() => {
      try {
        return userInfo().username;
      } catch {
        return scope.env['USER'] ?? 'unknown OS user';
      }
    })();
    const email = await scope.ctx.sh({ nothrow: true })`git config user.email`.then(
      (o) => (o.exitCode === 0 ? o.stdout.trim() : ''),
      () => '',
    );
    by = `${os}${email ? ` <${email}>` : ' (no git user.email)'}`;
  }
  return { reason, by, host: hostname(), at: scope.now.toISOString() };
}

/**
 * Repository-root-relative paths of the change's migration and rollback files (what the commits API is asked
 * about): relative to the top of the git work tree holding the migrations folder, else as given.
 */
export async function changeFiles(scope: GateScope): Promise<Array<{ migration: string; path: string }>> {
  const { request } = scope;
  const repoPath = await repositoryPaths(scope.ctx, request.migrationsDir);
  const files: Array<{ migration: string; path: string }> = [];
  for (const m of scope.change) {
    if (scope.local.some((l) => l.name === m.name)) files.push({ migration: m.name, path: repoPath(join(request.migrationsDir, m.name, 'migration.sql')) });
    if (m.rollback.sha256 !== null) files.push({ migration: m.name, path: repoPath(m.rollback.path) });
  }
  return files;
}

/** Maps a path to its repository-root-relative form: relative to the top of the git work tree holding `near`, else as given. */
export async function repositoryPaths(ctx: GateScope['ctx'], near: string): Promise<(path: string) => string> {
  const top = await ctx.sh({ nothrow: true })`git -C ${resolve(near)} rev-parse --show-toplevel`.then(
    (o) => (o.exitCode === 0 ? o.stdout.trim() : undefined),
    () => undefined,
  );
  return (path: string) => {
    const inRepo = top ? relative(top, resolve(path)) : undefined;
    return (inRepo !== undefined && !inRepo.startsWith('..') ? inRepo : path).split('\\').join('/');
  };
}

/**
 * Settings of the GitHub environment that weaken its approvals: recorded as warnings (the approvals this run
 * got are judged by four-eyes either way), so the weakness shows in every report until it is fixed.
 */
function weakSettings(name: string, settings: EnvironmentSettings | null): GateReason[] {
  if (!settings) return [];
  const reasons: GateReason[] = [];
  if (settings.canAdminsBypass === true) {
    reasons.push({
      rule: 'approval/admin-bypass-allowed',
      message: `The "${name}" GitHub environment lets administrators bypass its protection rules (start waiting jobs without an approval).`,
      hint: `Turn off "Allow administrators to bypass configured protection rules" in the settings of the ${name} environment.`,
    });
  }
  if (settings.preventSelfReview === false) {
    reasons.push({
      rule: 'approval/self-review-allowed',
      message: `The "${name}" GitHub environment lets whoever starts a run approve it (prevent self-review is off); dbops refused such approvals, GitHub would not.`,
      hint: `Turn on "Prevent self-review" in the settings of the ${name} environment.`,
    });
  }
  if (settings.deploymentBranchPolicy === null) {
    reasons.push({
      rule: 'approval/any-branch',
      message: `Any branch may deploy to the "${name}" GitHub environment: a modified workflow on a branch reaches its secrets once approved.`,
      hint: `Limit its deployment branches to main (Settings → Environments → ${name} → Deployment branches).`,
    });
  }
  return reasons;
}

/**
 * Environment approvals with four-eyes inside GitHub Actions; outside Actions, or short of approvals, only
 * an allowed --break-glass lets the change through, recorded.
 */
export async function approvalCheck(scope: ApprovalScope, extraApprovals: number): Promise<ApprovalCheck> {
  const { environment } = scope;
  const policy = environment.policy;
  const required = policy.approvals + extraApprovals;
  let run: RunIdentity | null;
  try {
    run = runIdentity(scope.env);
  } catch (e) {
    if (!(e instanceof EnvError)) throw e;
    // GITHUB_ACTIONS=true with the run's variables missing: fail closed rather than pretend to be outside Actions.
    return {
      check: gateCheck('approval', 'fail', 'the GitHub Actions run cannot be identified', [
        { rule: 'approval/unavailable', message: redact(e.message), ...(e.hint ? { hint: e.hint } : {}) },
      ]),
      run: null,
      evidence: null,
      breakGlass: null,
    };
  }
  const breakGlassWanted = scope.breakGlass !== undefined;
  const notAllowed: GateReason | undefined =
    breakGlassWanted && !policy.break_glass
      ? {
          rule: 'approval/break-glass-not-allowed',
          message: `--break-glass was given, but the policy of ${environment.name} does not allow it (break_glass: false).`,
          hint: `Deploy through the approved workflow (${plural(required, 'approval')} of the "${environment.githubEnvironment}" GitHub environment), or set break_glass: true for ${environment.name} in policies/environments.yaml through a reviewed change.`,
        }
      : undefined;
  if (required === 0) {
    if (notAllowed) return { check: gateCheck('approval', 'fail', 'break-glass not allowed', [notAllowed]), run, evidence: null, breakGlass: null };
    // Nothing to approve, but inside Actions the pull requests behind the change still belong in the
    // evidence, and their labels decide whether a destructive statement was allowed (lint check).
    let provenance: ApprovalEvidence | null = null;
    if (run) {
      try {
        provenance = await collectApprovalEvidence(
          {
            environment: environment.githubEnvironment,
            required: 0,
            fourEyes: false,
            files: await scope.files(),
            ...(scope.since ? { since: scope.since } : {}),
          },
          scope.env,
          scope.ctx.log,
        );
      } catch (e) {
        if (!(e instanceof EnvError)) throw e;
        scope.ctx.log.warn(`the pull requests behind the change could not be read from GitHub (${redact(e.message)}); the evidence will not list them`);
      }
    }
    // Break-glass may still waive something else (a destructive statement without its label): always recorded.
    const breakGlass = breakGlassWanted ? await breakGlassRecord(scope, scope.breakGlass!, run) : null;
    return {
      check: gateCheck('approval', 'skipped', `no approval required by the policy of ${environment.name} (approvals: 0)`),
      run,
      evidence: provenance,
      breakGlass,
    };
  }
  const extra = extraApprovals > 0 ? ` (${policy.approvals} + ${extraApprovals} for deploying outside a change window)` : '';
  let evidence: ApprovalEvidence | null = null;
  const waive = async (why: string): Promise<ApprovalCheck> => {
    const breakGlass = await breakGlassRecord(scope, scope.breakGlass!, run);
    return { check: gateCheck('approval', 'waived', `BREAK-GLASS by ${breakGlass.by}: ${why}; reason: ${breakGlass.reason}`), run, evidence, breakGlass };
  };
  if (!run) {
    if (notAllowed)
      return { check: gateCheck('approval', 'fail', 'not in GitHub Actions; break-glass not allowed', [notAllowed]), run, evidence, breakGlass: null };
    if (breakGlassWanted) return waive(`${plural(required, 'approval')}${extra} required, and this is not a GitHub Actions run`);
    return {
      check: gateCheck('approval', 'fail', 'not in GitHub Actions', [
        {
          rule: 'approval/not-in-actions',
          message: `${environment.name} needs ${plural(required, 'environment approval')}${extra} of the "${environment.githubEnvironment}" GitHub environment, which exist only inside a GitHub Actions run; this is not one (GITHUB_ACTIONS is not set).`,
          hint: policy.break_glass
            ? `Deploy through the deploy workflow, or in an emergency pass --break-glass "<reason>" (recorded and marked in every report and evidence bundle).`
            : 'Deploy through the deploy workflow; the policy does not allow --break-glass for this environment.',
        },
      ]),
      run,
      evidence,
      breakGlass: null,
    };
  }
  try {
    evidence = await collectApprovalEvidence(
      {
        environment: environment.githubEnvironment,
        required,
        fourEyes: policy.four_eyes,
        files: await scope.files(),
        ...(scope.since ? { since: scope.since } : {}),
      },
      scope.env,
      scope.ctx.log,
    );
  } catch (e) {
    if (!(e instanceof EnvError)) throw e;
    const reason: GateReason = {
      rule: 'approval/unavailable',
      message: `The approvals of run ${run.runId} could not be read from GitHub: ${redact(e.message)}`,
      hint:
        e.hint ??
        'Give the job `permissions: actions: read, contents: read, pull-requests: read` and GITHUB_TOKEN; the gate refuses while it cannot see the approvals.',
    };
    if (notAllowed) return { check: gateCheck('approval', 'fail', 'approvals unreadable', [reason, notAllowed]), run, evidence, breakGlass: null };
    if (breakGlassWanted) return waive(`the approvals could not be read (${redact(e.message)})`);
    return { check: gateCheck('approval', 'fail', 'approvals unreadable', [reason]), run, evidence, breakGlass: null };
  }
  const result = evidence.fourEyes;
  if (result.ok) {
    const summary = `${plural(result.counted.length, 'approval')} counted (${result.counted.join(', ')}), ${required} required${extra}${policy.four_eyes ? ', four-eyes kept' : ''}`;
    const weak = weakSettings(environment.githubEnvironment, evidence.environmentSettings);
    const check = weak.length > 0 ? gateCheck('approval', 'warn', summary, weak) : gateCheck('approval', 'pass', summary);
    // Break-glass is not needed: nothing is waived, and nothing is recorded as waived.
    return { check, run, evidence, breakGlass: null };
  }
  const reasons: GateReason[] = result.refused.map((r) => ({
    rule: `approval/${r.rule}`,
    message: r.message,
    ...(r.user ? { user: r.user } : {}),
    hint:
      r.rule === 'too-few'
        ? `Ask ${plural(required - result.counted.length, 'more reviewer')} of the "${environment.githubEnvironment}" environment who neither wrote, committed nor triggered the change to approve run ${run.runId} (${run.runUrl}).`
        : r.rule === 'rejected'
          ? 'A reviewer rejected the deployment; resolve the objection and start a new run.'
          : 'This approval does not count (four-eyes); another reviewer must approve.',
  }));
  if (notAllowed) reasons.push(notAllowed);
  else if (breakGlassWanted)
    return waive(`${result.counted.length} of ${required} approvals counted (${names(result.refused.map((r) => `${r.user || 'shortfall'}: ${r.rule}`))})`);
  return { check: gateCheck('approval', 'fail', `${result.counted.length} of ${required} approvals count${extra}`, reasons), run, evidence, breakGlass: null };
}
