import type { StepContext, StepResult } from '../../core/step.ts';
import type { DeployInputs } from '../../registry.ts';
import type { ExecutionData } from '../../deploy/schema.ts';

export async function run(_input: DeployInputs, _ctx: StepContext): Promise<StepResult<ExecutionData>> {
  throw new Error('not implemented: deploy/index');
}

export function render(_result: StepResult<ExecutionData>): string {
  return '';
}
