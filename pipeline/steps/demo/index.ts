import type { StepContext, StepResult } from '../../core/step.ts';
// Placeholder while the seed is being written; replaced before this issue closes.
export async function run(_input: unknown, _ctx: StepContext): Promise<StepResult<null>> {
  throw new Error('seed: not implemented yet');
}
export const render = () => '';
