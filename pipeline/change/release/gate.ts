import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { EnvError, UsageError } from '../../core/errors.ts';
import { isPgError } from '../../infra/db/client.ts';
import { readRollbacksFolder, pairRollbacks, type RollbackFile } from '../rollbacks/index.ts';
import {
  checksum,
  malformedError,
  malformedFiles,
  readMigrationsFolder,
  type LocalMigration,
  loadRows,
  type MigrationRow,
  type Session,
  pendingMigrations,
  rollbackSet,
} from '../migrations/index.ts';
import { approvalCheck, changeFiles } from './checks/approval.ts';
import { backupCheck } from './checks/backup.ts';
import { stagingCheck } from './checks/staging.ts';
import { cleanStateCheck, interruptedCheck } from './checks/state.ts';
import { lintCheck, rehearsalCheck } from './checks/testing.ts';
import { trafficCheck } from './checks/traffic.ts';
import { replicasCheck } from './replicas.ts';
import { gateCheck, type GateRequest, type GateScope, type ReleaseFlags, type ReleasePolicies } from './checks/types.ts';

export type { GateRequest };
import type { Environment } from './environment.ts';
import type { ChangeMigration, GateCheck, GateData } from '../../evidence/index.ts';
import { describeWindow, isOpen } from '../../core/window.ts';
import type { Runtime } from '../../core/runtime.ts';
import { localLabel } from '../../core/time.ts';
import { noun } from '../../core/format.ts';

/** Order of the checks in the report: what protects the data first, then who approved, then the change itself. */
const ORDER: GateCheck['name'][] = ['interrupted', 'clean-state', 'backup', 'replicas', 'approval', 'staging-first', 'lint', 'rehearsal', 'window', 'traffic'];

async function databaseIdentity(session: Session): Promise<Omit<GateData['database'], 'display'>> {
  try {
    const { rows } = await session.client.query<{ name: string; id: string; version: string }>(
      `SELECT current_database() AS name, (SELECT system_identifier::text FROM pg_control_system()) AS id, current_setting('server_version') AS version`,
    );
    const r = rows[0]!;
    return { name: r.name, systemIdentifier: r.id, serverVersion: r.version };
  } catch (e) {
    if (isPgError(e) && e.code === '42501') {
      const t = session.target;
      throw new EnvError(
        `The role ${t.user} may not call pg_control_system() on ${t.display}; the gate needs the cluster's system identifier to tell this database's backups from those of another server.`,
        {
          hint: `As a superuser, in database ${t.database}: GRANT EXECUTE ON FUNCTION pg_catalog.pg_control_system() TO ${t.user};`,
        },
      );
    }
    throw e;
  }
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/**
 * The change the gate judges: for a deploy the pending migrations (Prisma's rule), oldest first; for a
 * rollback the applied migrations newer than `rollbackTo`, newest first. Each with its rollback script.
 */
function changeSet(request: GateRequest, local: LocalMigration[], rows: MigrationRow[], rollbacks: RollbackFile[]): ChangeMigration[] {
  let selected: Array<{ name: string; script: string | undefined; stored?: string }>;
  if (request.action === 'deploy') {
    selected = pendingMigrations(local, rows).map((m) => ({ name: m.name, script: m.script }));
  } else {
    const to = request.rollbackTo;
    if (!to) throw new UsageError('A rollback needs the migration that stays applied.', { hint: 'Pass --to MIGRATION.' });
    const set = rollbackSet(rows, to);
    if (!set.known) {
      const newest = rows
        .filter((r) => r.finishedAt !== null && r.rolledBackAt === null)
        .slice(-5)
        .map((r) => r.migrationName)
        .reverse();
      throw new UsageError(`--to ${to}: that migration is not applied on ${request.environment.name}, so there is nothing to roll back to.`, {
        hint: newest.length ? `Pass one of the applied migrations, newest first: ${newest.join(', ')}.` : 'No migration is applied there at all.',
      });
    }
    const stored = new Map(rows.map((r) => [r.migrationName, r.checksum]));
    selected = set.names.map((name) => ({ name, script: local.find((l) => l.name === name)?.script, stored: stored.get(name) }));
  }
  const pairing = pairRollbacks({
    migrations: selected.map((s) => s.name),
    rollbacks,
    migrationsDir: request.migrationsDir,
    rollbacksDir: request.rollbacksDir,
  });
  return selected.map((s) => {
    const pair = pairing.pairs.find((p) => p.migration === s.name);
    const file = rollbacks.find((f) => f.name === s.name);
    return {
      name: s.name,
      sha256: s.script !== undefined ? checksum(s.script) : (s.stored ?? ''),
      rollback: {
        path: file?.path ?? join(request.rollbacksDir, `${s.name}.sql`),
        sha256: file ? sha256(file.text) : null,
        status: (pair?.status ?? 'missing') as ChangeMigration['rollback']['status'],
        ...(pair?.reason ? { reason: pair.reason } : {}),
      },
    };
  });
}

/** The request of `dbops gate`, `deploy` and `rollback` from their shared flags. */
export function gateRequest(environment: Environment, action: GateRequest['action'], input: ReleaseFlags, rollbackTo?: string): GateRequest {
  return {
    environment,
    action,
    rollbackTo,
    takeBackup: input.takeBackup,
    breakGlass: input.breakGlass,
    outsideWindow: input.outsideWindow,
    migrationsDir: input.migrationsDir,
    rollbacksDir: input.rollbacksDir,
    reportsDir: input.reportsDir,
    policiesDir: input.policiesDir,
    identityFile: input.identityFile,
  };
}

/**
 * The change-window check of a production change (a deploy, a rollback, a settings change): passes inside a
 * window; while every window is closed, --outside-window waives it for extra approvals when the policy allows.
 * `verb` starts the hints (`Deploy`, `Apply the settings`).
 */
export function windowCheck(
  environment: Environment,
  now: Date,
  outsideWindowReason: string | undefined,
  verb: string,
): { check: GateCheck; outsideWindow: GateData['outsideWindow']; extraApprovals: number } {
  const windows = environment.policy.windows;
  const state = isOpen(windows, now);
  const schedule = windows.open.map((w) => describeWindow(w, windows.zone)).join('; ');
  if (state.open) return { check: gateCheck('window', 'pass', `open: ${state.window}`), outsideWindow: null, extraApprovals: 0 };
  const local = `${localLabel(windows.zone, now)} in ${windows.zone}`;
  const next = state.nextOpen ? `${localLabel(windows.zone, state.nextOpen)} (${state.nextOpen.toISOString()})` : 'never (no window ever opens)';
  const allowed = windows.outside_window.allowed;
  if (outsideWindowReason !== undefined && allowed) {
    const extraApprovals = windows.outside_window.extra_approvals;
    return {
      check: gateCheck(
        'window',
        'waived',
        `closed (${local}); --outside-window: ${outsideWindowReason}${extraApprovals ? ` (+${extraApprovals} ${noun(extraApprovals, 'approval')} required)` : ''}`,
      ),
      outsideWindow: { reason: outsideWindowReason, window: `closed at ${local}; windows: ${schedule}; next opens ${next}` },
      extraApprovals,
    };
  }
  if (outsideWindowReason !== undefined)
    return {
      check: gateCheck('window', 'fail', `closed (${local})`, [
        {
          rule: 'window/outside-not-allowed',
          message: `Every change window of ${environment.name} is closed (it is ${local}), and its policy does not allow --outside-window (windows.outside_window.allowed: false). Windows: ${schedule}.`,
          hint: `Wait for the next window: ${next}.`,
        },
      ]),
      outsideWindow: null,
      extraApprovals: 0,
    };
  return {
    check: gateCheck('window', 'fail', `closed (${local})`, [
      {
        rule: 'window/closed',
        message: `Every change window of ${environment.name} is closed: it is ${local}; the next window opens ${next}. Windows: ${schedule}.`,
        hint: allowed
          ? `${verb} then, or pass --outside-window "<reason>"${windows.outside_window.extra_approvals ? ` (needs ${windows.outside_window.extra_approvals} more ${noun(windows.outside_window.extra_approvals, 'approval')})` : ''}.`
          : `${verb} then; the policy does not allow changes outside a window.`,
      },
    ]),
    outsideWindow: null,
    extraApprovals: 0,
  };
}

/**
 * Runs every check and returns them all (never stops at the first refusal): backup, approval and
 * four-eyes, staging-first, clean state, lint and pairing of the change, rehearsal, change window, and an
 * interrupted earlier deploy. `session` is open on the environment's database. Throws only when the
 * environment itself is broken (exit 2/3); a check that cannot be made is a refusal reason.
 */
export async function evaluateGate(request: GateRequest, policies: ReleasePolicies, ctx: Runtime, session: Session): Promise<GateData> {
  const now = (request.now ?? (() => new Date()))();
  const { environment } = request;
  const folder = await readMigrationsFolder(resolve(request.migrationsDir));
  const identity = await databaseIdentity(session);
  const rows = await loadRows(session);
  const rollbacks = (await readRollbacksFolder(request.rollbacksDir)).files;
  const change = changeSet(request, folder.migrations, rows, rollbacks);
  // Files the executor would refuse are malformed input (exit 2), not a judgement: nothing else is looked at.
  const names = new Set(change.map((c) => c.name));
  const problems = await malformedFiles(
    folder,
    request.action === 'deploy' ? names : [],
    rollbacks.filter((r) => names.has(r.name)),
  );
  if (problems.length > 0) throw malformedError(problems, `The gate cannot judge the ${request.action} of ${environment.name}, and nothing was changed`);
  const scope: GateScope = {
    request,
    ctx,
    env: ctx.env,
    session,
    environment,
    policies,
    now,
    database: { display: session.target.display, ...identity },
    local: folder.migrations,
    rows,
    change,
  };
  ctx.log.info({ environment: environment.name, action: request.action, migrations: change.length }, 'gate: judging');

  const checks: GateCheck[] = [];
  // The backup comes first: --take-backup takes it before anything else looks at the database.
  const backup = await backupCheck(scope);
  checks.push(backup.check);
  // The replicas' lag, only when the environment declares replicas.
  const replicas = await replicasCheck(scope);
  if (replicas) checks.push(replicas);

  // The change window's outcome decides how many approvals are needed.
  const { check: windowResult, outsideWindow, extraApprovals } = windowCheck(environment, now, request.outsideWindow, 'Deploy');
  checks.push(windowResult);

  const approval = await approvalCheck({ ...scope, breakGlass: request.breakGlass, files: () => changeFiles(scope) }, extraApprovals);
  checks.push(approval.check);
  const staging = await stagingCheck(scope);
  checks.push(staging.check);
  checks.push(cleanStateCheck(scope));
  const lint = await lintCheck(scope, backup.evidence?.id, approval.evidence);
  checks.push(lint.check);
  const rehearsal = await rehearsalCheck(scope);
  checks.push(rehearsal.check);
  const interrupted = await interruptedCheck(scope);
  checks.push(interrupted.check);
  // The load now, only when the environment's policy sets traffic limits.
  const traffic = await trafficCheck(scope);
  if (traffic) checks.push(traffic);
  checks.sort((a, b) => ORDER.indexOf(a.name) - ORDER.indexOf(b.name));

  const decision = checks.some((c) => c.status === 'fail') ? 'refused' : 'allowed';
  ctx.log.info({ environment: environment.name, decision, failed: checks.filter((c) => c.status === 'fail').map((c) => c.name) }, 'gate: decided');
  const evidence = approval.evidence;
  return {
    environment: environment.name,
    action: request.action,
    decision,
    at: now.toISOString(),
    database: scope.database,
    migrations: change,
    rollbackTo: request.action === 'rollback' ? (request.rollbackTo ?? null) : null,
    checks,
    breakGlass: approval.breakGlass,
    outsideWindow,
    backup: backup.evidence,
    ...(backup.pitr ? { pitr: backup.pitr } : {}),
    run: evidence?.run ?? approval.run,
    approvals: evidence?.approvals ?? [],
    fourEyes: evidence?.fourEyes ?? null,
    environmentSettings: evidence?.environmentSettings ?? null,
    pulls: evidence?.pulls ?? [],
    provenance: evidence?.provenance ?? [],
    testing: { lint: lint.lint, rehearsal: rehearsal.rehearsal, staging: staging.staging },
    interrupted: interrupted.interrupted,
  };
}
