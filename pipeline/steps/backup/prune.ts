import { DbopsError } from '../../core/errors.ts';
import type { StepContext, StepResult } from '../../core/step.ts';

// Placeholder: replaced by the implementation of `dbops backup prune`.
export async function run(_input: unknown, _ctx: StepContext): Promise<StepResult<unknown>> {
  throw new DbopsError('dbops backup prune is not implemented yet');
}
export const render = (): string => '';
