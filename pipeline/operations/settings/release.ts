import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Runtime } from '../../core/runtime.ts';
import { evaluateSettingsGate, type Environment, type SettingsGateData } from '../../change/release/index.ts';
import { appendBundle, newestBundle, openEvidence, type SettingsChange } from '../../evidence/index.ts';
import { withClient } from '../../infra/db/client.ts';
import { acquireOperationLock } from '../../infra/db/locks.ts';
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
  gate: SettingsGateData;
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
  const bytes = await readFile(request.policyFile);
  return withClient(environment.target, { log: rt.log, applicationName: 'dbops settings apply' }, async (c) => {
    await acquireOperationLock(c, 'deploy', { what: 'A deploy, rollback or settings change', signal: rt.signal });
    const previous = await newestBundle(store, 'settings', (b) => b.settings?.outcome === 'applied');
    const gate = await evaluateSettingsGate(
      {
        environment,
        policyFile: request.policyFile,
        since: previous?.createdAt ?? null,
        breakGlass: request.breakGlass,
        outsideWindow: request.outsideWindow,
        ...(request.now ? { now: request.now } : {}),
      },
      rt,
    );
    let applied: SettingsApplyData | undefined;
    let error: string | undefined;
    let failure: unknown;
    if (gate.decision === 'allowed') {
      try {
        applied = await applySettings(environment.target, policy, environment.name, rt);
        if (applied.remote) error = `${applied.database} is not on this machine: nothing was changed; the file to install there was printed`;
      } catch (e) {
        failure = e;
        error = e instanceof Error ? e.message : String(e);
      }
    }
    // Refused or failed: what differs now, read for the bundle (after a failure, whatever can still be read).
    const before: SettingCheck[] =
      applied?.before.checks ??
      (await surveySettings(environment.target, policy, environment.name, rt).then(
        (s) => s.plan.checks,
        (e: unknown) => {
          if (failure) return [];
          throw e;
        },
      ));
    const settings: SettingsChange = {
      database: environment.target.display,
      policy: { path: request.policyFile, sha256: createHash('sha256').update(bytes).digest('hex') },
      since: previous?.createdAt ?? null,
      decision: gate.decision,
      checks: gate.checks,
      outsideWindow: gate.outsideWindow,
      approvals: gate.approvals,
      fourEyes: gate.fourEyes,
      pulls: gate.pulls,
      provenance: gate.provenance,
      outcome: gate.decision === 'refused' ? 'refused' : applied && !error && !applied.after.checks.some((x) => x.status === 'drift') ? 'applied' : 'failed',
      changes: changesOf(before, applied?.after.checks),
      needsRestart: applied?.needsRestart ?? [],
      actions: applied?.actions ?? [],
      ...(error ? { error } : {}),
    };
    const stored = await appendBundle(store, { kind: 'settings', breakGlass: gate.breakGlass, execution: null, interrupted: null, run: gate.run, settings });
    // The bundle records the failure first; then it is the command's error, with its own exit code.
    if (failure) throw failure;
    return {
      gate,
      ...(applied ? { applied } : {}),
      bundle: { environment: environment.name, sequence: stored.bundle.sequence, key: stored.key, sha256: stored.bundle.sha256 },
    };
  });
}
