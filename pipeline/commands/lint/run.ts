import type { StepContext } from '../../cli/contract.ts';
import type { LintData } from '../../change/lint/model.ts';
import { lintChange } from '../../change/lint/lint.ts';
import { plural } from '../../core/format.ts';
import { UsageError } from '../../core/errors.ts';
import type { Finding, StepResult } from '../../core/result.ts';
import type { LintInputs } from './spec.ts';

/** `dbops lint`: the policy and, with --database-url, the database; the lint itself is change/lint's. */
export async function run(input: LintInputs, ctx: StepContext): Promise<StepResult<LintData>> {
  const exclusive = [input.all && '--all', input.last !== undefined && '--last', input.only !== undefined && '--only'].filter((f): f is string => typeof f === 'string');
  if (exclusive.length > 1) throw new UsageError(`${exclusive.join(' and ')} cannot be combined.`, { hint: 'Use --all for every migration, --last N for the newest N, or --only NAME,… for exactly those.' });
  const { migrations } = await ctx.policies('migrations');
  const database = input.databaseUrl !== undefined ? await ctx.database() : undefined;
  return lintChange({ ...input, policy: migrations.value.lint, database }, ctx);
}

// ---- human output ---------------------------------------------------------------------------------

const LEVEL_WIDTH = 7;

export function render(result: StepResult<LintData>, input: LintInputs): string {
  const { data, findings } = result;
  const where = data.scope === 'changed' ? `changed against ${data.base}` : data.scope === 'all' ? 'all migrations and rollbacks' : data.scope === 'only' ? `only ${input.only ?? ''}` : input.last === 1 ? 'the newest migration' : `the newest ${input.last ?? ''} migrations`;
  if (result.verdict === 'skip') {
    return data.scope === 'changed'
      ? `Nothing to lint: no migration or rollback changed against ${data.base} (in ${input.migrationsDir} and ${input.rollbacksDir}).\n`
      : `Nothing to lint: ${input.migrationsDir} has no migrations.\n`;
  }
  const lines: string[] = [];
  const byFile = new Map<string, Finding[]>();
  for (const f of findings) {
    const key = f.file ?? '';
    byFile.set(key, [...(byFile.get(key) ?? []), f]);
  }
  for (const [file, list] of byFile) {
    lines.push(file || '(no file)');
    for (const f of list) {
      const pos = f.line ? `${file}:${f.line}:${f.column ?? 1}` : file;
      lines.push(`  ${pos}  ${f.severity.padEnd(LEVEL_WIDTH)}  ${f.rule}  ${f.message}`);
      if (f.help) lines.push(`      help: ${f.help}`);
    }
    lines.push('');
  }
  const { error, warning, notice } = data.counts;
  const migrations = data.files.filter((f) => f.kind === 'migration').length;
  const rollbacks = data.files.length - migrations;
  const squawk = data.squawk ? `squawk ${data.squawk.version}, ` : '';
  lines.push(`Linted ${plural(migrations, 'migration')} and ${plural(rollbacks, 'rollback')} (${where}; ${squawk}profile ${data.profile}, PostgreSQL ${data.pgVersion}).`);
  lines.push(`${plural(error, 'error')}, ${plural(warning, 'warning')}, ${plural(notice, 'notice')}${data.suppressed > 0 ? ` (${data.suppressed} turned off by the profile or policy)` : ''}.`);
  const split = data.files.filter((f) => f.mode === 'split');
  if (split.length > 0) lines.push(`Run statement by statement by the executor (not in one transaction): ${split.map((f) => f.path).join(', ')}.`);
  lines.push(result.verdict === 'fail' ? 'Lint failed.' : result.verdict === 'warn' ? 'Lint passed with warnings.' : 'Lint passed.');
  return `${lines.join('\n')}\n`;
}
