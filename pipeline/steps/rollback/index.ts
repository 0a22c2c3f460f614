import type { StepContext, StepResult } from '../../core/step.ts';
import type { RollbackInputs } from '../../registry.ts';
import type { ExecutionData } from '../../deploy/schema.ts';

export async function run(_input: RollbackInputs, _ctx: StepContext): Promise<StepResult<ExecutionData>> {
  throw new Error('not implemented: rollback/index');
}

export function render(_result: StepResult<ExecutionData>): string {
  return '';
}
