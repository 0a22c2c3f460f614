import type { StepContext } from '../../cli/contract.ts';
import { type LintData, lintChange, renderLint } from '../../change/lint/index.ts';
import { UsageError } from '../../core/errors.ts';
import type { StepResult } from '../../core/result.ts';
import type { LintInputs } from './spec.ts';

/** `dbops lint`: the policy and, with --database-url, the database; the lint itself is change/lint's. */
export async function run(input: LintInputs, ctx: StepContext): Promise<StepResult<LintData>> {
  const exclusive = [input.all && '--all', input.last !== undefined && '--last', input.only !== undefined && '--only'].filter((f): f is string => typeof f === 'string');
  if (exclusive.length > 1) throw new UsageError(`${exclusive.join(' and ')} cannot be combined.`, { hint: 'Use --all for every migration, --last N for the newest N, or --only NAME,… for exactly those.' });
  const { migrations } = await ctx.policies('migrations');
  const database = input.databaseUrl !== undefined ? await ctx.database() : undefined;
  return lintChange({ ...input, policy: migrations.value.lint, database }, ctx);
}

export const render = renderLint;
