import type { StepContext, StepResult } from '../../core/step.ts';
import { renderExecution } from '../../deploy/render.ts';
import { runAction } from '../../deploy/run.ts';
import type { ExecutionData } from '../../deploy/schema.ts';
import type { DeployInputs } from '../../registry.ts';

export function run(input: DeployInputs, ctx: StepContext): Promise<StepResult<ExecutionData>> {
  return runAction('deploy', input, ctx);
}

export const render = (result: StepResult<ExecutionData>): string => renderExecution(result);
