import type { StepContext, StepResult } from '../../core/step.ts';
import { renderExecution } from '../../deploy/render.ts';
import { runAction } from '../../deploy/run.ts';
import type { ExecutionData } from '../../deploy/schema.ts';
import type { RollbackInputs } from '../../registry.ts';

export function run(input: RollbackInputs, ctx: StepContext): Promise<StepResult<ExecutionData>> {
  return runAction('rollback', input, ctx);
}

export const render = (result: StepResult<ExecutionData>): string => renderExecution(result);
