import { z } from 'zod';
import type { DbTarget } from '../../infra/db/url.ts';
import type { MonitoringChecks } from '../../policy/monitoring.ts';

/** ok, warning and critical are verdicts; not-configured: the check needs what this run lacks (an environment, a capacity); unknown: it could not be measured. */
export const CheckStatus = z.enum(['ok', 'warning', 'critical', 'not-configured', 'unknown']);
export type CheckStatus = z.output<typeof CheckStatus>;

/** One check of one run. `value` is what the thresholds compare (for metrics), in `unit`. */
export const CheckResult = z.object({
  check: z.string(),
  status: CheckStatus,
  /** One line for humans: "81 of 97 client connections (84 %)". Never a secret, never a value of a row. */
  summary: z.string(),
  value: z.number().nullable(),
  unit: z.enum(['percent', 'seconds', 'bytes', 'count']).nullable(),
  /** What it is about when not the whole database: a relation, a replica, a slot. */
  subject: z.string().optional(),
});
export type CheckResult = z.output<typeof CheckResult>;

/** The load a run saw, for the weekly traffic profile. */
export const LoadSample = z.object({
  at: z.string(),
  /** Committed + rolled-back transactions of the database since the statistics reset (a counter). */
  xacts: z.number().nullable(),
  /** Sessions running a statement (dbops aside). */
  activeSessions: z.number().nullable(),
});
export type LoadSample = z.output<typeof LoadSample>;

/** One message to one route about one alert. `target`: the host of a webhook / Alertmanager URL (never the URL), or owner/repo#issue. */
export const AlertDelivery = z.object({
  route: z.enum(['webhook', 'github-issue', 'alertmanager']),
  check: z.string(),
  action: z.enum(['open', 'escalate', 'firing', 'close']),
  status: z.enum(['sent', 'failed', 'skipped']),
  target: z.string().nullable(),
  reason: z.string().nullable(),
});
export type AlertDelivery = z.output<typeof AlertDelivery>;

/** What the alerts did in this run (checks by name). */
export const AlertsSummary = z.object({
  opened: z.array(z.string()),
  escalated: z.array(z.string()),
  closed: z.array(z.string()),
  /** Open after this run (resolving ones included). */
  open: z.array(z.string()),
  muted: z.boolean(),
  /** Why muted (the open maintenance window), when muted. */
  mutedReason: z.string().optional(),
  /** --dry-run: planned, nothing sent, the state not written. */
  dryRun: z.boolean().optional(),
  deliveries: z.array(AlertDelivery),
  /** Where the state lives: "target local, local/monitoring/astro/". */
  store: z.string(),
});
export type AlertsSummary = z.output<typeof AlertsSummary>;

/** The data of reports/monitor-check.json. */
export const MonitorCheckData = z.looseObject({
  database: z.string(),
  environment: z.string().nullable(),
  at: z.string(),
  checks: z.array(CheckResult),
  load: LoadSample,
  counts: z.object({ ok: z.number(), warning: z.number(), critical: z.number(), notConfigured: z.number(), unknown: z.number() }),
  /** Absent with --no-alerts. */
  alerts: AlertsSummary.optional(),
});
export type MonitorCheckData = z.output<typeof MonitorCheckData>;

/** What `monitor check` works on: the database, and what its environment adds. */
export interface MonitorTarget {
  database: DbTarget;
  /** The environment name, or null for a bare --database-url (checks tied to an environment are not configured). */
  environment: string | null;
  checks: MonitoringChecks;
  capacity: { database?: string | undefined; wal?: string | undefined };
  /** Replicas declared for the environment (names), whose streaming is checked. */
  replicas: string[];
}
