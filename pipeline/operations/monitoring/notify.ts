import type { Logger } from '../../core/logger.ts';
import { redact, redactDeep } from '../../core/redact.ts';
import { githubErrorReason, issueClientFromEnv, type IssueClient } from '../../infra/github/issues.ts';
import { postJson, webhookFromEnv, type PostOutcome } from '../../infra/notify/webhook.ts';
import { DBOPS_VERSION } from '../../core/version.ts';
import type { Route } from '../../policy/monitoring.ts';
import { AlertState, planAlerts, SEVERITY_RANK, type AlertPlan, type AlertTransition, type OpenAlert } from './alerts.ts';
import type { AlertDelivery, AlertsSummary, MonitorCheckData } from './model.ts';
import type { MonitorStore } from './store.ts';

/** The monitor store object holding the alert state (`alerts.json`). */
export const ALERTS_OBJECT = 'alerts';

/**
 * The applier of an alert plan: tells each route what changed. A route hears of an alert once its severity
 * reaches the route's min_severity (a warning that escalates is news to a critical-only route: it gets the
 * open), and only a route told of the open gets the escalation and the close. Webhook: one Slack-compatible
 * message per open, escalation and close. GitHub issue: created on open, commented on escalation, closed with a
 * comment on recovery. Alertmanager: the alert posted every run while open (Alertmanager resolves what is not
 * re-posted), with endsAt on close. Muted runs send nothing; the state remembers who still needs to hear what.
 * Every body is redacted; of a URL only the host is ever logged or reported.
 */

export interface AlertChannels {
  /** The URL a variable holds (registered as a secret), or why not. */
  url(name: string): { url?: URL; invalid?: string };
  post(url: URL, body: unknown): Promise<PostOutcome>;
  /** The issues of GITHUB_REPOSITORY (created once, on first use). */
  github(): IssueClient | { unavailable: string };
}

export function alertChannels(env: NodeJS.ProcessEnv, log: Logger, signal: AbortSignal): AlertChannels {
  let github: IssueClient | { unavailable: string } | undefined;
  return {
    url: (name) => webhookFromEnv(env, name),
    post: (url, body) => postJson(url, JSON.stringify(redactDeep(body)), { signal, log, userAgent: `dbops/${DBOPS_VERSION}` }),
    github: () => (github ??= issueClientFromEnv(env, log)),
  };
}

export interface AlertSubject {
  environment: string | null;
  /** The database's name (never its URL). */
  database: string;
  /** Where the run can be seen (the Actions run URL), when known. */
  runUrl?: string | undefined;
  resolveAfter: number;
}

export const routeKey = (route: Route): string => (route.type === 'github-issue' ? 'github-issue' : `${route.type}:${route.url_env}`);

const reaches = (alert: OpenAlert, route: Route) => SEVERITY_RANK[alert.severity] >= SEVERITY_RANK[route.min_severity];

type Action = AlertDelivery['action'];

const label = (s: AlertSubject) => s.environment ?? s.database;
export const issueTitle = (check: string, s: AlertSubject): string => `dbops alert: ${check} on ${label(s)}`;

function slackMessage(action: Action, alert: OpenAlert, s: AlertSubject, at: string) {
  const headline = {
    open: `dbops alert opened: ${alert.check} is ${alert.severity} on ${label(s)}`,
    escalate: `dbops alert escalated: ${alert.check} is now critical on ${label(s)}`,
    close: `dbops alert closed: ${alert.check} on ${label(s)} recovered`,
    firing: `dbops alert: ${alert.check} is ${alert.severity} on ${label(s)}`,
  }[action];
  const fields = [
    { title: 'Check', value: alert.check, short: true },
    { title: 'Severity', value: alert.severity, short: true },
    { title: 'Environment', value: s.environment ?? '(none: --database-url)', short: true },
    { title: 'Database', value: s.database, short: true },
    { title: action === 'close' ? 'Last failure' : 'Summary', value: alert.summary, short: false },
    { title: 'Opened', value: alert.openedAt, short: true },
    ...(action === 'close' ? [{ title: 'Closed', value: at, short: true }] : []),
    ...(s.runUrl ? [{ title: 'Run', value: s.runUrl, short: false }] : []),
  ];
  return {
    text: `${headline}: ${action === 'close' ? `passing ${alert.passes} runs in a row` : alert.summary}`,
    attachments: [{ color: action === 'close' ? 'good' : alert.severity === 'critical' ? 'danger' : 'warning', fields }],
  };
}

function issueBody(alert: OpenAlert, s: AlertSubject): string {
  return [
    `\`dbops monitor check\` opened this alert: **${alert.check}** is **${alert.severity}** on ${s.environment ? `environment **${s.environment}**` : `database **${s.database}**`}.`,
    '',
    `> ${alert.summary}`,
    '',
    `- Opened: ${alert.openedAt}`,
    `- Database: ${s.database}`,
    ...(s.runUrl ? [`- Run: ${s.runUrl}`] : []),
    '',
    `dbops comments here when the alert escalates and closes this issue after ${s.resolveAfter} passing run${s.resolveAfter === 1 ? '' : 's'} in a row.`,
    '',
    `<!-- dbops:alert:${alert.check} -->`,
  ].join('\n');
}

function alertmanagerAlert(alert: OpenAlert, s: AlertSubject, endsAt?: string) {
  return [
    {
      labels: { alertname: `dbops_${alert.check}`, severity: alert.severity, environment: s.environment ?? 'none', database: s.database },
      annotations: { summary: `${alert.check} is ${alert.severity} on ${label(s)}`, description: alert.summary },
      startsAt: alert.openedAt,
      ...(endsAt ? { endsAt } : {}),
      ...(s.runUrl ? { generatorURL: s.runUrl } : {}),
    },
  ];
}

export interface DeliverOptions {
  routes: Route[];
  subject: AlertSubject;
  /** Why alerts are muted (an open maintenance window), or undefined. */
  muted?: string | undefined;
  at: string;
  channels: AlertChannels;
  log: Logger;
}

/** Sends what the plan says to every route; returns the state to store (routes told, issue numbers) and each delivery. */
export async function deliverAlerts(plan: AlertPlan, options: DeliverOptions): Promise<{ state: AlertState; deliveries: AlertDelivery[] }> {
  const { routes, subject, at, channels, log } = options;
  if (options.muted !== undefined || routes.length === 0) return { state: plan.state, deliveries: [] };
  const deliveries: AlertDelivery[] = [];
  const record = (d: AlertDelivery) => {
    deliveries.push({ ...d, reason: d.reason === null ? null : redact(d.reason) });
    const line = `${d.route} ${d.action} of ${d.check}: ${d.status}${d.target ? ` (${d.target})` : ''}${d.reason ? `: ${redact(d.reason)}` : ''}`;
    if (d.status === 'failed') log.warn({ route: d.route, check: d.check, target: d.target }, line);
    else log.info({ route: d.route, check: d.check, target: d.target }, line);
  };

  /** Sends one action of one alert to one route; true when it arrived. */
  async function send(route: Route, action: Action, alert: OpenAlert): Promise<boolean> {
    const base = { route: route.type, check: alert.check, action } as const;
    if (route.type === 'github-issue') {
      const github = channels.github();
      if ('unavailable' in github) {
        record({ ...base, status: 'skipped', target: null, reason: github.unavailable });
        return false;
      }
      const issue = alert.handles.issue;
      try {
        if (action === 'open' || issue === undefined) {
          if (action === 'close') {
            record({ ...base, status: 'skipped', target: github.repository, reason: 'no issue was opened' });
            return true;
          }
          const created = await github.create({ title: issueTitle(alert.check, subject), body: redact(issueBody(alert, subject)), labels: route.labels });
          alert.handles = { ...alert.handles, issue: created.number };
          record({ ...base, action: 'open', status: 'sent', target: `${github.repository}#${created.number}`, reason: null });
        } else if (action === 'escalate') {
          await github.comment(issue, redact(`**${alert.check}** escalated to **critical** at ${at}.\n\n> ${alert.summary}`));
          record({ ...base, status: 'sent', target: `${github.repository}#${issue}`, reason: null });
        } else if (action === 'close') {
          await github.close(
            issue,
            redact(
              `Recovered: **${alert.check}** passed ${alert.passes} run${alert.passes === 1 ? '' : 's'} in a row (closed at ${at}). Last failure: ${alert.summary}`,
            ),
          );
          record({ ...base, status: 'sent', target: `${github.repository}#${issue}`, reason: null });
        }
        return true;
      } catch (e) {
        record({ ...base, status: 'failed', target: issue === undefined ? github.repository : `${github.repository}#${issue}`, reason: githubErrorReason(e) });
        return false;
      }
    }
    const { url, invalid } = channels.url(route.url_env);
    if (!url) {
      record({ ...base, status: invalid ? 'failed' : 'skipped', target: null, reason: invalid ?? `${route.url_env} is not set` });
      return false;
    }
    const body = route.type === 'webhook' ? slackMessage(action, alert, subject, at) : alertmanagerAlert(alert, subject, action === 'close' ? at : undefined);
    const target = route.type === 'alertmanager' ? new URL(`${url.href.replace(/\/+$/, '')}/api/v2/alerts`) : url;
    const out = await channels.post(target, body);
    record({ ...base, status: out.status, target: url.host, reason: out.reason });
    return out.status === 'sent';
  }

  const byCheck = new Map<string, AlertTransition>(plan.transitions.map((t) => [t.check, t]));
  const alerts: Record<string, OpenAlert> = {};
  for (const [check, open] of Object.entries(plan.state.alerts)) {
    const alert: OpenAlert = { ...open, notified: [...open.notified], handles: { ...open.handles } };
    const escalated = byCheck.get(check)?.kind === 'escalate';
    for (const route of routes.filter((r) => reaches(alert, r))) {
      const key = routeKey(route);
      const told = alert.notified.includes(key);
      let action: Action | undefined;
      if (!told) action = 'open';
      else if (escalated) action = 'escalate';
      else if (route.type === 'alertmanager') action = 'firing';
      else if (route.type === 'github-issue' && alert.handles.issue === undefined) action = 'open';
      if (!action) continue;
      const sent = await send(route, action, alert);
      if (sent && !told) alert.notified.push(key);
    }
    alerts[check] = alert;
  }
  const closing: OpenAlert[] = [];
  for (const closed of plan.state.closing) {
    const alert: OpenAlert = { ...closed, notified: [...closed.notified], handles: { ...closed.handles } };
    const pending: string[] = [];
    for (const key of alert.notified) {
      const route = routes.find((r) => routeKey(r) === key);
      if (!route) continue; // the route left the policy: nobody to tell
      if (!(await send(route, 'close', alert))) pending.push(key);
    }
    if (pending.length > 0) closing.push({ ...alert, notified: pending });
  }
  return { state: { version: 1, alerts, closing }, deliveries };
}

export interface MonitorAlertsOptions {
  store: MonitorStore;
  routes: Route[];
  resolveAfter: number;
  subject: Omit<AlertSubject, 'resolveAfter'>;
  /** Why alerts are muted (the maintenance window open now), or undefined. */
  muted?: string | undefined;
  /** Plan and report, send nothing, store nothing. */
  dryRun?: boolean;
  channels: AlertChannels;
  log: Logger;
}

/** The Actions run's URL from GITHUB_* variables, when this runs in one. */
export function runUrlOf(env: NodeJS.ProcessEnv): string | undefined {
  const { GITHUB_SERVER_URL: server, GITHUB_REPOSITORY: repository, GITHUB_RUN_ID: id } = env;
  return server && repository && id ? `${server.replace(/\/+$/, '')}/${repository}/actions/runs/${id}` : undefined;
}

/** One run's alerts: the state from the monitor store, the plan, the deliveries, the state written back. */
export async function monitorAlerts(data: MonitorCheckData, options: MonitorAlertsOptions): Promise<AlertsSummary> {
  const { store, log } = options;
  const raw = await store.read<unknown>(ALERTS_OBJECT);
  let previous: AlertState | undefined;
  if (raw !== undefined) {
    const parsed = AlertState.safeParse(raw);
    if (parsed.success) previous = parsed.data;
    else
      log.warn(`the alert state in ${store.description}${ALERTS_OBJECT}.json is unreadable (${parsed.error.issues[0]?.message ?? 'invalid'}): starting afresh`);
  }
  const plan = planAlerts(previous, data.checks, { at: data.at, resolveAfter: options.resolveAfter });
  const subject: AlertSubject = { ...options.subject, resolveAfter: options.resolveAfter };
  const muted = options.dryRun ? 'dry run' : options.muted;
  const out = await deliverAlerts(plan, { routes: options.routes, subject, muted, at: data.at, channels: options.channels, log });
  if (!options.dryRun) await store.write(ALERTS_OBJECT, out.state);
  const of = (kind: AlertTransition['kind']) => plan.transitions.filter((t) => t.kind === kind).map((t) => t.check);
  return {
    opened: of('open'),
    escalated: of('escalate'),
    closed: of('close'),
    open: Object.keys(out.state.alerts).sort(),
    muted: options.muted !== undefined,
    ...(options.muted !== undefined ? { mutedReason: options.muted } : {}),
    ...(options.dryRun ? { dryRun: true } : {}),
    deliveries: out.deliveries,
    store: store.description,
  };
}
