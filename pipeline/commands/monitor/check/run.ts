import type { StepContext } from '../../../cli/contract.ts';
import type { StepResult } from '../../../core/result.ts';
import { monitorCheck, type MonitorCheckData } from '../../../operations/monitoring/index.ts';
import { monitorTarget } from '../../flags.ts';
import type { MonitorCheckInputs } from './spec.ts';

export { renderMonitorCheck as render } from '../../../operations/monitoring/index.ts';

/** `dbops monitor check`: the target and its policies; operations/monitoring judges. */
export async function run(input: MonitorCheckInputs, ctx: StepContext): Promise<StepResult<MonitorCheckData>> {
  return monitorCheck(await monitorTarget(input, ctx), ctx);
}
