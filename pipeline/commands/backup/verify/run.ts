import type { StepContext } from '../../../cli/contract.ts';
import { UsageError } from '../../../core/errors.ts';
import type { StepResult } from '../../../core/result.ts';
import { type BackupVerifyData, verifyBackup } from '../../../protection/backup/index.ts';
import type { BackupVerifyInputs } from './spec.ts';
import { formatBytes, formatMs } from '../../../core/format.ts';

const MARK = { true: '✓', false: '✗' } as const;

/** `dbops backup verify`: the flags and the policy; the verification is protection/backup's. */
export async function run(input: BackupVerifyInputs, ctx: StepContext): Promise<StepResult<BackupVerifyData>> {
  if (!input.restore && input.scratchUrl) throw new UsageError('--scratch-url is where --restore restores to; add --restore.');
  if (!input.restore && input.jobs !== undefined) throw new UsageError('--jobs sets pg_restore -j for --restore; add --restore.');
  const { backups } = await ctx.policies('backups');
  return verifyBackup({ ...input, policy: backups.value }, ctx);
}

export function render(result: StepResult<BackupVerifyData>): string {
  const { data } = result;
  const r = data.record;
  const width = Math.max(...r.checks.map((c) => c.name.length));
  const lines = [
    `Backup ${data.backupId} (${data.tier}, database ${data.database}, ${formatBytes(data.ciphertextBytes)} encrypted) on target ${data.target.name} (${data.target.location})`,
    '',
    ...r.checks.map((c) => `  ${MARK[`${c.ok}`]} ${c.name.padEnd(width)}  ${formatMs(c.durationMs).padStart(9)}  ${c.message ?? ''}`),
    '',
  ];
  const rto = r.restoreMs !== undefined ? `; restore ${formatMs(r.restoreMs)} (RTO evidence)` : '';
  lines.push(
    r.ok
      ? `Verified (${r.level}) in ${formatMs(r.durationMs)}${rto}. Recorded on target ${data.target.name}.`
      : `FAILED (${r.level}) after ${formatMs(r.durationMs)}. Recorded on target ${data.target.name}.`,
  );
  return `${lines.join('\n')}\n`;
}
