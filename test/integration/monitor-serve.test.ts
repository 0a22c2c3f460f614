// `dbops monitor serve` as its own process against a test database: GET /metrics in Prometheus' text format
// (exact gauges for checks whose value is known), no password anywhere, /healthz, the pass throttle, and
// SIGTERM stopping it with exit 0.
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { spawnDbops, testEnv } from '../helpers/cli.ts';
import { serverPassword, useDatabase } from '../helpers/db.ts';
import { waitFor } from '../helpers/wait.ts';
import { sample } from '../helpers/metrics.ts';

const db = useDatabase('monitor_serve');

describe('dbops monitor serve', () => {
  it('serves the checks as metrics, throttles passes, and stops on SIGTERM with exit 0', async () => {
    const { name, url } = db();
    const held = await Promise.all(
      [1, 2, 3].map(async () => {
        const c = new pg.Client({ connectionString: url });
        await c.connect();
        return c;
      }),
    );
    const server = spawnDbops(['monitor', 'serve', '--database-url', url, '--listen', '127.0.0.1:0', '--interval', '1h'], testEnv());
    try {
      let metricsUrl = '';
      await waitFor('monitor serve to listen', async () => {
        const m = /serving (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(server.output());
        if (m) metricsUrl = m[1]!;
        if (server.child.exitCode !== null) throw new Error(`monitor serve exited early:\n${server.output()}`);
        return m !== null;
      });
      const res = await fetch(metricsUrl);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      const l = { environment: '', database: name };
      expect(sample(text, 'dbops_up', l)).toBe(1);
      expect(sample(text, 'dbops_check_status', { check: 'availability', ...l })).toBe(0);
      expect(sample(text, 'dbops_check_value', { check: 'availability', unit: 'count', ...l })).toBe(1);
      // Not configured without an environment: -1.
      expect(sample(text, 'dbops_check_status', { check: 'backup_age', ...l })).toBe(-1);
      // Connections: client sessions of the whole server (the 3 held here, and whatever else runs) over
      // max_connections minus the reserved ones, as a percentage: a whole number of sessions, at least 3.
      const [settings] = await db().query<{ max: number; reserved: number }>(
        `SELECT current_setting('max_connections')::int AS max,
                current_setting('superuser_reserved_connections')::int + coalesce(current_setting('reserved_connections', true)::int, 0) AS reserved`,
      );
      const usable = settings!.max - settings!.reserved;
      const connections = sample(text, 'dbops_check_value', { check: 'connections', unit: 'percent', ...l })!;
      const sessions = (connections * usable) / 100;
      expect(sessions).toBeCloseTo(Math.round(sessions), 6);
      expect(Math.round(sessions)).toBeGreaterThanOrEqual(3);
      expect(sample(text, 'dbops_check_status', { check: 'connections', ...l })).toBe(0);
      expect(sample(text, 'dbops_check_status', { check: 'checksum_failures', ...l })).toBeDefined();
      expect(sample(text, 'dbops_monitor_duration_seconds', l)).toBeGreaterThan(0);
      expect(sample(text, 'dbops_transactions_total', l)).toBeGreaterThan(0);
      expect(sample(text, 'dbops_active_sessions', l)).toBeGreaterThanOrEqual(0);
      expect(text).not.toContain(serverPassword());
      expect(text).not.toContain('postgresql://');

      // Within --interval every scrape is the same pass.
      const last = sample(text, 'dbops_monitor_last_run_timestamp_seconds', l);
      for (let i = 0; i < 20; i++) {
        const again = await (await fetch(metricsUrl)).text();
        expect(sample(again, 'dbops_monitor_last_run_timestamp_seconds', l)).toBe(last);
      }
      const health = await fetch(metricsUrl.replace('/metrics', '/healthz'));
      expect(health.status).toBe(200);
      expect(await health.text()).toBe('ok\n');
      expect((await fetch(metricsUrl.replace('/metrics', '/nope'))).status).toBe(404);

      server.child.kill('SIGTERM');
      const done = await server.done;
      expect(done.code, done.all).toBe(0);
      expect(done.stdout).toMatch(/stopped after 21 scrapes and 1 pass over/);
      expect(done.all).not.toContain(serverPassword());
    } finally {
      if (server.child.exitCode === null) server.child.kill('SIGKILL');
      await Promise.all(held.map((c) => c.end().catch(() => undefined)));
    }
  });
});
