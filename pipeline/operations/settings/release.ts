import type { Runtime } from '../../core/runtime.ts';
import { gatedPolicyChange, type Environment, type PolicyGateData } from '../../change/release/index.ts';
import { openEvidence, type SettingsChange } from '../../evidence/index.ts';
import type { Policies } from '../../policy/schema.ts';
import { applySettings, type SettingsApplyData } from './apply.ts';
import { surveySettings } from './facts.ts';
import type { SettingCheck } from './plan.ts';

/**
 * A settings change on an environment of policies/environments.yaml goes the way of a migration: the gate
 * (change window, environment approvals with four-eyes over the commits to policies/postgresql.yaml since
 * its previous applied change), then the apply under the deploy lock (a deploy and a settings change of one
 * database never interleave, and the evidence chain has one writer), then an evidence bundle of kind
 * settings, refused or applied, with every setting before and after.
 */

export interface SettingsChangeResult {
  gate: PolicyGateData;
  /** Absent when the gate refused. */
  applied?: SettingsApplyData;
  bundle: { environment: string; sequence: number; key: string; sha256: string };
}

export interface SettingsChangeRequest {
  environment: Environment;
  policies: Pick<Policies, 'postgresql' | 'backups' | 'environments'>;
  /** policies/postgresql.yaml as loaded (its bytes are hashed into the bundle). */
  policyFile: string;
  breakGlass?: string | undefined;
  outsideWindow?: string | undefined;
  now?: () => Date;
}

/** The settings that were not as wanted before, with the server's value before and after. */
function changesOf(before: SettingCheck[], after: SettingCheck[] | undefined): SettingsChange['changes'] {
  return before
    .filter((c) => c.status !== 'ok')
    .map((c) => {
      const a = after?.find((x) => x.name === c.name);
      return { name: c.name, wanted: c.value, source: c.source, before: c.server, after: a ? a.server : null, status: a ? a.status : c.status };
    });
}

export async function applySettingsChange(request: SettingsChangeRequest, rt: Runtime): Promise<SettingsChangeResult> {
  const { environment, policies } = request;
  const store = openEvidence({ backups: policies.backups, environments: policies.environments }, environment.name, rt.env, rt.log);
  const policy = { postgresql: policies.postgresql, backups: policies.backups };
  const { gate, applied, stored } = await gatedPolicyChange(
    {
      environment,
      store,
      kind: 'settings',
      policyFile: request.policyFile,
      change: 'server settings',
      verb: 'Apply the settings',
      breakGlass: request.breakGlass,
      outsideWindow: request.outsideWindow,
      ...(request.now ? { now: request.now } : {}),
    },
    {
      apply: () => applySettings(environment.target, policy, environment.name, rt),
      wasApplied: (b) => b.settings?.outcome === 'applied',
      record: async (gateRecord, { applied: done, error: thrown }) => {
        const error =
          thrown ?? (done?.remote ? `${done.database} is not on this machine: nothing was changed; the file to install there was printed` : undefined);
        // Refused or failed: what differs now, read for the bundle (after a failure, whatever can still be read).
        const before: SettingCheck[] =
          done?.before.checks ??
          (await surveySettings(environment.target, policy, environment.name, rt).then(
            (s) => s.plan.checks,
            (e: unknown) => {
              if (thrown) return [];
              throw e;
            },
          ));
        const settings: SettingsChange = {
          ...gateRecord,
          outcome:
            gateRecord.decision === 'refused' ? 'refused' : done && !error && !done.after.checks.some((x) => x.status === 'drift') ? 'applied' : 'failed',
          changes: changesOf(before, done?.after.checks),
          needsRestart: done?.needsRestart ?? [],
          actions: done?.actions ?? [],
          ...(error ? { error } : {}),
        };
        return { settings };
      },
    },
    rt,
  );
  return {
    gate,
    ...(applied ? { applied } : {}),
    bundle: { environment: environment.name, sequence: stored!.bundle.sequence, key: stored!.key, sha256: stored!.bundle.sha256 },
  };
}
