import type { StepContext } from '../../cli/contract.ts';
import { type LintData, lintChange, renderLint } from '../../change/lint/index.ts';
import { checkChangeFlags } from '../../change/migrations/index.ts';
import { uncoveredTables } from '../../operations/access/index.ts';
import type { StepResult } from '../../core/result.ts';
import type { LintInputs } from './spec.ts';

/** `dbops lint`: the policy and, with --database-url, the database; the lint itself is change/lint's. */
export async function run(input: LintInputs, ctx: StepContext): Promise<StepResult<LintData>> {
  checkChangeFlags(input);
  // policies/access.yaml (absent: its defaults, no roles) decides which new tables access/table-not-covered reports;
  // policies/masking.yaml, only when the file exists, which new personal columns masking/personal-data-unmasked reports.
  const { migrations, access, masking } = await ctx.policies('migrations', 'access', 'masking');
  const database = input.databaseUrl !== undefined ? await ctx.database() : undefined;
  return lintChange(
    {
      ...input,
      policy: migrations.value.lint,
      access: { policy: access.value, uncoveredTables },
      masking: masking.path !== undefined ? masking.value : undefined,
      database,
    },
    ctx,
  );
}

export const render = renderLint;
