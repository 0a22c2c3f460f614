import type { StepContext, StepResult } from '../../core/step.ts';
import type { EvidenceListInputs } from '../../registry.ts';

export async function run(_input: EvidenceListInputs, _ctx: StepContext): Promise<StepResult<unknown>> {
  throw new Error('not implemented: evidence/list');
}

export function render(_result: StepResult<unknown>): string {
  return '';
}
