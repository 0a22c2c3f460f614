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
  /** Committed + rolled-back transactions of every database since the statistics reset (a counter). */
  xacts: z.number().nullable(),
  /** Sessions running a statement (dbops aside). */
  activeSessions: z.number().nullable(),
});
export type LoadSample = z.output<typeof LoadSample>;

/** The data of reports/monitor-check.json. */
export const MonitorCheckData = z.looseObject({
  database: z.string(),
  environment: z.string().nullable(),
  at: z.string(),
  checks: z.array(CheckResult),
  load: LoadSample,
  counts: z.object({ ok: z.number(), warning: z.number(), critical: z.number(), notConfigured: z.number(), unknown: z.number() }),
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
