import type { StepContext, StepResult } from '../../core/step.ts';
import type { GateInputs } from '../../registry.ts';
import type { GateData } from '../../deploy/schema.ts';

export async function run(_input: GateInputs, _ctx: StepContext): Promise<StepResult<GateData>> {
  throw new Error('not implemented: gate/index');
}

export function render(_result: StepResult<GateData>): string {
  return '';
}
