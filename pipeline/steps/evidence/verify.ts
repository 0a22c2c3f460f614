import type { StepContext, StepResult } from '../../core/step.ts';
import type { EvidenceVerifyInputs } from '../../registry.ts';
import type { EvidenceVerifyData } from '../../evidence/report.ts';

export async function run(_input: EvidenceVerifyInputs, _ctx: StepContext): Promise<StepResult<EvidenceVerifyData>> {
  throw new Error('not implemented: evidence/verify');
}

export function render(_result: StepResult<EvidenceVerifyData>): string {
  return '';
}
