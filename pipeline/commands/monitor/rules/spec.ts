import { z } from 'zod';
import { json, policiesOnly } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

export const MonitorRulesInputs = z.object({
  environment: z
    .string()
    .min(1)
    .optional()
    .describe('environment of policies/monitoring.yaml whose thresholds apply; its rules match only the series of that environment'),
  ...policiesOnly,
  ...json,
});
export type MonitorRulesInputs = z.output<typeof MonitorRulesInputs>;

export const spec = defineCommand({
  path: ['monitor', 'rules'],
  summary: 'prints Prometheus alerting rules equivalent to policies/monitoring.yaml, for the metrics of `dbops monitor serve`',
  description:
    'One alert per enabled check and severity (dbops_check_status >= 2 critical, == 1 warning; for 5m and 10m), and DbopsDown (dbops_up == 0 for 1m), with severity labels and the thresholds in the annotations. dbops judges the thresholds itself, so the rules only map its statuses to alerts. With --environment the environment’s thresholds are named and the rules match only its series (environment label). Check the output with `promtool check rules`.',
  examples: ['dbops monitor rules > dbops-rules.yml', 'dbops monitor rules --environment production > dbops-production.yml'],
  inputs: MonitorRulesInputs,
});
