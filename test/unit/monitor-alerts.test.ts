// The alert planner (pure) and the applier on fake channels: opens once, escalates once, damps flapping,
// closes once after resolve_after passes; routes by min_severity; muted runs send nothing but keep the state.
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../pipeline/core/logger.ts';
import {
  deliverAlerts,
  planAlerts,
  type AlertChannels,
  type AlertState,
  type AlertTransition,
  type CheckResult,
} from '../../pipeline/operations/monitoring/index.ts';
import type { Route } from '../../pipeline/policy/monitoring.ts';

const log = createLogger({ level: 'silent' });
const at = (i: number) => `2026-12-07T12:${String(i).padStart(2, '0')}:00.000Z`;
const result = (check: string, status: CheckResult['status'], subject?: string): CheckResult => ({
  check,
  status,
  summary: `${check} is ${status}`,
  value: null,
  unit: null,
  ...(subject ? { subject } : {}),
});

/** Runs the planner over a sequence of statuses of one check; returns every run's transitions and the last state. */
function sequence(statuses: Array<CheckResult['status'] | null>, resolveAfter = 2, check = 'availability') {
  let state: AlertState | undefined;
  const runs: AlertTransition[][] = [];
  statuses.forEach((s, i) => {
    const plan = planAlerts(state, s === null ? [] : [result(check, s)], { at: at(i), resolveAfter });
    // What the applier does when a route got the open: the close must then be delivered.
    for (const a of Object.values(plan.state.alerts)) if (a.notified.length === 0) a.notified.push('webhook:HOOK');
    state = { ...plan.state, closing: [] };
    runs.push(plan.transitions);
  });
  const kinds = runs.map((r) => r.map((t) => t.kind).join(',') || '-');
  return { runs, kinds, state: state! };
}

describe('planAlerts', () => {
  it('opens on the first failure, stays open without paging, closes after resolve_after passes in a row', () => {
    const { kinds, state } = sequence(['ok', 'critical', 'critical', 'ok', 'ok', 'ok']);
    expect(kinds).toEqual(['-', 'open', 'still-open', 'resolving', 'close', '-']);
    expect(state.alerts).toEqual({});
  });

  it('flapping crit/ok/crit/ok with resolve_after 2: exactly one open, no close', () => {
    const { runs, state } = sequence(['critical', 'ok', 'critical', 'ok']);
    const all = runs.flat();
    expect(all.filter((t) => t.kind === 'open')).toHaveLength(1);
    expect(all.filter((t) => t.kind === 'close')).toHaveLength(0);
    expect(state.alerts['availability']).toMatchObject({ passes: 1, severity: 'critical', openedAt: at(0) });
  });

  it('a failure during resolving resets the passes', () => {
    const { kinds } = sequence(['warning', 'ok', 'warning', 'ok', 'ok'], 2);
    expect(kinds).toEqual(['open', 'resolving', 'still-open', 'resolving', 'close']);
  });

  it('stopped/stopped/started with resolve_after 1: one open, one close', () => {
    const { kinds } = sequence(['critical', 'critical', 'ok'], 1);
    expect(kinds).toEqual(['open', 'still-open', 'close']);
  });

  it('escalates warning → critical once; stepping back to warning keeps the alert critical', () => {
    const { runs, kinds, state } = sequence(['warning', 'critical', 'warning', 'critical']);
    expect(kinds).toEqual(['open', 'escalate', 'still-open', 'still-open']);
    expect(runs[1]![0]).toMatchObject({ from: 'warning', alert: { severity: 'critical' } });
    expect(state.alerts['availability']!.severity).toBe('critical');
  });

  it('unknown and not-configured neither open nor close, nor count as a pass; an absent check leaves its alert', () => {
    expect(sequence(['unknown', 'not-configured', 'unknown']).kinds).toEqual(['-', '-', '-']);
    const { kinds, state } = sequence(['critical', 'ok', 'unknown', 'not-configured', null, 'ok']);
    expect(kinds).toEqual(['open', 'resolving', 'still-open', 'still-open', 'still-open', 'close']);
    expect(state.alerts).toEqual({});
  });

  it('folds subjects: the worst of them counts, and an unmeasured subject is not a pass', () => {
    const first = planAlerts(undefined, [result('replication_lag', 'ok', 'r1'), result('replication_lag', 'warning', 'r2')], { at: at(0), resolveAfter: 1 });
    expect(first.transitions).toMatchObject([{ kind: 'open', status: 'warning' }]);
    expect(first.state.alerts['replication_lag']!.summary).toContain('r2');
    const second = planAlerts(first.state, [result('replication_lag', 'ok', 'r1'), result('replication_lag', 'unknown', 'r2')], { at: at(1), resolveAfter: 1 });
    expect(second.transitions[0]!.kind).toBe('still-open');
  });

  it('a closed alert that paged waits in closing; one that never paged is forgotten', () => {
    const opened = planAlerts(undefined, [result('cpu', 'warning')], { at: at(0), resolveAfter: 1 });
    const unpaged = planAlerts(opened.state, [result('cpu', 'ok')], { at: at(1), resolveAfter: 1 });
    expect(unpaged.state.closing).toEqual([]);
    opened.state.alerts['cpu']!.notified.push('webhook:HOOK');
    const paged = planAlerts(opened.state, [result('cpu', 'ok')], { at: at(1), resolveAfter: 1 });
    expect(paged.state.closing).toMatchObject([{ check: 'cpu', closedAt: at(1) }]);
  });
});

/** Fake channels: every post and GitHub call recorded. */
function fakeChannels(env: Record<string, string>) {
  const posts: Array<{ url: string; body: unknown }> = [];
  const github: Array<{ op: string; number?: number; title?: string; body?: string; labels?: string[] }> = [];
  let next = 1;
  const channels: AlertChannels = {
    url: (name) => (env[name] ? { url: new URL(env[name]) } : {}),
    post: async (url, body) => {
      posts.push({ url: url.href, body });
      return { status: 'sent', attempts: 1, httpStatus: 200, reason: null };
    },
    github: () => ({
      repository: 'acme/astro',
      create: async (i) => {
        github.push({ op: 'create', ...i });
        return { number: next, url: `https://github.example/acme/astro/issues/${next++}` };
      },
      comment: async (number, body) => {
        github.push({ op: 'comment', number, body });
        return { url: 'x' };
      },
      close: async (number, body) => {
        github.push({ op: 'close', number, ...(body ? { body } : {}) });
      },
    }),
  };
  return { channels, posts, github };
}

const ROUTES: Route[] = [
  { type: 'webhook', url_env: 'HOOK', min_severity: 'warning' },
  { type: 'github-issue', labels: ['dbops-alert'], min_severity: 'critical' },
  { type: 'alertmanager', url_env: 'AM', min_severity: 'critical' },
];

describe('deliverAlerts', () => {
  const env = { HOOK: 'https://hooks.example/services/T/B/secret-token', AM: 'https://am.example:9093/' };
  const subject = { environment: 'production', database: 'astro', resolveAfter: 1 };

  async function runAll(statuses: Array<CheckResult['status']>, muted: Array<string | undefined> = []) {
    const fake = fakeChannels(env);
    let state: AlertState | undefined;
    const perRun: number[] = [];
    for (const [i, s] of statuses.entries()) {
      const plan = planAlerts(state, [result('connections', s)], { at: at(i), resolveAfter: 1 });
      const out = await deliverAlerts(plan, { routes: ROUTES, subject, muted: muted[i], at: at(i), channels: fake.channels, log });
      perRun.push(out.deliveries.length);
      state = out.state;
    }
    return { ...fake, state: state!, perRun };
  }

  it('warning → critical → ok: webhook open, escalate, close; issue and Alertmanager hear of it at critical', async () => {
    const { posts, github, state } = await runAll(['warning', 'critical', 'critical', 'ok']);
    const hook = posts.filter((p) => p.url.startsWith('https://hooks.example')).map((p) => (p.body as { text: string }).text);
    expect(hook).toHaveLength(3);
    expect(hook[0]).toMatch(/^dbops alert opened: connections is warning on production/);
    expect(hook[1]).toMatch(/escalated/);
    expect(hook[2]).toMatch(/closed/);
    // A critical-only issue route gets the open when the alert escalates, then the close.
    expect(github.map((g) => g.op)).toEqual(['create', 'close']);
    expect(github[0]).toMatchObject({ title: 'dbops alert: connections on production', labels: ['dbops-alert'] });
    expect(github[1]).toMatchObject({ number: 1 });
    // Alertmanager: re-posted each run while critical, endsAt on close.
    const am = posts.filter((p) => p.url === 'https://am.example:9093/api/v2/alerts').map((p) => (p.body as Array<Record<string, unknown>>)[0]!);
    expect(am).toHaveLength(3);
    expect(am[0]).toMatchObject({ labels: { alertname: 'dbops_connections', severity: 'critical', environment: 'production', database: 'astro' } });
    expect(am[0]!['endsAt']).toBeUndefined();
    expect(am[2]!['endsAt']).toBe(at(3));
    expect(state).toEqual({ version: 1, alerts: {}, closing: [] });
  });

  it('muted: nothing sent, the state recorded; the open goes out after the window, and a close waits for it', async () => {
    const w = 'the maintenance window of production is open';
    const a = await runAll(['critical', 'critical'], [w, undefined]);
    expect(a.perRun[0]).toBe(0);
    expect(a.github.map((g) => g.op)).toEqual(['create']);
    const b = await runAll(['critical', 'ok', 'ok'], [undefined, w, undefined]);
    expect(b.perRun).toEqual([3, 0, 3]);
    expect(b.github.map((g) => g.op)).toEqual(['create', 'close']);
    // Opened and closed inside the window: nobody ever hears of it.
    const c = await runAll(['critical', 'ok'], [w, w]);
    expect(c.posts).toHaveLength(0);
    expect(c.state.closing).toEqual([]);
  });

  it('never sends a webhook URL in a message; reports only the host', async () => {
    const fake = fakeChannels(env);
    const plan = planAlerts(undefined, [result('availability', 'critical')], { at: at(0), resolveAfter: 2 });
    const out = await deliverAlerts(plan, { routes: ROUTES, subject, at: at(0), channels: fake.channels, log });
    expect(out.deliveries.find((d) => d.route === 'webhook')).toMatchObject({ status: 'sent', target: 'hooks.example' });
    expect(JSON.stringify([fake.posts.map((p) => p.body), fake.github, out])).not.toContain('secret-token');
  });

  it('an unset URL or missing token is skipped and retried on the next run', async () => {
    const fake = fakeChannels({});
    const plan = planAlerts(undefined, [result('availability', 'critical')], { at: at(0), resolveAfter: 2 });
    const out = await deliverAlerts(plan, { routes: ROUTES.slice(0, 1), subject, at: at(0), channels: fake.channels, log });
    expect(out.deliveries).toMatchObject([{ route: 'webhook', status: 'skipped', reason: 'HOOK is not set' }]);
    expect(out.state.alerts['availability']!.notified).toEqual([]);
  });
});
