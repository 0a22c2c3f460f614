import type { z } from 'zod';
import { isDbopsError } from '../../../core/errors.ts';
import { redact } from '../../../core/redact.ts';
import { scriptMatches, loadRows, openSession, type MigrationRow } from '../../migrations/index.ts';
import { resolveEnvironment } from '../environment.ts';
import type { GateCheck, GateReason, TestingEvidence } from '../../../evidence/index.ts';
import { gateCheck, type GateScope } from './types.ts';
import { plural } from '../../../core/format.ts';

type StagingEvidence = NonNullable<z.output<typeof TestingEvidence>['staging']>;

export interface StagingCheck {
  check: GateCheck;
  staging: StagingEvidence | null;
}

/** Every pending migration is applied (finished, not rolled back) on the staging_first environment with the same checksum. */
export async function stagingCheck(scope: GateScope): Promise<StagingCheck> {
  const { environment, request } = scope;
  const name = environment.policy.staging_first;
  if (request.action === 'rollback') return { check: gateCheck('staging-first', 'skipped', 'a rollback is not rehearsed on staging first'), staging: null };
  if (!name) return { check: gateCheck('staging-first', 'skipped', `no staging_first in the policy of ${environment.name}`), staging: null };
  if (scope.change.length === 0) return { check: gateCheck('staging-first', 'pass', 'no pending migration'), staging: { environment: name, migrations: [] } };
  let rows: MigrationRow[];
  try {
    const staging = resolveEnvironment(scope.policies.environments, name, scope.env, environment.target.schemaExplicit ? environment.target.schema : undefined);
    const session = await openSession(staging.target, scope.ctx.log, 'dbops gate (staging-first)');
    try {
      rows = await loadRows(session);
    } finally {
      await session.close();
    }
  } catch (e) {
    // Unset variable, bad URL, refused connection: fail closed, naming why.
    const reason: GateReason = {
      rule: 'staging/unreachable',
      message: `The staging environment "${name}" could not be read, so the gate cannot tell whether the ${plural(scope.change.length, 'pending migration')} ran there: ${redact(e instanceof Error ? e.message : String(e))}`,
      hint: (isDbopsError(e) && e.hint) || `Give this job the URL of ${name} (read access to its _prisma_migrations is enough).`,
    };
    return { check: gateCheck('staging-first', 'fail', `${name} unreachable`, [reason]), staging: null };
  }
  const reasons: GateReason[] = [];
  const migrations: StagingEvidence['migrations'] = [];
  for (const m of scope.change) {
    const applied = rows.filter((r) => r.migrationName === m.name && r.finishedAt !== null && r.rolledBackAt === null).at(-1);
    migrations.push({ name: m.name, checksum: applied?.checksum ?? null, finishedAt: applied?.finishedAt ?? null });
    const script = scope.local.find((l) => l.name === m.name)?.script;
    if (!applied) {
      const attempts = rows.filter((r) => r.migrationName === m.name);
      const state =
        attempts.length === 0 ? 'has never been applied there' : attempts.some((r) => r.rolledBackAt !== null) ? 'was rolled back there' : 'failed there';
      reasons.push({
        rule: 'staging/missing',
        migration: m.name,
        message: `${m.name} is not applied on the staging environment "${name}": it ${state}.`,
        hint: `Deploy it to ${name} first (\`dbops deploy --environment ${name}\`, the deploy-staging workflow), then run this gate again.`,
      });
    } else if (!(script !== undefined ? scriptMatches(script, applied.checksum) : applied.checksum === m.sha256)) {
      reasons.push({
        rule: 'staging/checksum',
        migration: m.name,
        message: `${m.name} was applied on "${name}" with checksum ${applied.checksum}, but the local migration.sql has ${m.sha256}: staging ran other SQL than this deploy would.`,
        hint: `Find out which version is right. A migration must not change after it ran anywhere: put the change in a new migration, or restore the file to what ${name} ran.`,
      });
    }
  }
  const ok = migrations.length - reasons.length;
  return {
    check:
      reasons.length === 0
        ? gateCheck('staging-first', 'pass', `all ${plural(migrations.length, 'pending migration')} applied on ${name} with the same checksum`)
        : gateCheck('staging-first', 'fail', `${ok} of ${migrations.length} applied on ${name} with the same checksum`, reasons),
    staging: { environment: name, migrations },
  };
}
