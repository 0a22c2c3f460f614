import { join } from 'node:path';
import type { z } from 'zod';
import { ConfigError, EnvError } from '../../../core/errors.ts';
import { lintChange } from '../../lint/index.ts';
import { readEnvelopes } from '../../../core/envelope.ts';
import type { GateCheck, GateReason, TestingEvidence } from '../../../evidence/index.ts';
import { gateCheck, type GateScope } from './types.ts';
import { names, plural } from '../../../core/format.ts';
import { type Finding } from '../../../core/result.ts';
import { RehearseData } from '../../rehearsal/index.ts';
import { type ApprovalEvidence } from '../approvals.ts';

type Testing = z.output<typeof TestingEvidence>;

export interface LintCheck {
  check: GateCheck;
  lint: Testing['lint'];
}

/**
 * The lint step on exactly the change (`--only`): the pending migrations and their rollbacks, pairing
 * included. A rollback is judged on its rollback scripts and their pairing only (the migrations ran long ago).
 */
/**
 * Destructive statements were allowed in review by a label on the pull request (lint.destructive.allow_labels),
 * which the gate cannot pass to lint as --labels: it reads the label from the pull requests that introduced
 * each migration (inside Actions; outside, only an allowed --break-glass stands in). Returns, per migration,
 * what allowed it.
 */
function allowedDestructive(scope: GateScope, approvals: ApprovalEvidence | null): Map<string, string> {
  const allowed = new Map<string, string>();
  // An allowed break-glass stands in for the review the label records, as it does for the approvals.
  if (scope.request.breakGlass !== undefined && scope.environment.policy.break_glass) {
    for (const m of scope.change) allowed.set(m.name, `--break-glass "${scope.request.breakGlass}"`);
    return allowed;
  }
  if (!approvals) return allowed;
  const labels = scope.policies.migrations.lint.destructive.allow_labels;
  for (const file of approvals.provenance) {
    if (allowed.has(file.migration)) continue;
    for (const number of file.pulls) {
      const label = approvals.pulls.find((p) => p.number === number)?.labels.find((l) => labels.includes(l));
      if (label) {
        allowed.set(file.migration, `label "${label}" on pull request #${number}`);
        break;
      }
    }
  }
  return allowed;
}

export async function lintCheck(scope: GateScope, backupId?: string, approvals: ApprovalEvidence | null = null): Promise<LintCheck> {
  const { request, change } = scope;
  const reasons: GateReason[] = [];
  if (request.action === 'rollback') {
    for (const m of change) {
      if (m.rollback.status === 'paired') continue;
      const why =
        m.rollback.status === 'irreversible'
          ? `is marked irreversible${m.rollback.reason ? `: ${m.rollback.reason}` : ''}`
          : m.rollback.status === 'missing'
            ? `has no rollback script (${m.rollback.path})`
            : `has an empty rollback script (${m.rollback.path})`;
      reasons.push({
        rule: 'rollback/irreversible',
        migration: m.name,
        message: `${m.name} ${why}, so it cannot be rolled back by script.`,
        hint: `Restore the database from a backup instead: \`dbops backup restore ${backupId ?? '<backup id>'} --target-url "$${scope.environment.urlEnv}" --force\`${backupId ? ' (the newest backup of this database)' : ' (`dbops backup list` shows the backups)'}, or roll back only to a migration after ${m.name}.`,
      });
    }
  }
  if (change.length === 0) return { check: gateCheck('lint', 'pass', 'nothing to lint: no migration in the change'), lint: null };
  // Missing locally (rollback of a migration this checkout lacks) cannot be linted; clean-state names it.
  const only =
    change
      .filter((m) => scope.local.some((l) => l.name === m.name))
      .map((m) => m.name)
      .join(',') || undefined;
  let findings: Finding[] = [];
  if (only) {
    try {
      const lintRequest = {
        migrationsDir: request.migrationsDir,
        rollbacksDir: request.rollbacksDir,
        policiesDir: request.policiesDir ?? 'policies',
        all: false,
        only,
        labels: '',
        policy: scope.policies.migrations.lint,
        access: scope.policies.accessCoverage,
        masking: scope.policies.maskingPolicy,
      };
      findings = (await lintChange(lintRequest, scope.ctx)).findings;
    } catch (e) {
      if (!(e instanceof EnvError)) throw e;
      reasons.push({ rule: 'lint/unavailable', message: `Lint could not run: ${e.message}`, ...(e.hint ? { hint: e.hint } : {}) });
    }
  }
  const allowed = allowedDestructive(scope, approvals);
  findings = findings.map((f) =>
    f.severity === 'error' && f.rule.startsWith('destructive/') && f.migration && allowed.has(f.migration)
      ? { ...f, severity: 'warning' as const, message: `${f.message} (allowed by the ${allowed.get(f.migration)})` }
      : f,
  );
  const rollbackPaths = new Set(change.map((m) => m.rollback.path));
  // For a rollback only the scripts that will run, and their pairing, matter.
  const relevant =
    request.action === 'rollback' ? findings.filter((f) => (f.file !== undefined && rollbackPaths.has(f.file)) || f.rule.startsWith('rollbacks/')) : findings;
  const counts = { error: 0, warning: 0, notice: 0 };
  for (const f of relevant) counts[f.severity]++;
  for (const f of relevant.filter((x) => x.severity === 'error')) {
    reasons.push({
      rule: `lint/${f.rule}`,
      message: `${f.file ? `${f.file}${f.line ? `:${f.line}` : ''}: ` : ''}${f.message}`,
      ...(f.help ? { hint: f.help } : {}),
      ...(f.migration ? { migration: f.migration } : {}),
    });
  }
  const verdict = counts.error > 0 ? 'fail' : counts.warning > 0 ? 'warn' : 'pass';
  const lint: Testing['lint'] = {
    verdict,
    errors: counts.error,
    warnings: counts.warning,
    notices: counts.notice,
    findings: relevant.map((f) => ({ rule: f.rule, severity: f.severity, message: f.message, ...(f.migration ? { migration: f.migration } : {}) })),
  };
  const what = request.action === 'rollback' ? plural(change.length, 'rollback script') : `${plural(change.length, 'pending migration')} and their rollbacks`;
  const summary = `${what}: ${plural(counts.error, 'error')}, ${plural(counts.warning, 'warning')}, ${plural(counts.notice, 'notice')}`;
  return { check: reasons.length > 0 ? gateCheck('lint', 'fail', summary, reasons) : gateCheck('lint', counts.warning > 0 ? 'warn' : 'pass', summary), lint };
}

export interface RehearsalCheck {
  check: GateCheck;
  rehearsal: Testing['rehearsal'];
}

/** `<reports-dir>/rehearse.json` of this run: passed, and covering every pending migration (require_rehearsal). */
export async function rehearsalCheck(scope: GateScope): Promise<RehearsalCheck> {
  const { request, environment, change } = scope;
  const required = environment.policy.require_rehearsal && request.action === 'deploy';
  const file = join(request.reportsDir, 'rehearse.json');
  let rehearsal: Testing['rehearsal'] = null;
  let problem: string | undefined;
  try {
    const [loaded] = await readEnvelopes(request.reportsDir, ['rehearse'], () => RehearseData);
    if (loaded) {
      const data = RehearseData.parse(loaded.report.data);
      rehearsal = {
        verdict: loaded.report.verdict,
        finishedAt: loaded.report.finishedAt,
        commit: loaded.report.commit,
        migrations: data.migrations.map((m) => ({ name: m.name, status: m.status, durationMs: m.durationMs, rollback: m.rollback.status })),
        snapshot: {
          source: data.snapshot.source,
          label: data.snapshot.label,
          ...(data.snapshot.masked
            ? {
                masked: {
                  database: data.snapshot.masked.database,
                  backupId: data.snapshot.masked.backupId,
                  policySha256: data.snapshot.masked.policySha256,
                  maskedAt: data.snapshot.masked.maskedAt,
                },
              }
            : {}),
        },
      };
    }
  } catch (e) {
    if (!(e instanceof ConfigError || e instanceof EnvError)) throw e;
    problem = e.message;
  }
  if (!required) {
    const why = request.action === 'rollback' ? 'a rollback is not rehearsed' : `not required by the policy of ${environment.name}`;
    return { check: gateCheck('rehearsal', 'skipped', rehearsal ? `${why} (${file}: ${rehearsal.verdict})` : why), rehearsal };
  }
  const hint = `Run \`dbops rehearse\` in this job before the gate (it writes ${file}).`;
  if (problem !== undefined || !rehearsal) {
    const reason: GateReason =
      problem !== undefined
        ? { rule: 'rehearsal/missing', message: `${file} cannot be used: ${problem}`, hint }
        : { rule: 'rehearsal/missing', message: `${environment.name} requires a rehearsal (require_rehearsal), and ${file} does not exist.`, hint };
    return { check: gateCheck('rehearsal', 'fail', 'no rehearsal report', [reason]), rehearsal };
  }
  const reasons: GateReason[] = [];
  if (rehearsal.verdict === 'fail') {
    reasons.push({
      rule: 'rehearsal/failed',
      message: `The rehearsal (${file}, finished ${rehearsal.finishedAt}) failed.`,
      hint: 'Fix what it reports (`dbops report` shows it), rehearse again, then run the gate.',
    });
  }
  if (environment.policy.require_rehearsal === 'masked' && !rehearsal.snapshot?.masked) {
    const on = rehearsal.snapshot ? `${rehearsal.snapshot.label} (${rehearsal.snapshot.source})` : 'a snapshot the report does not name';
    reasons.push({
      rule: 'rehearsal/not-masked',
      message: `${environment.name} requires a rehearsal on the masked snapshot (require_rehearsal: masked), and ${file} was rehearsed on ${on}.`,
      hint: 'Build the masked snapshot with `dbops snapshot mask --latest` (if it is not there yet), run `dbops rehearse --snapshot masked` in this job, then run the gate.',
    });
  }
  const applied = new Set(rehearsal.migrations.filter((m) => m.status === 'applied').map((m) => m.name));
  const uncovered = change.map((m) => m.name).filter((n) => !applied.has(n));
  if (uncovered.length > 0) {
    reasons.push({
      rule: 'rehearsal/incomplete',
      message: `The rehearsal (${file}) did not apply ${plural(uncovered.length, 'pending migration')}: ${names(uncovered)}.`,
      hint: `Rehearse the whole pending set (e.g. \`dbops rehearse --last ${change.length}\`), then run the gate.`,
    });
  }
  const summary = `${file}: ${rehearsal.verdict}, ${change.length - uncovered.length} of ${plural(change.length, 'pending migration')} rehearsed${rehearsal.snapshot?.masked ? ` on the masked snapshot ${rehearsal.snapshot.masked.database} (backup ${rehearsal.snapshot.masked.backupId})` : ''}`;
  return { check: reasons.length ? gateCheck('rehearsal', 'fail', summary, reasons) : gateCheck('rehearsal', 'pass', summary), rehearsal };
}
