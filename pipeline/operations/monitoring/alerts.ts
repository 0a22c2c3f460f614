import { z } from 'zod';
import type { CheckResult } from './model.ts';

/**
 * Alert state and its transitions, pure: the previous state (what the last run left in the monitor store) and
 * this run's checks in, the next state and what changed out. One alert per check (its subjects folded into
 * it: the worst of them counts). An alert opens on the first warning or critical, escalates once from warning
 * to critical, stays open while the check fails, and closes only after `resolveAfter` passing runs in a row,
 * so a check that flaps stays one alert instead of paging every run. `unknown` (not measured: an unreachable
 * database is availability's critical) and `not-configured` neither open nor close anything, nor count as a pass.
 */

export const AlertSeverity = z.enum(['warning', 'critical']);
export type AlertSeverity = z.output<typeof AlertSeverity>;

export const SEVERITY_RANK: Record<AlertSeverity, number> = { warning: 1, critical: 2 };

export const OpenAlert = z.object({
  check: z.string(),
  /** The highest severity while open (an alert escalates, it does not step down until it closes). */
  severity: AlertSeverity,
  openedAt: z.string(),
  updatedAt: z.string(),
  /** The newest failing summary. */
  summary: z.string(),
  /** Passing runs in a row since the last failing one. */
  passes: z.number().int().min(0),
  /** Routes (routeKey) told that the alert is open: only they get the escalation and the close. */
  notified: z.array(z.string()).default([]),
  /** What routes need to find the alert again: the GitHub issue number. */
  handles: z.object({ issue: z.number().int().optional() }).default({}),
  /** When it closed (alerts waiting in `closing` only). */
  closedAt: z.string().optional(),
});
export type OpenAlert = z.output<typeof OpenAlert>;

export const AlertState = z.object({
  version: z.literal(1),
  /** Open alerts by check name. */
  alerts: z.record(z.string(), OpenAlert),
  /** Closed alerts whose close the routes told of the open have not received yet (closed during a muted run). */
  closing: z.array(OpenAlert).default([]),
});
export type AlertState = z.output<typeof AlertState>;

export const EMPTY_ALERT_STATE: AlertState = { version: 1, alerts: {}, closing: [] };

export type TransitionKind = 'open' | 'escalate' | 'still-open' | 'resolving' | 'close';

export interface AlertTransition {
  kind: TransitionKind;
  check: string;
  /** This run's status of the check (folded over its subjects). */
  status: CheckResult['status'] | 'absent';
  /** The alert after the transition (for `close`: as it was when it closed). */
  alert: OpenAlert;
  /** For `escalate`: the severity before. */
  from?: AlertSeverity;
}

export interface AlertPlan {
  state: AlertState;
  transitions: AlertTransition[];
}

const FOLD_ORDER: Array<CheckResult['status']> = ['critical', 'warning', 'unknown', 'ok', 'not-configured'];

/** One status and summary per check: the worst of its subjects (unknown beats ok: a subject not measured cannot pass). */
export function foldChecks(checks: readonly CheckResult[]): Map<string, { status: CheckResult['status']; summary: string }> {
  const by = new Map<string, CheckResult[]>();
  for (const c of checks) by.set(c.check, [...(by.get(c.check) ?? []), c]);
  const out = new Map<string, { status: CheckResult['status']; summary: string }>();
  for (const [check, results] of by) {
    const status = FOLD_ORDER.find((s) => results.some((r) => r.status === s)) ?? 'not-configured';
    const summary = results
      .filter((r) => r.status === status)
      .map((r) => (r.subject && !r.summary.includes(r.subject) ? `${r.subject}: ${r.summary}` : r.summary))
      .join('; ');
    out.set(check, { status, summary });
  }
  return out;
}

export function planAlerts(previous: AlertState | undefined, checks: readonly CheckResult[], options: { at: string; resolveAfter: number }): AlertPlan {
  const { at, resolveAfter } = options;
  const prior = previous ?? EMPTY_ALERT_STATE;
  const alerts: Record<string, OpenAlert> = {};
  const closing = [...prior.closing];
  const transitions: AlertTransition[] = [];
  const folded = foldChecks(checks);
  const names = [...new Set([...Object.keys(prior.alerts), ...folded.keys()])];
  for (const check of names) {
    const open = prior.alerts[check];
    const now = folded.get(check);
    const status = now?.status ?? 'absent';
    if (status === 'warning' || status === 'critical') {
      if (!open) {
        const alert: OpenAlert = { check, severity: status, openedAt: at, updatedAt: at, summary: now!.summary, passes: 0, notified: [], handles: {} };
        alerts[check] = alert;
        transitions.push({ kind: 'open', check, status, alert });
        continue;
      }
      const escalates = SEVERITY_RANK[status] > SEVERITY_RANK[open.severity];
      const alert: OpenAlert = { ...open, severity: escalates ? status : open.severity, updatedAt: at, summary: now!.summary, passes: 0 };
      alerts[check] = alert;
      transitions.push(escalates ? { kind: 'escalate', check, status, alert, from: open.severity } : { kind: 'still-open', check, status, alert });
      continue;
    }
    if (!open) continue;
    if (status === 'ok') {
      const passes = open.passes + 1;
      if (passes >= resolveAfter) {
        const alert: OpenAlert = { ...open, passes, updatedAt: at, closedAt: at };
        transitions.push({ kind: 'close', check, status, alert });
        if (alert.notified.length > 0) closing.push(alert);
        continue;
      }
      const alert: OpenAlert = { ...open, passes, updatedAt: at };
      alerts[check] = alert;
      transitions.push({ kind: 'resolving', check, status, alert });
      continue;
    }
    // unknown, not-configured, or no longer checked: the alert stays as it is.
    alerts[check] = open;
    transitions.push({ kind: 'still-open', check, status, alert: open });
  }
  return { state: { version: 1, alerts, closing }, transitions };
}
