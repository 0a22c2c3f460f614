import type { StepContext } from '../../../cli/contract.ts';
import type { StepResult } from '../../../core/result.ts';
import { formatBytes, formatMs, plural } from '../../../core/format.ts';
import { mibPerSecond, replicateBackups, type BackupReplicateData } from '../../../protection/backup/index.ts';
import type { BackupReplicateInputs } from './spec.ts';

export type { BackupReplicateData };

/** `dbops backup replicate`: the policy, then protection/backup copies. */
export async function run(input: BackupReplicateInputs, ctx: StepContext): Promise<StepResult<BackupReplicateData>> {
  const { backups } = await ctx.policies('backups');
  return replicateBackups({ ...input, policy: backups.value }, ctx);
}

export function render(result: StepResult<BackupReplicateData>): string {
  const d = result.data;
  if (d.targets.length === 0) return `Nothing to replicate: target "${d.from.name}" is the only one.\n`;
  const out = [`Replicated from target "${d.from.name}" (${d.from.location}):`];
  for (const t of d.targets) {
    const bytes = t.copied.reduce((n, c) => n + c.bytes, 0);
    const parts = [`${t.copied.length} copied${t.copied.length > 0 ? ` (${formatBytes(bytes)})` : ''}`, `${t.present.length} already there`];
    if (t.failed.length > 0) parts.push(`${t.failed.length} FAILED`);
    out.push(`\n  ${t.name} (${t.location}): ${parts.join(', ')}`);
    for (const c of t.copied)
      out.push(`    copied   ${c.id}  ${formatBytes(c.bytes)} in ${formatMs(c.durationMs)} (${mibPerSecond(c.bytes, c.durationMs)} MiB/s)`);
    for (const f of t.failed) out.push(`    FAILED   ${f.id}: ${f.message}`);
  }
  const skipped = result.findings.filter((f) => f.rule === 'backup/replicate-skipped');
  if (skipped.length > 0)
    out.push('', `Not copied (${plural(skipped.length, 'backup')} whose newest verification failed):`, ...skipped.map((f) => `  ${f.message}`));
  const copied = d.targets.reduce((n, t) => n + t.copied.length, 0);
  const failed = d.targets.reduce((n, t) => n + t.failed.length, 0);
  if (copied > 0) out.push('', 'Every copy was checked against the SHA-256 in its manifest before it was listed on its target.');
  else if (failed === 0) out.push('', 'Nothing needed copying.');
  return `${out.join('\n')}\n`;
}
