import type { StepContext } from '../../cli/contract.ts';
import { type RehearseData, rehearseChange } from '../../change/rehearsal/index.ts';
import type { StepResult } from '../../core/result.ts';
import { checkChangeFlags } from '../../change/migrations/index.ts';
import type { RehearseInputs } from './spec.ts';

export { render } from '../../change/rehearsal/index.ts';

/** `dbops rehearse`: the policy, then change/rehearsal does the rest. */
export async function run(input: RehearseInputs, ctx: StepContext): Promise<StepResult<RehearseData>> {
  checkChangeFlags(input);
  const { migrations } = await ctx.policies('migrations');
  return rehearseChange({ ...input, policies: migrations.value }, ctx);
}
