import { listBackups, openTargets, type BackupEntry, createBackup, verifyBackup } from '../../../protection/backup/index.ts';
import { parseDuration } from '../../../core/duration.ts';
import { ConfigError, isDbopsError, UsageError } from '../../../core/errors.ts';
import { redact } from '../../../core/redact.ts';
import { loadIdentities } from '../../../infra/crypto/age.ts';
import { join } from 'node:path';
import type { BackupEvidence, GateCheck, GateReason, PitrGateEvidence } from '../../../evidence/index.ts';
import { pitrList, pitrStatus } from '../../../protection/pitr/index.ts';
import { gateCheck, type GateScope } from './types.ts';
import { formatAge, names } from '../../../core/format.ts';

export interface BackupCheck {
  check: GateCheck;
  evidence: BackupEvidence | null;
  /** With backup.mode pitr: the physical tier the gate judged. */
  pitr?: PitrGateEvidence;
}

const messageOf = (e: unknown) => redact(e instanceof Error ? e.message : String(e));

/** Usage and configuration errors are the operator's to fix now (exit 2); everything else becomes a reason. */
const isUsage = (e: unknown) => e instanceof UsageError || e instanceof ConfigError;

/**
 * `--take-backup`: `backup create --tier pre-deploy` then `backup verify` (read level) of that id, in
 * process, on the environment's database rather than --database-url/DATABASE_URL.
 */
async function takeBackup(scope: GateScope): Promise<{ id: string } | { reason: GateReason }> {
  const { request, environment } = scope;
  const policy = scope.policies.backups;
  // The verification's key is an input too: a missing or unreadable one stops the gate before a backup is stored.
  await loadIdentities({ identityFile: request.identityFile, env: scope.env, envName: policy.encryption.identity_env });
  const note = `dbops gate: pre-${request.action} backup of environment ${environment.name}${request.action === 'rollback' && request.rollbackTo ? ` (rollback to ${request.rollbackTo})` : ''}`;
  let id: string;
  try {
    const created = await createBackup(
      { database: environment.target, tier: 'pre-deploy', note, policy, policyFile: join(request.policiesDir ?? 'policies', 'backups.yaml') },
      scope.ctx,
    );
    id = created.data.manifest.id;
  } catch (e) {
    if (isUsage(e)) throw e;
    return {
      reason: {
        rule: 'backup/take-failed',
        message: `--take-backup: the pre-deploy backup of ${environment.name} failed: ${messageOf(e)}`,
        hint: (isDbopsError(e) && e.hint) || `Run \`dbops backup create --tier pre-deploy --database-url "$${environment.urlEnv}"\` to see the whole error.`,
      },
    };
  }
  try {
    // A failed verification is recorded on the target and judged below as backup/failed.
    await verifyBackup({ args: [id], latest: false, oldest: false, restore: false, identityFile: request.identityFile, policy }, scope.ctx);
  } catch (e) {
    if (isUsage(e)) throw e;
    return {
      reason: {
        rule: 'backup/take-failed',
        message: `--take-backup: backup ${id} of ${environment.name} was taken, but its verification could not run: ${messageOf(e)}`,
        hint: (isDbopsError(e) && e.hint) || `Run \`dbops backup verify ${id}\` to see the whole error.`,
      },
    };
  }
  return { id };
}

/** The newest restore-level verification among these backups (auditors ask when restoring was last proven). */
function lastRestoreTest(entries: readonly BackupEntry[]): BackupEvidence['lastRestoreTest'] {
  const tests = entries.flatMap((e) =>
    e.verifications.filter((v) => v.level === 'restore').map((v) => ({ backupId: e.manifest.id, at: v.at, ok: v.ok, restoreMs: v.restoreMs ?? null })),
  );
  return tests.sort((a, b) => a.at.localeCompare(b.at)).at(-1) ?? null;
}

function evidenceOf(
  entry: BackupEntry,
  target: { name: string; location: string },
  now: Date,
  taken: boolean,
  restoreTest: BackupEvidence['lastRestoreTest'],
): BackupEvidence {
  const m = entry.manifest;
  const newest = entry.verified ?? entry.verifications.at(-1);
  return {
    id: m.id,
    tier: m.tier,
    target: target.name,
    location: target.location,
    database: m.database.name,
    systemIdentifier: m.database.systemIdentifier,
    finishedAt: m.finishedAt,
    ageMs: Math.max(0, now.getTime() - Date.parse(m.finishedAt)),
    sha256: m.object.sha256,
    status: entry.status,
    verification: newest ? { level: newest.level, at: newest.at, ok: newest.ok } : null,
    taken,
    lastRestoreTest: restoreTest,
  };
}

/**
 * A backup of this very database (system identifier and name) on the primary target; the newest one must
 * be verified and younger than backup.max_age.
 */
export async function backupCheck(scope: GateScope): Promise<BackupCheck> {
  const { request, environment, database, now } = scope;
  const policy = environment.policy.backup;
  if (policy.mode === 'pitr' && (policy.required || request.takeBackup)) return pitrCheck(scope);
  if (!policy.required && !request.takeBackup)
    return { check: gateCheck('backup', 'skipped', `not required by the policy of ${environment.name} (backup.required: false)`), evidence: null };
  const reasons: GateReason[] = [];
  let takenId: string | undefined;
  if (request.takeBackup) {
    const taken = await takeBackup(scope);
    if ('reason' in taken) reasons.push(taken.reason);
    else takenId = taken.id;
  }
  const createHint = `Take one: \`dbops backup create --tier pre-deploy --database-url "$${environment.urlEnv}"\` then \`dbops backup verify --latest\`, or run the gate with --take-backup.`;
  let entries: BackupEntry[];
  let storage: { name: string; location: string };
  try {
    const primary = openTargets(scope.policies.backups, scope.env, scope.ctx.log).primary;
    storage = { name: primary.name, location: primary.location };
    entries = await listBackups(primary, scope.ctx.log);
  } catch (e) {
    if (isUsage(e)) throw e;
    reasons.push({
      rule: 'backup/unavailable',
      message: `The backups of the primary target could not be listed: ${messageOf(e)}`,
      hint: 'Check the storage target in policies/backups.yaml and its credentials; the gate refuses while it cannot see a backup.',
    });
    return { check: gateCheck('backup', 'fail', 'backup storage unreadable', reasons), evidence: null };
  }
  const candidates = entries.filter((e) => e.manifest.database.systemIdentifier === database.systemIdentifier && e.manifest.database.name === database.name);
  const chosen = takenId ? candidates.find((e) => e.manifest.id === takenId) : candidates.at(-1);
  const where = `target "${storage.name}" (${storage.location})`;
  const self = `database ${database.name} (system identifier ${database.systemIdentifier})`;
  if (!chosen) {
    if (!takenId || reasons.length === 0) {
      const others = new Map<string, number>();
      for (const e of entries) {
        const key = `database ${e.manifest.database.name} of system identifier ${e.manifest.database.systemIdentifier}`;
        others.set(key, (others.get(key) ?? 0) + 1);
      }
      const holds =
        others.size === 0
          ? 'it holds no backup at all'
          : `it holds only backups of ${names(
              [...others].map(([k, n]) => `${k} (${n})`),
              3,
            )}`;
      reasons.push({
        rule: 'backup/none',
        message: `No backup of ${self} on ${where}: ${holds}.${others.size > 0 ? ' A backup of another cluster or database does not restore this one.' : ''}`,
        hint: createHint,
      });
    }
    return { check: gateCheck('backup', 'fail', `no backup of ${database.name}`, reasons), evidence: null };
  }
  const evidence = evidenceOf(chosen, storage, now, takenId !== undefined, lastRestoreTest(candidates));
  const id = chosen.manifest.id;
  const maxAge = policy.max_age;
  const maxAgeMs = parseDuration(maxAge) ?? 0;
  if (chosen.status === 'unverified') {
    reasons.push({
      rule: 'backup/unverified',
      message: `The newest backup of ${self}, ${id} (finished ${chosen.manifest.finishedAt}), has never been verified.`,
      hint: `Verify it: \`dbops backup verify ${id}\` (reads every byte), or take and verify a new one with --take-backup.`,
    });
  } else if (chosen.status === 'failed') {
    const last = chosen.verifications.at(-1);
    const failed = last?.checks
      .filter((c) => !c.ok)
      .map((c) => `${c.name}${c.message ? `: ${c.message}` : ''}`)
      .join('; ');
    reasons.push({
      rule: 'backup/failed',
      message: `The newest backup of ${self}, ${id}, failed its verification${last ? ` at ${last.at}` : ''}${failed ? ` (${failed})` : ''}.`,
      hint: `Do not deploy on it. ${createHint}`,
    });
  }
  if (maxAgeMs > 0 && evidence.ageMs > maxAgeMs) {
    reasons.push({
      rule: 'backup/stale',
      message: `The newest backup of ${self}, ${id}, finished ${formatAge(evidence.ageMs)} ago (${chosen.manifest.finishedAt}); the policy of ${environment.name} allows at most ${maxAge} (backup.max_age).`,
      hint: createHint,
    });
  }
  const summary = `${id} (${chosen.status}, ${formatAge(evidence.ageMs)} old, limit ${maxAge}${evidence.taken ? ', taken by this gate' : ''})`;
  return { check: reasons.length === 0 ? gateCheck('backup', 'pass', summary) : gateCheck('backup', 'fail', summary, reasons), evidence };
}

/**
 * backup.mode pitr: instead of a fresh logical dump (a 1 TB database cannot be dumped before every deploy),
 * a healthy WAL archive (RPO exposure within the objective, no failing archive_command) and a full
 * pgBackRest backup whose newest `pitr verify` passed, younger than pitr.full_max_age.
 */
async function pitrCheck(scope: GateScope): Promise<BackupCheck> {
  const { environment, now } = scope;
  const pitr = scope.policies.backups.pitr;
  if (!pitr)
    throw new ConfigError(`policies/environments.yaml: ${environment.name} has backup.mode: pitr, but policies/backups.yaml has no pitr: section.`, {
      hint: 'Add pitr: to policies/backups.yaml (see docs/policies.md) and run `dbops pitr enable` for the database, or use backup.mode: logical.',
    });
  const reasons: GateReason[] = [];
  const input = { target: environment.target, backups: scope.policies.backups };
  let evidence: PitrGateEvidence;
  try {
    const [{ data, findings }, list] = await Promise.all([pitrStatus(input, scope.ctx), pitrList(input, scope.ctx)]);
    for (const f of findings.filter((x) => x.severity === 'error' && x.rule !== 'pitr/no-full-backup'))
      reasons.push({ rule: `backup/${f.rule.replace(/^pitr\//, 'pitr-')}`, message: f.message, hint: f.help ?? 'Run `dbops pitr status` for the details.' });
    const full = list.backups.filter((b) => b.type === 'full').at(-1);
    const maxAge = pitr.full_max_age;
    const ageMs = full ? Math.max(0, now.getTime() - Date.parse(full.stoppedAt)) : 0;
    evidence = {
      stanza: data.stanza,
      fullBackup: full ? { label: full.label, stoppedAt: full.stoppedAt, ageMs, verifiedAt: full.verified?.ok ? full.verified.at : null } : null,
      lastArchivedWal: data.archiving.lastArchivedWal,
      lastArchivedAt: data.archiving.lastArchivedAt,
      exposureMs: data.exposureMs,
      rpoMs: data.rpoMs,
    };
    if (!full)
      reasons.push({
        rule: 'backup/pitr-no-full',
        message: `The pgBackRest repository of ${environment.name} holds no full backup.`,
        hint: 'Run `dbops pitr backup --type full`, then `dbops pitr verify`.',
      });
    else {
      if (!full.verified?.ok)
        reasons.push({
          rule: 'backup/pitr-unverified',
          message: `The newest full backup of ${environment.name}, ${full.label}, ${full.verified ? `failed its verification at ${full.verified.at}` : 'has never been verified'}.`,
          hint: 'Run `dbops pitr verify` (and take a new full backup if it fails).',
        });
      const maxAgeMs = parseDuration(maxAge) ?? 0;
      if (maxAgeMs > 0 && ageMs > maxAgeMs)
        reasons.push({
          rule: 'backup/pitr-stale',
          message: `The newest full backup of ${environment.name}, ${full.label}, finished ${formatAge(ageMs)} ago; pitr.full_max_age allows ${maxAge}.`,
          hint: 'Run `dbops pitr backup --type full` and `dbops pitr verify`.',
        });
    }
  } catch (e) {
    if (isUsage(e)) throw e;
    reasons.push({
      rule: 'backup/pitr-unavailable',
      message: `The physical tier of ${environment.name} could not be read: ${messageOf(e)}`,
      hint: 'Run `dbops pitr status` where pgBackRest runs for this database; the gate refuses while it cannot see a healthy archive.',
    });
    return { check: gateCheck('backup', 'fail', 'PITR archive unreadable', reasons), evidence: null };
  }
  const summary = `PITR: ${evidence.fullBackup ? `full backup ${evidence.fullBackup.label} (${formatAge(evidence.fullBackup.ageMs)} old, ${evidence.fullBackup.verifiedAt ? 'verified' : 'not verified'})` : 'no full backup'}, RPO exposure ${formatAge(evidence.exposureMs)} of ${formatAge(evidence.rpoMs)}`;
  return { check: reasons.length === 0 ? gateCheck('backup', 'pass', summary) : gateCheck('backup', 'fail', summary, reasons), evidence: null, pitr: evidence };
}
