import { renderExecution } from '../../change/release/render.ts';
import { runAction } from '../../change/release/run.ts';
import type { ExecutionData } from '../../evidence/records.ts';
import type { DeployInputs } from '../flags.ts';
import type { StepContext } from '../../cli/contract.ts';
import { releasePolicies } from '../flags.ts';
import { type StepResult } from '../../core/result.ts';

export async function run(input: DeployInputs, ctx: StepContext): Promise<StepResult<ExecutionData>> {
  return runAction('deploy', input, await releasePolicies(ctx), ctx);
}

export const render = (result: StepResult<ExecutionData>): string => renderExecution(result);
