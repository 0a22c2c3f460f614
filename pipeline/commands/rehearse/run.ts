import type { StepContext } from '../../cli/contract.ts';
import type { RehearseData } from '../../change/rehearsal/model.ts';
import { rehearseChange } from '../../change/rehearsal/rehearse.ts';
import type { StepResult } from '../../core/result.ts';
import type { RehearseInputs } from './spec.ts';

export { render } from '../../change/rehearsal/render.ts';

/** `dbops rehearse`: the policy, then change/rehearsal does the rest. */
export async function run(input: RehearseInputs, ctx: StepContext): Promise<StepResult<RehearseData>> {
  const { migrations } = await ctx.policies('migrations');
  return rehearseChange({ ...input, policies: migrations.value }, ctx);
}
