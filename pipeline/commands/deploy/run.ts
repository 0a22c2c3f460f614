import type { StepContext, StepResult } from '../../core/step.ts';
import { renderExecution } from '../../change/release/render.ts';
import { runAction } from '../../change/release/run.ts';
import type { ExecutionData } from '../../change/release/schema.ts';
import type { DeployInputs } from '../flags.ts';

export function run(input: DeployInputs, ctx: StepContext): Promise<StepResult<ExecutionData>> {
  return runAction('deploy', input, ctx);
}

export const render = (result: StepResult<ExecutionData>): string => renderExecution(result);
