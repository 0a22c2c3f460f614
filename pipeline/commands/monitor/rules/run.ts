import type { StepContext } from '../../../cli/contract.ts';
import { UsageError } from '../../../core/errors.ts';
import type { StepResult } from '../../../core/result.ts';
import { prometheusRules, rulesYaml, type PrometheusRules } from '../../../operations/monitoring/index.ts';
import type { MonitorRulesInputs } from './spec.ts';

export interface MonitorRulesData {
  environment: string | null;
  rules: PrometheusRules;
  yaml: string;
}

/** `dbops monitor rules`: the policy's thresholds (of --environment); operations/monitoring writes the rules. */
export async function run(input: MonitorRulesInputs, ctx: StepContext): Promise<StepResult<MonitorRulesData>> {
  const { monitoring } = await ctx.policies('monitoring');
  const { checksFor } = await import('../../../policy/monitoring.ts');
  const environment = input.environment ?? null;
  if (environment !== null && !(environment in monitoring.value.environments)) {
    const { environments } = await ctx.policies('environments');
    if (!(environment in environments.value.environments))
      throw new UsageError(`--environment ${environment} is in neither policies/monitoring.yaml nor policies/environments.yaml.`, {
        hint: 'Name an environment of policies/environments.yaml (its thresholds are those of policies/monitoring.yaml, with its overrides).',
      });
  }
  const rules = prometheusRules(checksFor(monitoring.value, environment), environment);
  return { verdict: 'pass', findings: [], data: { environment, rules, yaml: rulesYaml(rules, environment) } };
}

export const render = (result: StepResult<MonitorRulesData>): string => result.data.yaml;
