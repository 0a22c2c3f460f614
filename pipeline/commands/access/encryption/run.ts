import type { StepContext } from '../../../cli/contract.ts';
import { plural } from '../../../core/format.ts';
import { type Finding, type StepResult, verdictOf } from '../../../core/result.ts';
import { surveyEncryption, type AccessEncryptionData, type EncryptionCheck } from '../../../operations/access/index.ts';
import { environmentTarget } from '../../flags.ts';
import type { AccessEncryptionInputs } from './spec.ts';

const slug = (name: string): string => name.toLowerCase().replace(/[^a-z0-9]+/g, '-');

/** A failed check is an error (one per problem, e.g. per pg_hba.conf line); a check not made is a warning. */
function findingsOf(checks: EncryptionCheck[]): Finding[] {
  const out: Finding[] = [];
  for (const c of checks) {
    const rule = `access/encryption-${slug(c.name)}`;
    const fix = c.fix ? ` Fix: ${c.fix}.` : '';
    if (c.status === 'fail') for (const p of c.problems ?? [c.detail]) out.push({ rule, severity: 'error', message: `${c.name}: ${p}.${fix}` });
    else if (c.status === 'not-checked') out.push({ rule, severity: 'warning', message: `${c.name} not checked: ${c.detail}.` });
  }
  return out;
}

/** `dbops access encryption`: exit 1 on a failed check; a check the connection may not make warns. */
export async function run(input: AccessEncryptionInputs, ctx: StepContext): Promise<StepResult<AccessEncryptionData>> {
  const { access, backups } = await ctx.policies('access', 'backups');
  const { target, environment } = await environmentTarget(input, ctx, 'and checks its volume attestation in policies/access.yaml');
  const { checks } = await surveyEncryption(
    target,
    { access: access.value, backups: backups.value, accessFile: access.path !== undefined },
    environment?.name ?? null,
    new Date(),
    ctx,
  );
  const findings = findingsOf(checks);
  const verdict = verdictOf(findings);
  const count = (s: EncryptionCheck['status']) => checks.filter((c) => c.status === s).length;
  return {
    verdict,
    findings,
    data: {
      database: target.display,
      environment: environment?.name ?? null,
      checks,
      counts: { pass: count('pass'), fail: count('fail'), notChecked: count('not-checked') },
    },
  };
}

const MARK: Record<EncryptionCheck['status'], string> = { pass: 'ok', fail: 'FAIL', 'not-checked': 'NOT CHECKED', info: 'note' };

export function render(result: StepResult<AccessEncryptionData>): string {
  const d = result.data;
  const lines = [
    `Encryption of ${d.database}${d.environment ? ` (environment ${d.environment})` : ''}: ${d.counts.pass} passed, ${d.counts.fail} failed, ${d.counts.notChecked} not checked. Nothing was changed.`,
    '',
  ];
  for (const c of d.checks) {
    const problems = c.problems ?? [];
    const many = problems.length > 1;
    lines.push(`${MARK[c.status].padEnd(11)} ${c.name}: ${many ? plural(problems.length, 'problem') : c.detail}`);
    if (many) for (const p of problems) lines.push(`            - ${p}`);
    if (c.fix) lines.push(`            fix: ${c.fix}`);
  }
  return `${lines.join('\n')}\n`;
}
