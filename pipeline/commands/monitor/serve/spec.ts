import { z } from 'zod';
import { parseDuration } from '../../../core/duration.ts';
import { databaseFlags, json } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

/** `host:port` or `[v6]:port`; port 0 picks a free one (the address is printed). */
export const LISTEN_PATTERN = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/;

const { databaseUrl, environment, policiesDir } = databaseFlags('whose thresholds, capacity and replicas are checked (its name is the environment label)');

export const MonitorServeInputs = z.object({
  databaseUrl,
  environment,
  policiesDir,
  listen: z
    .string()
    .regex(LISTEN_PATTERN, 'expected host:port, e.g. 127.0.0.1:9187 or [::1]:9187')
    .refine((s) => Number(LISTEN_PATTERN.exec(s)?.[3]) <= 65535, 'the port is at most 65535')
    .default('127.0.0.1:9187')
    .describe('address the metrics are served on, host:port (loopback by default; port 0 picks a free port)'),
  interval: z
    .string()
    .refine((s) => (parseDuration(s) ?? 0) >= 1000, 'expected a duration of at least 1s, e.g. 15s or 1min')
    .default('15s')
    .describe('the checks run at most once per this interval; scrapes in between get the newest pass'),
  ...json,
});
export type MonitorServeInputs = z.output<typeof MonitorServeInputs>;

export const spec = defineCommand({
  path: ['monitor', 'serve'],
  summary: 'serves the checks of `dbops monitor check` as Prometheus metrics on GET /metrics, until Ctrl-C or SIGTERM',
  description:
    'An HTTP server answering GET /metrics (Prometheus text format: dbops_check_status 0 ok, 1 warning, 2 critical, -1 not configured or unknown; dbops_check_value; dbops_up; dbops_monitor_duration_seconds; dbops_active_sessions; dbops_transactions_total) and GET /healthz. A scrape runs the checks only when the newest pass is older than --interval; in between, and while a pass runs, scrapes get the newest pass, so scraping often costs the database nothing more. Labels carry the check, the environment and the database name, never its URL. Ctrl-C or SIGTERM stops it (exit 0). `dbops monitor rules` writes the matching alerting rules.',
  examples: ['dbops monitor serve', 'dbops monitor serve --environment production --listen 0.0.0.0:9187 --interval 30s'],
  inputs: MonitorServeInputs,
});
