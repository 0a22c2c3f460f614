import type { StepContext } from '../../../cli/contract.ts';
import { plural } from '../../../core/format.ts';
import type { StepResult } from '../../../core/result.ts';
import { collectAudit, type CollectResult } from '../../../operations/audit/index.ts';
import { environmentTarget } from '../../flags.ts';
import type { AuditCollectInputs } from './spec.ts';

export type AuditCollectData = CollectResult & { environment: string };

/** `dbops audit collect`: exit 0 when the new lines are stored (none new is fine), 3 when the log or the evidence storage cannot be read. */
export async function run(input: AuditCollectInputs, ctx: StepContext): Promise<StepResult<AuditCollectData>> {
  const { target, environment } = await environmentTarget(input, ctx, 'into whose evidence chain the segments go');
  const { backups, environments, audit } = await ctx.policies('backups', 'environments', 'audit');
  const { openEvidenceOf } = await import('../../../evidence/index.ts');
  const store = await openEvidenceOf({ backups: backups.value, environments: environments.value }, environment?.name, ctx.env, ctx.log);
  const result = await collectAudit(target, store, input.logDir, ctx, audit.value.log_format);
  return { verdict: 'pass', findings: [], data: { ...result, environment: store.environment } };
}

export function render(result: StepResult<AuditCollectData>): string {
  const d = result.data;
  const lines = [
    d.segments.length === 0
      ? `No new audit line for ${d.database} in ${d.logDir} since ${d.from ? `${d.from.file} byte ${d.from.offset}` : 'the first log file'}.`
      : `Collected ${plural(
          d.segments.reduce((n, s) => n + s.lines, 0),
          'audit line',
        )} of ${d.database} from ${d.logDir} into the evidence of ${d.environment}:`,
    ...d.segments.map(
      (s) =>
        `  ${s.day}: ${plural(s.lines, 'line')} → bundle #${s.sequence} (${s.summary.roleChanges.length} role changes, ${s.summary.failedLogins.reduce((n, f) => n + f.count, 0)} failed logins, ${s.summary.superuserSessions.length} superuser sessions)`,
    ),
  ];
  if (d.position) lines.push(`The next collection continues at ${d.position.file} byte ${d.position.offset}.`);
  return `${lines.join('\n')}\n`;
}
