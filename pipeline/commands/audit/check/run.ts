import type { StepContext } from '../../../cli/contract.ts';
import { plural } from '../../../core/format.ts';
import { type Finding, type StepResult, verdictOf } from '../../../core/result.ts';
import { surveyAudit, type AuditCheckData, type AuditCheckRow } from '../../../operations/audit/index.ts';
import { environmentTarget } from '../../flags.ts';
import type { AuditCheckInputs } from './spec.ts';

const slug = (name: string): string =>
  name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');

/** A failed row is an error, a warned one a warning, each with its fix. */
function findingsOf(checks: AuditCheckRow[]): Finding[] {
  const out: Finding[] = [];
  for (const c of checks) {
    if (c.status === 'pass') continue;
    const detail = c.detail ? ` (${c.detail})` : '';
    const fix = c.fix ? ` Fix: ${c.fix}` : '';
    out.push({
      rule: `audit/${slug(c.name)}`,
      severity: c.status === 'fail' ? 'error' : 'warning',
      message: `${c.name}: server ${c.server ?? '(none)'}, wanted ${c.wanted}${detail}.${fix}`,
    });
  }
  return out;
}

/** `dbops audit check`: exit 1 on a failed row; warnings alone pass with a warning. */
export async function run(input: AuditCheckInputs, ctx: StepContext): Promise<StepResult<AuditCheckData>> {
  const { audit, environments } = await ctx.policies('audit', 'environments');
  const { target, environment } = await environmentTarget(input, ctx, 'and checks it against policies/audit.yaml');
  const { checks } = await surveyAudit(target, { policy: audit.value, evidenceRetention: environments.value.evidence.retention }, ctx);
  const findings = findingsOf(checks);
  const verdict = verdictOf(findings);
  const count = (s: AuditCheckRow['status']) => checks.filter((c) => c.status === s).length;
  return {
    verdict,
    findings,
    data: {
      database: target.display,
      environment: environment?.name ?? null,
      policy: audit.path ?? null,
      checks,
      counts: { pass: count('pass'), fail: count('fail'), warn: count('warn') },
    },
  };
}

const MARK: Record<AuditCheckRow['status'], string> = { pass: 'ok', fail: 'FAIL', warn: 'warn' };

export function render(result: StepResult<AuditCheckData>): string {
  const d = result.data;
  const lines = [
    `Audit logging of ${d.database}${d.environment ? ` (environment ${d.environment})` : ''} against ${d.policy ?? 'the defaults of policies/audit.yaml (no file)'}: ${d.counts.pass} passed, ${d.counts.fail} failed, ${plural(d.counts.warn, 'warning')}. Nothing was changed.`,
    '',
  ];
  for (const c of d.checks) {
    lines.push(`${MARK[c.status].padEnd(5)} ${c.name}: server ${c.server ?? '(none)'}, wanted ${c.wanted}${c.detail ? ` (${c.detail})` : ''}`);
    if (c.fix) lines.push(`      fix: ${c.fix}`);
  }
  return `${lines.join('\n')}\n`;
}
