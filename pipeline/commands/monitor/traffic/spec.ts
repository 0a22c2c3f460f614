import { z } from 'zod';
import { databaseFlags } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

const { reportsDir: _reports, ...flags } = databaseFlags('whose traffic profile (kept beside its evidence) is read');

export const MonitorTrafficInputs = z.object({
  ...flags,
  percentile: z.coerce
    .number()
    .min(1)
    .max(100)
    .default(25)
    .describe('an hour is proposed as quiet when its mean transactions per second are at or below this percentile of the week'),
  minSamples: z.coerce.number().int().min(1).default(2).describe('samples an hour needs before it is judged'),
});
export type MonitorTrafficInputs = z.output<typeof MonitorTrafficInputs>;

export const spec = defineCommand({
  path: ['monitor', 'traffic'],
  summary: 'the weekly traffic profile `monitor check` records (transactions per second, active sessions per hour of the week) and the quiet hours it proposes',
  description:
    'Reads the profile every `dbops monitor check` adds its load sample to (object `traffic` of the monitor store, beside the evidence of --environment; the local evidence for a bare database) and prints a day × hour heatmap of the transactions per second, then the proposed quiet hours: contiguous hours, each with at least --min-samples samples, whose decayed mean TPS is at or below the --percentile of the week, with their load, and the next one to come. The gate’s traffic check (traffic.quiet_hours of policies/environments.yaml) uses the same proposal with the defaults. Connects to no database.',
  examples: ['dbops monitor traffic --environment production', 'dbops monitor traffic --environment production --percentile 10 --json'],
  inputs: MonitorTrafficInputs,
});
