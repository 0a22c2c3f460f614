import type { StepModule } from '../../../cli/contract.ts';
import { UsageError } from '../../../core/errors.ts';
import { formatMs } from '../../../core/format.ts';
import type { Finding } from '../../../core/result.ts';
import { pitrRestore, type PitrRestoreData, type RestorePointEvidence, type RestoreTarget } from '../../../protection/pitr/index.ts';
import type { PitrRestoreInputs } from './spec.ts';

function restoreTarget(input: PitrRestoreInputs): RestoreTarget {
  const given = [input.to !== undefined, input.toRestorePoint !== undefined, input.latest].filter(Boolean).length;
  if (given !== 1) throw new UsageError('Give exactly one of --to TIME, --to-restore-point NAME or --latest.');
  if (input.to !== undefined) return { kind: 'time', time: input.to };
  if (input.toRestorePoint !== undefined) return { kind: 'name', name: input.toRestorePoint };
  return { kind: 'latest' };
}

export const restore: StepModule<PitrRestoreInputs, PitrRestoreData> = {
  async run(input, ctx) {
    const to = restoreTarget(input);
    const { backups } = await ctx.policies('backups');
    const data = await pitrRestore(
      {
        target: await ctx.database(),
        backups: backups.value,
        to,
        targetDir: input.targetDir,
        port: input.port,
        force: input.force,
        // Read only for a restore point named after a deploy's bundle; a broken environments.yaml is then a warning, not a refusal.
        evidence: { environments: async () => (await ctx.policies('environments')).environments.value },
      },
      ctx,
    );
    const failed = data.phases.filter((p) => !p.ok);
    const findings: Finding[] = failed.map((p) => ({ rule: 'pitr/restore-check', severity: 'error' as const, message: p.message }));
    if (data.evidence?.warning) findings.push({ rule: 'pitr/restore-evidence', severity: 'warning', message: `${data.evidence.name}: ${data.evidence.note}` });
    return { verdict: failed.length ? 'fail' : 'pass', findings, data };
  },
  render({ data: d }) {
    const to = d.target.kind === 'time' ? `time ${d.target.time}` : d.target.kind === 'name' ? `restore point ${d.target.name}` : 'the latest archived WAL';
    return [
      `Restored to ${to}${d.backup ? ` from backup ${d.backup}` : ''} into ${d.dataDir}:`,
      ...d.phases.map((p) => `  ${p.ok ? '✓' : '✗'} ${p.name.padEnd(22)} ${formatMs(p.durationMs).padStart(9)}  ${p.message}`),
      `  total ${formatMs(d.totalMs)}`,
      d.heartbeat.restored
        ? `  newest heartbeat ${d.heartbeat.restored}${d.heartbeat.lostMs !== null ? `; the source's is ${formatMs(d.heartbeat.lostMs)} newer` : ''}`
        : '  no heartbeat in the restored cluster (dbops.heartbeat): the data lost is not measured',
      ...(d.evidence ? evidenceLines(d.evidence) : []),
      '',
      `Running on ${d.url}`,
      `Stop it with: ${d.stopCommand}`,
      '',
    ].join('\n');
  },
};

function evidenceLines(e: RestorePointEvidence): string[] {
  if (!e.bundle) return [`  ${e.warning ? '⚠ ' : ''}evidence: ${e.note ?? 'none'}`];
  const b = e.bundle;
  return [
    `  evidence: ${b.kind} bundle #${b.sequence} of ${b.environment} (${b.key}, ${b.outcome}, ${b.createdAt}) recorded ${e.name} at LSN ${b.lsn}`,
    // The proof on the restored ledger is part of the verify phase above.
    `    its migrations: ${e.migrations.length ? e.migrations.join(', ') : 'none'}`,
  ];
}
