import type { Gauge, Registry } from 'prom-client';
import type { CheckResult, CheckStatus, MonitorCheckData } from './model.ts';

/**
 * The checks of `dbops monitor check` as Prometheus metrics (`dbops monitor serve`). Labels carry the check,
 * the environment and the database *name*, never a URL: nothing here can hold a secret. prom-client is
 * loaded only when metrics are asked for, so `monitor check` does not pay for it.
 */

/** dbops_check_status: 0 ok, 1 warning, 2 critical, -1 not configured or unknown (the rules alert on ≥ 1). */
export const STATUS_VALUE: Record<CheckStatus, number> = { ok: 0, warning: 1, critical: 2, 'not-configured': -1, unknown: -1 };

export interface MetricsLabels {
  /** The environment name, or '' for a bare --database-url. */
  environment: string;
  /** The database name (DbTarget.database), never its URL. */
  database: string;
}

/** One pass as the metrics see it: its data, or the error that stopped it, and how long it took. */
export type MetricsPass =
  { data: MonitorCheckData; error?: undefined; seconds: number; at: Date } | { data?: undefined; error: string; seconds: number; at: Date };

export interface MonitorMetrics {
  registry: Registry;
  /** The Content-Type of the exposition (prom-client's text format). */
  contentType: string;
  /** Replaces every gauge with what one pass found (checks a pass no longer reports disappear). */
  update(pass: MetricsPass): void;
  /** The exposition text. */
  text(): Promise<string>;
}

/** True when the database answered in this pass (its availability check is not critical). */
export function databaseUp(checks: CheckResult[]): boolean {
  const availability = checks.find((c) => c.check === 'availability');
  return availability ? availability.status !== 'critical' : !checks.every((c) => c.status === 'unknown');
}

export async function createMonitorMetrics(labels: MetricsLabels): Promise<MonitorMetrics> {
  const { Gauge, Registry } = await import('prom-client');
  const registry = new Registry();
  const base = ['environment', 'database'] as const;
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]): Gauge<L | (typeof base)[number]> =>
    new Gauge({ name, help, labelNames: [...labelNames, ...base], registers: [registry] });
  const status = gauge('dbops_check_status', 'Status of each check of policies/monitoring.yaml: 0 ok, 1 warning, 2 critical, -1 not configured or unknown.', [
    'check',
  ]);
  const value = gauge('dbops_check_value', 'The value each check compares with its thresholds, in the unit of the unit label.', ['check', 'unit']);
  const up = gauge('dbops_up', 'Whether the database answered in the newest pass (1) or not (0).', []);
  const duration = gauge('dbops_monitor_duration_seconds', 'How long the newest pass over every check took.', []);
  const last = gauge('dbops_monitor_last_run_timestamp_seconds', 'When the newest pass started (Unix time).', []);
  const active = gauge('dbops_active_sessions', 'Client sessions running a statement (dbops aside), in the newest pass.', []);
  const xacts = gauge(
    'dbops_transactions_total',
    'Committed and rolled-back transactions of the database since the statistics reset (a counter, exposed as a gauge: use rate()).',
    [],
  );

  return {
    registry,
    contentType: registry.contentType,
    update(pass) {
      for (const g of [status, value, active, xacts]) g.reset();
      duration.set(labels, pass.seconds);
      last.set(labels, Math.floor(pass.at.getTime() / 1000));
      if (!pass.data) {
        up.set(labels, 0);
        return;
      }
      up.set(labels, databaseUp(pass.data.checks) ? 1 : 0);
      for (const c of pass.data.checks) {
        status.set({ ...labels, check: c.check }, STATUS_VALUE[c.status]);
        if (c.value !== null && c.unit !== null && Number.isFinite(c.value)) value.set({ ...labels, check: c.check, unit: c.unit }, c.value);
      }
      if (pass.data.load.activeSessions !== null) active.set(labels, pass.data.load.activeSessions);
      if (pass.data.load.xacts !== null) xacts.set(labels, pass.data.load.xacts);
    },
    text: () => registry.metrics(),
  };
}

/**
 * A pass at most once per `intervalMs`: a scrape within the interval of the newest pass gets its result,
 * and scrapes arriving while a pass runs share it. So 1,000 scrapes cost one pass per interval, not 1,000.
 */
export function throttled<T>(pass: () => Promise<T>, intervalMs: number, now: () => number = Date.now) {
  let newest: { startedAt: number; value: T } | undefined;
  let running: Promise<T> | undefined;
  let passes = 0;
  return {
    get passes() {
      return passes;
    },
    get(): Promise<T> {
      if (newest && now() - newest.startedAt < intervalMs) return Promise.resolve(newest.value);
      if (!running) {
        const startedAt = now();
        passes += 1;
        running = pass()
          .then((value) => {
            newest = { startedAt, value };
            return value;
          })
          .finally(() => {
            running = undefined;
          });
      }
      return running;
    },
  };
}
