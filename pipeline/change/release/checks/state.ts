import { ConfigError, UsageError } from '../../../core/errors.ts';
import { redact } from '../../../core/redact.ts';
import { type InflightMarker, openEvidence, readInflight, type GateCheck, type GateReason, type InterruptedDeploy } from '../../../evidence/index.ts';
import { scriptMatches, isFailed, type MigrationRow, chronoUtc, p3009Hint } from '../../migrations/index.ts';
import { deployLockHolder } from '../lock.ts';
import { gateCheck, type GateScope } from './types.ts';
import { names, plural } from '../../../core/format.ts';

/** No failed migration (P3009), no applied migration edited since, none missing locally. */
export function cleanStateCheck(scope: GateScope): GateCheck {
  const { rows, local, environment } = scope;
  const live = rows.filter((r) => r.rolledBackAt === null);
  const reasons: GateReason[] = [];
  for (const row of live.filter(isFailed)) {
    reasons.push({
      rule: 'state/failed',
      migration: row.migrationName,
      message: `P3009: migrate found failed migrations in the target database, new migrations will not be applied. The \`${row.migrationName}\` migration started at ${chronoUtc(row.startedAt)} failed (on ${environment.name}).`,
      hint: p3009Hint([row]).replaceAll('dbops migrate resolve', `dbops migrate resolve --database-url "$${environment.urlEnv}"`),
    });
  }
  const byName = new Map(local.map((m) => [m.name, m]));
  const applied = live.filter((r) => r.finishedAt !== null);
  for (const row of applied) {
    const m = byName.get(row.migrationName);
    if (!m) continue;
    if (m.script !== undefined && !scriptMatches(m.script, row.checksum)) {
      reasons.push({
        rule: 'state/modified',
        migration: row.migrationName,
        message: `${m.file} was modified after it was applied on ${environment.name} (applied checksum ${row.checksum}, the file now hashes differently).`,
        hint: 'Restore the file to what was applied (git log -p on it shows the change) and put the change in a new migration.',
      });
    }
  }
  const missing = [...new Set(applied.filter((r) => !byName.has(r.migrationName)).map((r) => r.migrationName))];
  for (const name of missing) {
    reasons.push({
      rule: 'state/missing-locally',
      migration: name,
      message: `${name} is applied on ${environment.name} but missing from ${scope.request.migrationsDir}: this checkout is behind the database, or the migration was deleted.`,
      hint: 'Deploy from a checkout that contains every applied migration (pull the latest main); never delete an applied migration.',
    });
  }
  if (reasons.length > 0) return gateCheck('clean-state', 'fail', `${plural(reasons.length, 'problem')} in _prisma_migrations of ${environment.name}`, reasons);
  return gateCheck('clean-state', 'pass', `${plural(applied.length, 'applied migration')}, none failed, modified or missing locally`);
}

export interface InterruptedCheck {
  check: GateCheck;
  interrupted: InterruptedDeploy | null;
}

function stateOf(name: string, rows: MigrationRow[], since: string): InterruptedDeploy['state'][number] {
  const all = rows.filter((r) => r.migrationName === name);
  const after = all.filter((r) => Date.parse(r.startedAt) >= Date.parse(since));
  const row = (after.length > 0 ? after : all).at(-1);
  const when =
    after.length > 0
      ? `started ${row!.startedAt}, after the interrupted run began`
      : row
        ? `row from ${row.startedAt}, before the interrupted run began`
        : undefined;
  if (!row) return { migration: name, state: 'not-applied' };
  if (row.rolledBackAt !== null) return { migration: name, state: 'rolled-back', detail: `${when}; rolled back ${row.rolledBackAt}` };
  if (row.finishedAt !== null) return { migration: name, state: 'applied', detail: `${when}; finished ${row.finishedAt}` };
  return { migration: name, state: row.logs ? 'failed' : 'started', detail: `${when}; never finished${row.logs ? ' (error recorded)' : ''}` };
}

/** What the database holds now of each migration a dead deploy or rollback had planned. */
export const interruptedDeployOf = (marker: InflightMarker, rows: MigrationRow[]): InterruptedDeploy => ({
  action: marker.action,
  startedAt: marker.startedAt,
  run: marker.run,
  by: marker.by,
  planned: marker.planned,
  state: marker.planned.map((name) => stateOf(name, rows, marker.startedAt)),
});

/**
 * An in-flight marker of this environment while nobody holds the deploy lock is a deploy or rollback that
 * died (kill -9, lost runner): the gate says what it planned and what the database holds of it now.
 */
export async function interruptedCheck(scope: GateScope): Promise<InterruptedCheck> {
  const { environment } = scope;
  let marker;
  try {
    marker = await readInflight(openEvidence(scope.policies, environment.name, scope.env, scope.ctx.log));
  } catch (e) {
    if (e instanceof UsageError || e instanceof ConfigError) throw e;
    const reason: GateReason = {
      rule: 'interrupted/unavailable',
      message: `The evidence storage of ${environment.name} could not be read, so the gate cannot tell whether an earlier deploy died half-way: ${redact(e instanceof Error ? e.message : String(e))}`,
      hint: 'Check the evidence target (evidence.target in policies/environments.yaml, else the primary backup target) and its credentials.',
    };
    return { check: gateCheck('interrupted', 'fail', 'evidence storage unreadable', [reason]), interrupted: null };
  }
  if (!marker) return { check: gateCheck('interrupted', 'pass', 'no unfinished deploy or rollback'), interrupted: null };
  const who = `${marker.by}${marker.run ? ` (run ${marker.run.runUrl})` : ` on ${marker.host}, pid ${marker.pid}`}`;
  const holder = await deployLockHolder(scope.session);
  if (holder) {
    return {
      check: gateCheck('interrupted', 'fail', 'another deploy is running', [
        {
          rule: 'interrupted/running',
          message: `A ${marker.action} of ${environment.name} is running right now: started ${marker.startedAt} by ${who}, planning ${names(marker.planned)}; the deploy lock is held by ${holder}.`,
          hint: 'Wait for it to finish (see its workflow run); deploys of one database never run at the same time.',
        },
      ]),
      interrupted: null,
    };
  }
  const interrupted = interruptedDeployOf(marker, scope.rows);
  const { state } = interrupted;
  const of = (s: InterruptedDeploy['state'][number]['state']) => state.filter((x) => x.state === s).map((x) => x.migration);
  const broken = [...of('failed'), ...of('started')];
  const parts = [
    of('applied').length ? `applied: ${names(of('applied'))}` : '',
    of('rolled-back').length ? `rolled back: ${names(of('rolled-back'))}` : '',
    of('not-applied').length ? `not applied: ${names(of('not-applied'))}` : '',
    broken.length ? `left failed or half-run: ${names(broken)}` : '',
  ].filter(Boolean);
  const message =
    `A ${marker.action} of ${environment.name} started ${marker.startedAt} by ${who} never finished (no deploy holds the lock now). ` +
    `Of the ${plural(marker.planned.length, 'planned migration')}: ${parts.join('; ')}. ` +
    (broken.length ? 'The database is NOT consistent: see the clean-state reasons.' : 'The database is consistent: each migration is either applied or not.');
  const hint = broken.length
    ? `Resolve ${names(broken)} first (clean-state explains how), then deploy again; the next deploy records the interrupted one in its evidence.`
    : `The next ${marker.action} continues from here and records the interrupted one in its evidence bundle.`;
  return {
    check: gateCheck('interrupted', 'warn', `an earlier ${marker.action} died (${marker.startedAt})`, [{ rule: 'interrupted/deploy', message, hint }]),
    interrupted,
  };
}
