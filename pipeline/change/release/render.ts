import type { ExecutionData } from '../../evidence/index.ts';
import { formatBytes, formatMs, noun } from '../../core/format.ts';
import { type StepResult } from '../../core/result.ts';

const OUTCOME: Record<ExecutionData['outcome'], string> = {
  succeeded: '✔ SUCCEEDED',
  refused: '✘ REFUSED by the gate (nothing was changed)',
  'failed-rolled-back': '✘ FAILED — rolled back automatically; the schema is back to its pre-deploy state',
  failed: '✘ FAILED — the database is NOT back to its pre-deploy state',
  interrupted: '✘ INTERRUPTED',
};

const MARK: Record<string, string> = { applied: '✔', 'rolled-back': '↩', failed: '✘', 'not-run': '·' };

const banner = (lines: string[]) => {
  const width = Math.max(...lines.map((l) => l.length)) + 4;
  const bar = '!'.repeat(width);
  return [bar, ...lines.map((l) => `! ${l.padEnd(width - 4)} !`), bar].join('\n');
};

/** The human summary of a deploy or rollback: outcome, each migration, smoke, final state, what to do, evidence. */
export function renderExecution(result: StepResult<ExecutionData>): string {
  const d = result.data;
  const out: string[] = [''];
  const bg = d.gate?.breakGlass;
  if (bg)
    out.push(
      banner([
        `BREAK-GLASS ${d.action.toUpperCase()} of ${d.environment}`,
        `reason: ${bg.reason}`,
        `by ${bg.by} on ${bg.host} at ${bg.at}`,
        'Review controls (approvals, destructive-statement labels) were replaced by this reason;',
        'it is recorded in the evidence bundle and needs an after-the-fact review.',
      ]),
      '',
    );
  out.push(`${d.action === 'deploy' ? 'Deploy' : 'Rollback'} of ${d.environment}: ${OUTCOME[d.outcome]}`);
  if (d.gate?.outsideWindow) out.push(`  outside the change window (${d.gate.outsideWindow.window}): ${d.gate.outsideWindow.reason}`);
  if (d.gate?.backup) out.push(`  pre-deploy backup: ${d.gate.backup.id} (${d.gate.backup.status}${d.gate.backup.taken ? ', taken by this run' : ''})`);

  if (d.steps.length > 0) {
    out.push('', 'Migrations:');
    const width = Math.max(...d.steps.map((s) => s.name.length));
    for (const s of d.steps) {
      const what = s.action === 'rollback' ? (s.outcome === 'rolled-back' ? 'rolled back' : `rollback ${s.outcome}`) : s.outcome;
      const timing = s.startedAt ? `${formatMs(s.durationMs).padStart(9)}` : ''.padStart(9);
      const retries = s.lockRetries ? `  (${s.lockRetries} lock ${noun(s.lockRetries, 'retry', 'retries')})` : '';
      const error = s.error ? `\n      ${(/Database error:\n(.+)/.exec(s.error)?.[1] ?? s.error.split('\n')[0]!).trim()}` : '';
      out.push(`  ${MARK[s.outcome] ?? '?'} ${s.name.padEnd(width)}  ${what.padEnd(20)}${timing}${retries}${error}`);
    }
  } else if (d.outcome === 'succeeded') {
    out.push('', d.action === 'deploy' ? 'No pending migrations to apply.' : 'Nothing to roll back.');
  }
  if (d.smoke.length > 0) {
    out.push('', 'Smoke queries:');
    for (const s of d.smoke)
      out.push(`  ${s.ok ? '✔' : '✘'} ${s.name}  ${s.rows} ${noun(s.rows, 'row')}  ${formatMs(s.durationMs)}${s.error ? `  ${s.error}` : ''}`);
  }

  if (d.replicas && d.replicas.length > 0) {
    out.push('', `Replicas (replay of LSN ${d.replicas[0]!.lsn}):`);
    for (const r of d.replicas)
      out.push(
        r.caughtUpMs !== null
          ? `  ✔ ${r.name} (${r.role})  caught up in ${formatMs(r.caughtUpMs)}`
          : `  ! ${r.name} (${r.role})  NOT caught up: ${r.lagBytes !== null ? `${formatBytes(r.lagBytes)} behind` : (r.problem ?? 'lag unknown')}`,
      );
  }

  const f = d.finalState;
  out.push('', 'Final state:');
  out.push(`  applied: ${f.applied.length}${f.applied.length ? ` (newest ${f.applied.at(-1)})` : ''}`);
  out.push(`  pending: ${f.pending.length ? f.pending.join(', ') : 'none'}`);
  if (f.failed.length) out.push(`  failed:  ${f.failed.join(', ')}`);
  if (f.equalsBefore !== null)
    out.push(
      `  schema:  ${f.equalsBefore ? `equals the pre-deploy fingerprint (${f.fingerprintAfter?.slice(0, 12)})` : `changed: fingerprint ${f.fingerprintBefore?.slice(0, 12)} before, ${f.fingerprintAfter?.slice(0, 12)} after`}`,
    );
  if (f.diff && d.outcome !== 'succeeded') out.push(f.diff.replace(/^/gm, '    '));

  if (d.restoreCommand) {
    const why =
      d.outcome === 'refused'
        ? 'Nothing was changed. The only way back past an irreversible migration is the backup:'
        : 'The database is not back to a known state. Restore the pre-deploy backup:';
    out.push('', banner([why]), '', `    ${d.restoreCommand}`, '');
  }
  if (d.evidence)
    out.push(
      '',
      `Evidence: bundle #${d.evidence.sequence} ${d.evidence.key} in ${d.evidence.target}`,
      `  sha256 ${d.evidence.sha256}`,
      `  local copy ${d.evidence.localJson ?? 'NOT written (see the error below)'}`,
    );
  return `${out.join('\n')}\n`;
}
