import type { StepResult } from '../../core/result.ts';
import { renderLint } from '../lint/index.ts';
import { render as renderRehearsal } from '../rehearsal/index.ts';
import type { NewMigrationData } from './model.ts';

export function renderNewMigration(result: StepResult<NewMigrationData>, input: { migrationsDir: string; rollbacksDir: string }): string {
  const d = result.data;
  if (d.migration === null) return `No schema change: ${d.prismaSchema} and the migrations agree; nothing was written.\n`;
  const lines = [
    `Created ${d.migration} with Prisma's schema engine (${d.statements} ${d.statements === 1 ? 'step' : 'steps'}):`,
    `  ${d.migrationFile}`,
    `  ${d.rollbackFile}`,
  ];
  if (d.irreversible)
    lines.push('', `The rollback is marked irreversible: ${d.irreversible}.`, 'Confirm the marker, or replace the rollback with one that keeps the data.');
  for (const c of d.nullable) lines.push(`${c} comes back nullable in the rollback (it returns empty).`);
  if (d.createOnly) lines.push('', 'Stopped after writing (--create-only): `dbops lint --last 1` and `dbops rehearse --last 1` prove them.');
  let out = `${lines.join('\n')}\n`;
  if (d.lint)
    out += `\n${renderLint({ verdict: d.lint.verdict, findings: result.findings.filter((f) => !f.rule.startsWith('rehearse/')), data: d.lint.data }, { ...input, only: d.migration })}`;
  if (d.rehearsal)
    out += `\n${renderRehearsal({ verdict: d.rehearsal.verdict, findings: result.findings.filter((f) => f.rule.startsWith('rehearse/')), data: d.rehearsal.data })}`;
  return out;
}
