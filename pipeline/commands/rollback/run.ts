import { renderExecution, runAction } from '../../change/release/index.ts';
import type { ExecutionData } from '../../evidence/index.ts';
import type { RollbackInputs } from './spec.ts';
import type { StepContext } from '../../cli/contract.ts';
import { releasePolicies } from '../flags.ts';
import type { StepResult } from '../../core/result.ts';

export async function run(input: RollbackInputs, ctx: StepContext): Promise<StepResult<ExecutionData>> {
  return runAction('rollback', input, await releasePolicies(ctx), ctx);
}

export const render = (result: StepResult<ExecutionData>): string => renderExecution(result);
