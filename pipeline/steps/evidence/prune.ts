import type { StepContext, StepResult } from '../../core/step.ts';
import type { EvidencePruneInputs } from '../../registry.ts';
import type { EvidencePruneData } from '../../evidence/report.ts';

export async function run(_input: EvidencePruneInputs, _ctx: StepContext): Promise<StepResult<EvidencePruneData>> {
  throw new Error('not implemented: evidence/prune');
}

export function render(_result: StepResult<EvidencePruneData>): string {
  return '';
}
