// `dbops monitor check`'s alerts against a cluster of its own, a loopback webhook, a loopback Alertmanager and
// the loopback GitHub API, with a bare --database-url (the state in the local evidence of DBOPS_LOCAL_DIR):
// a stopped server opens ONE alert (one webhook message, one issue, Alertmanager re-posted while it lasts)
// and the started server closes it once; a server that flaps with resolve_after 2 pages once and never
// closes; no password, webhook URL or token appears in any output, report, issue or message.
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { createLogger } from '../../pipeline/core/logger.ts';
import { clusterUrl, createCluster, destroyCluster, startCluster, stopCluster, type Cluster } from '../../pipeline/infra/pg/cluster.ts';
import type { MonitorCheckData } from '../../pipeline/operations/monitoring/index.ts';
import { dbops, testEnv } from '../helpers/cli.ts';
import { startGitHubServer, type GitHubServer } from '../helpers/github-server.ts';
import { tempDir } from '../helpers/migrations.ts';
import { startWebhook, type Hook } from '../helpers/webhook.ts';

const log = createLogger({ level: 'warn' });
const TOKEN = 'ghs_monitorAlertsTestToken0123456789';

let cluster: Cluster;
let home = '';
let url = '';
let hook: Hook;
let am: Hook;
let github: GitHubServer;
const outputs: string[] = [];

/** A policies folder with the routes, and a local folder of its own (the alert state). */
async function setup(name: string, resolveAfter: number) {
  const dir = join(home, name);
  await mkdir(join(dir, 'policies'), { recursive: true });
  await writeFile(
    join(dir, 'policies', 'monitoring.yaml'),
    YAML.stringify({
      version: 1,
      // The host's CPU, memory and disk depend on what else this machine runs: not judged here.
      checks: { cpu: { enabled: false }, memory: { enabled: false }, disk: { enabled: false } },
      routes: [
        { type: 'webhook', url_env: 'DBOPS_MONITOR_WEBHOOK', min_severity: 'critical' },
        { type: 'github-issue', labels: ['dbops-alert', 'database'], min_severity: 'critical' },
        { type: 'alertmanager', url_env: 'DBOPS_ALERTMANAGER_URL', min_severity: 'critical' },
      ],
      alerts: { resolve_after: resolveAfter },
    }),
  );
  const env = testEnv({
    DBOPS_LOCAL_DIR: join(dir, 'local'),
    DBOPS_MONITOR_WEBHOOK: hook.url,
    DBOPS_ALERTMANAGER_URL: am.url,
    GITHUB_TOKEN: TOKEN,
    GITHUB_REPOSITORY: 'acme/astro',
    GITHUB_API_URL: github.url,
  });
  return async (): Promise<{ code: number; data: MonitorCheckData }> => {
    const run = await dbops(
      ['monitor', 'check', '--database-url', url, '--policies-dir', join(dir, 'policies'), '--reports-dir', join(dir, 'reports'), '--json'],
      env,
    );
    outputs.push(run.all, await readFile(join(dir, 'reports', 'monitor-check.json'), 'utf8'));
    return { code: run.code, data: (JSON.parse(run.stdout) as { data: MonitorCheckData }).data };
  };
}

const availability = (h: Hook) => h.requests.filter((r) => JSON.stringify(r.body).includes('availability'));

beforeAll(async () => {
  home = await tempDir('dbops-monitor-alerts-');
  await chmod(home, 0o755);
  cluster = await createCluster({ dir: join(home, 'cluster'), log, settings: { fsync: 'off' } });
  await startCluster(cluster, log);
  url = clusterUrl(cluster, 'postgres');
  hook = await startWebhook();
  am = await startWebhook();
  github = await startGitHubServer('acme', 'astro');
}, 120_000);

afterAll(async () => {
  if (cluster) await destroyCluster(cluster, log);
  await Promise.all([hook?.close(), am?.close(), github?.close()]);
});

describe('monitor check alerts', () => {
  it('stopped, stopped, started (resolve_after 1): one alert opened, one webhook message, one issue; closed once', async () => {
    const check = await setup('outage', 1);
    await stopCluster(cluster, log);
    const first = await check();
    expect(first.code).toBe(1);
    expect(first.data.alerts).toMatchObject({ opened: ['availability'], closed: [], open: ['availability'], muted: false });
    expect(first.data.alerts!.deliveries.filter((d) => d.check === 'availability').map((d) => [d.route, d.action, d.status])).toEqual([
      ['webhook', 'open', 'sent'],
      ['github-issue', 'open', 'sent'],
      ['alertmanager', 'open', 'sent'],
    ]);
    const second = await check();
    expect(second.code).toBe(1);
    expect(second.data.alerts).toMatchObject({ opened: [], closed: [], open: ['availability'] });
    expect(availability(hook).filter((r) => r.path.startsWith('/services/'))).toHaveLength(1);
    expect(github.issues.size).toBe(1);
    const issue = github.issues.get(1)!;
    expect(issue).toMatchObject({ title: 'dbops alert: availability on postgres', labels: ['dbops-alert', 'database'], state: 'open' });
    expect(issue.body).toContain('availability');
    // Alertmanager hears of the alert every run while it lasts, with its labels.
    expect(availability(am)).toHaveLength(2);
    expect(am.requests[0]!.path).toBe(`${new URL(am.url).pathname}/api/v2/alerts`);
    expect((am.requests[0]!.body as Array<Record<string, unknown>>)[0]).toMatchObject({
      labels: { alertname: 'dbops_availability', severity: 'critical', environment: 'none', database: 'postgres' },
    });

    await startCluster(cluster, log);
    const third = await check();
    expect(third.code, JSON.stringify(third.data.checks.filter((c) => c.status === 'critical'))).toBe(0);
    expect(third.data.alerts).toMatchObject({ opened: [], closed: ['availability'], open: [] });
    const messages = availability(hook).map((r) => (r.body as { text: string }).text);
    expect(messages).toHaveLength(2);
    expect(messages[0]).toMatch(/^dbops alert opened: availability is critical on postgres/);
    expect(messages[1]).toMatch(/^dbops alert closed: availability on postgres recovered/);
    expect(issue.state).toBe('closed');
    expect(github.comments.get(1)?.map((c) => c.body)).toEqual([expect.stringMatching(/^Recovered: \*\*availability\*\*/)]);
    const last = (availability(am).at(-1)!.body as Array<Record<string, unknown>>)[0]!;
    expect(last['endsAt']).toBe(third.data.at);

    // A fourth run: nothing new.
    const fourth = await check();
    expect(fourth.data.alerts).toMatchObject({ opened: [], closed: [], open: [], deliveries: [] });
    expect(availability(hook)).toHaveLength(2);
  }, 180_000);

  it('a server that flaps (stopped/started/stopped/started) with resolve_after 2 pages once and stays one open alert', async () => {
    const check = await setup('flapping', 2);
    const hookBefore = availability(hook).length;
    const issuesBefore = github.issues.size;
    const opened: string[] = [];
    const closed: string[] = [];
    for (const stopped of [true, false, true, false]) {
      if (stopped) await stopCluster(cluster, log);
      else await startCluster(cluster, log);
      const { data } = await check();
      opened.push(...data.alerts!.opened);
      closed.push(...data.alerts!.closed);
      expect(data.alerts!.open).toEqual(['availability']);
    }
    expect(opened).toEqual(['availability']);
    expect(closed).toEqual([]);
    expect(availability(hook).length - hookBefore).toBe(1);
    expect(github.issues.size - issuesBefore).toBe(1);
    // The state lives in the local evidence, where the next run finds it.
    const state = JSON.parse(await readFile(join(home, 'flapping', 'local', 'evidence', 'local', 'monitoring', 'postgres', 'alerts.json'), 'utf8'));
    expect(state.alerts.availability).toMatchObject({ severity: 'critical', passes: 1, handles: { issue: issuesBefore + 1 } });
  }, 180_000);

  it('no password, webhook URL or token in any output, report, issue body, comment or message', () => {
    const issueText = JSON.stringify([...github.issues.values(), ...github.comments.values()]);
    const sent = JSON.stringify([hook.requests.map((r) => r.body), am.requests.map((r) => r.body)]);
    for (const text of [...outputs, issueText, sent]) {
      expect(text).not.toContain(cluster.state.password);
      expect(text).not.toContain(encodeURIComponent(cluster.state.password));
      expect(text).not.toContain(hook.token);
      expect(text).not.toContain(am.token);
      expect(text).not.toContain(TOKEN);
    }
    expect(outputs.length).toBeGreaterThan(0);
  });
});
