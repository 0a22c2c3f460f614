import { renderExecution, runAction } from '../../change/release/index.ts';
import type { ExecutionData } from '../../evidence/index.ts';
import { type DeployInputs, releasePolicies } from '../flags.ts';
import type { StepContext } from '../../cli/contract.ts';
import type { StepResult } from '../../core/result.ts';

export async function run(input: DeployInputs, ctx: StepContext): Promise<StepResult<ExecutionData>> {
  return runAction('deploy', input, await releasePolicies(ctx), ctx);
}

export const render = (result: StepResult<ExecutionData>): string => renderExecution(result);
