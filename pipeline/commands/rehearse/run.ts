import type { StepContext } from '../../cli/contract.ts';
import { type RehearseData, checkSnapshotFlags, rehearseChange } from '../../change/rehearsal/index.ts';
import type { StepResult } from '../../core/result.ts';
import { checkChangeFlags } from '../../change/migrations/index.ts';
import { maskedSnapshotLocation } from '../flags.ts';
import type { RehearseInputs } from './spec.ts';

export { render } from '../../change/rehearsal/index.ts';

/** `dbops rehearse`: the policy, then change/rehearsal does the rest. */
export async function run(input: RehearseInputs, ctx: StepContext): Promise<StepResult<RehearseData>> {
  checkChangeFlags(input);
  checkSnapshotFlags(input);
  const { migrations } = await ctx.policies('migrations');
  const masked = input.snapshot === 'masked' ? await maskedSnapshotLocation(input.databaseUrl, ctx) : undefined;
  return rehearseChange({ ...input, masked, policies: migrations.value }, ctx);
}
