import type { Runtime } from '../../core/runtime.ts';
import type { Environment, PolicyGateData } from '../../change/release/index.ts';
import type { AccessChange } from '../../evidence/index.ts';
import type { AccessPolicy } from '../../policy/access.ts';
import type { Policies } from '../../policy/schema.ts';
import { applyAccess, surveyAccess, type AccessApplyResult } from './apply.ts';
import { applyPlan, type AccessAudit } from './audit.ts';

/**
 * An access change on an environment of policies/environments.yaml goes the way of a migration and of a
 * settings change: the gate (change window, environment approvals with four-eyes over the commits to
 * policies/access.yaml since its previous applied change), then `access apply` under the deploy lock (a
 * deploy, a settings change and an access change of one database never interleave, and the evidence chain
 * has one writer), then an evidence bundle of kind access, refused, applied or failed, with the audit's
 * findings before, the statements run and what still differs after. --dry-run judges and plans only: it
 * changes nothing and writes no bundle.
 */

export interface AccessChangeRequest {
  environment: Environment;
  policies: Pick<Policies, 'backups' | 'environments'> & { access: AccessPolicy };
  /** policies/access.yaml as loaded (its bytes are hashed into the bundle). */
  policyFile: string;
  prune: boolean;
  dryRun?: boolean;
  breakGlass?: string | undefined;
  outsideWindow?: string | undefined;
  now?: () => Date;
}

export interface AccessChangeResult {
  gate: PolicyGateData;
  /**
   * Applied: what ran; refused, or --dry-run: the audit and the statements that would run (applied false).
   */
  result: AccessApplyResult;
  /** Null with --dry-run (no bundle is written). */
  bundle: { environment: string; sequence: number; key: string; sha256: string } | null;
}

const findingsOf = (audit: AccessAudit['findings']): AccessChange['before'] => audit.map((f) => ({ kind: f.kind, subject: f.subject, message: f.message }));

export async function applyAccessChange(request: AccessChangeRequest, rt: Runtime): Promise<AccessChangeResult> {
  const { environment, policies, prune } = request;
  // The release and evidence domains (S3, encryption, GitHub) load only for a change on an environment: an audit starts without them.
  const [{ gatedPolicyChange }, { openEvidence }] = await Promise.all([import('../../change/release/index.ts'), import('../../evidence/index.ts')]);
  const store = openEvidence({ backups: policies.backups, environments: policies.environments }, environment.name, rt.env, rt.log);
  const plan = async (): Promise<AccessApplyResult> => {
    const before = await surveyAccess(environment.target, policies.access, rt);
    return { before, statements: applyPlan(before, prune), applied: false, after: null, remaining: [] };
  };
  let planned: AccessApplyResult | undefined;
  const { gate, applied, stored } = await gatedPolicyChange(
    {
      environment,
      store,
      kind: 'access',
      policyFile: request.policyFile,
      change: 'access policy',
      verb: 'Apply the access policy',
      breakGlass: request.breakGlass,
      outsideWindow: request.outsideWindow,
      ...(request.dryRun ? { dryRun: true } : {}),
      ...(request.now ? { now: request.now } : {}),
    },
    {
      apply: () => applyAccess(environment.target, policies.access, { prune, dryRun: false }, rt),
      wasApplied: (b) => b.access?.outcome === 'applied',
      record: async (gateRecord, { applied: done, error }) => {
        // Refused or failed: what differs now, read for the bundle (after a failure, whatever can still be read).
        const result =
          done ??
          (planned = await plan().catch((e: unknown) => {
            if (error) return undefined;
            throw e;
          }));
        const access: AccessChange = {
          ...gateRecord,
          outcome: gateRecord.decision === 'refused' ? 'refused' : done && done.remaining.length === 0 ? 'applied' : 'failed',
          prune,
          statements: done?.applied ? done.statements : [],
          before: findingsOf(result?.before.findings ?? []),
          remaining: findingsOf(done?.remaining ?? []),
          ...(error ? { error } : {}),
        };
        return { access };
      },
    },
    rt,
  );
  return {
    gate,
    result: applied ?? planned ?? (await plan()),
    bundle: stored ? { environment: environment.name, sequence: stored.bundle.sequence, key: stored.key, sha256: stored.bundle.sha256 } : null,
  };
}
