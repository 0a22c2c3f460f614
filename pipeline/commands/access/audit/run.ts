import type { StepContext } from '../../../cli/contract.ts';
import { alignedTable, plural } from '../../../core/format.ts';
import type { Finding, StepResult } from '../../../core/result.ts';
import { accessPolicyOf, surveyAccess, type AccessAudit, type AccessFinding } from '../../../operations/access/index.ts';
import { environmentTarget } from '../../flags.ts';
import type { AccessAuditInputs } from './spec.ts';

export type AccessAuditData = AccessAudit & { environment: string | null; policy: string };

/** Every drift is a finding with its fix; any finding fails the audit (exit 1). */
export const accessFindings = (findings: AccessFinding[]): Finding[] =>
  findings.map((f) => ({
    rule: `access/${f.kind}`,
    severity: f.severity,
    message: `${f.message}.`,
    ...(f.fix.length > 0 ? { help: `Fix: ${f.fix.join(' ')}${f.prune ? ' (dbops access apply --prune)' : ''}` } : {}),
  }));

/** `dbops access audit`: read-only; exit 1 on any drift. */
export async function run(input: AccessAuditInputs, ctx: StepContext): Promise<StepResult<AccessAuditData>> {
  const { policy, path } = accessPolicyOf(await ctx.policies('access'), input.policiesDir);
  const { target, environment } = await environmentTarget(input, ctx, 'to audit');
  const audit = await surveyAccess(target, policy, ctx);
  const findings = accessFindings(audit.findings);
  return { verdict: findings.length > 0 ? 'fail' : 'pass', findings, data: { ...audit, environment: environment?.name ?? null, policy: path } };
}

/** The roles, then each finding with the statements that fix it. */
export function accessLines(audit: AccessAudit): string[] {
  const lines = alignedTable(
    ['ROLE', 'STATUS', 'ATTRIBUTES'],
    audit.roles.map((r) => [r.name, r.status, r.attributes.map((a) => a.toUpperCase()).join(' ') || '–']),
  );
  if (audit.findings.length === 0) lines.push('', 'No drift.');
  else {
    lines.push('', `${plural(audit.findings.length, 'finding')}:`);
    for (const f of audit.findings) {
      lines.push(`  ${f.severity === 'error' ? 'ERROR  ' : 'WARNING'} ${f.kind}: ${f.message}${f.prune ? ' (only with --prune)' : ''}`);
      for (const sql of f.fix) lines.push(`          ${sql}`);
    }
  }
  return lines;
}

export function render(result: StepResult<AccessAuditData>): string {
  const d = result.data;
  return `${[
    `Access of ${d.database} (as ${d.user}) against ${d.policy}: ${plural(d.counts.objects, 'object')}, ${plural(d.counts.privileges, 'privilege')} read. Nothing was changed.`,
    '',
    ...accessLines(d),
  ].join('\n')}\n`;
}
