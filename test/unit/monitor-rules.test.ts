// `dbops monitor rules`: the generated Prometheus rules pass `promtool check rules`, and `promtool test rules`
// proves the alerts fire on the statuses `dbops monitor serve` exposes. Also the metrics registry and the
// pass throttle of `monitor serve`, without a database.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { createMonitorMetrics, prometheusRules, rulesYaml, throttled, type MonitorCheckData } from '../../pipeline/operations/monitoring/index.ts';
import { checksFor, MonitoringPolicy } from '../../pipeline/policy/monitoring.ts';
import { dbops } from '../helpers/cli.ts';
import { sample } from '../helpers/metrics.ts';

const exec = promisify(execFile);
const PROMTOOL = process.env['PROMTOOL'] ?? 'promtool';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dbops-monitor-rules-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const policy = MonitoringPolicy.parse({
  version: 1,
  checks: { cpu: { enabled: false } },
  environments: { production: { checks: { connections: { warning: 60, critical: 80 } } } },
});

async function promtool(args: string[]): Promise<{ code: number; out: string }> {
  return exec(PROMTOOL, args, { cwd: dir }).then(
    (r) => ({ code: 0, out: r.stdout + r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
  );
}

describe('prometheusRules', () => {
  it('has one alert per enabled check and severity, DbopsDown, and the thresholds of the environment', () => {
    const rules = prometheusRules(checksFor(policy, 'production'), 'production');
    const all = rules.groups[0]!.rules;
    const names = all.map((r) => r.alert);
    expect(names).toContain('DbopsDown');
    expect(names).toContain('DbopsConnectionsCritical');
    expect(names).toContain('DbopsConnectionsWarning');
    expect(names).toContain('DbopsAvailabilityCritical');
    expect(names).not.toContain('DbopsAvailabilityWarning');
    expect(names).not.toContain('DbopsChecksumFailuresWarning');
    expect(names.some((n) => n.startsWith('DbopsCpu'))).toBe(false);
    expect(new Set(names).size).toBe(names.length);
    const critical = all.find((r) => r.alert === 'DbopsConnectionsCritical')!;
    expect(critical.expr).toBe('dbops_check_status{check="connections",environment="production"} >= 2');
    expect(critical.labels.severity).toBe('critical');
    expect(critical.annotations.description).toContain('80 %');
    expect(all.find((r) => r.alert === 'DbopsConnectionsWarning')!.expr).toBe('dbops_check_status{check="connections",environment="production"} == 1');
    expect(all.find((r) => r.alert === 'DbopsDown')!.expr).toBe('dbops_up{environment="production"} == 0');
    // Without an environment: the file-wide thresholds, every series.
    const plain = prometheusRules(checksFor(policy, null), null).groups[0]!.rules;
    expect(plain.find((r) => r.alert === 'DbopsConnectionsCritical')!.expr).toBe('dbops_check_status{check="connections"} >= 2');
    expect(plain.find((r) => r.alert === 'DbopsConnectionsCritical')!.annotations.description).toContain('90 %');
  });

  it('passes promtool check rules, with and without an environment', async () => {
    for (const env of [null, 'production']) {
      const file = join(dir, `rules-${env ?? 'all'}.yml`);
      await writeFile(file, rulesYaml(prometheusRules(checksFor(policy, env), env), env));
      const r = await promtool(['check', 'rules', file]);
      expect(r.out, r.out).toContain('SUCCESS');
      expect(r.code).toBe(0);
    }
  });

  it('promtool test rules: a critical status fires the critical alert after its for:, a warning the warning one, dbops_up 0 DbopsDown', async () => {
    const rules = prometheusRules(checksFor(policy, 'production'), 'production');
    await writeFile(join(dir, 'rules.yml'), rulesYaml(rules, 'production'));
    const rule = (name: string) => rules.groups[0]!.rules.find((r) => r.alert === name)!;
    const series = { environment: 'production', database: 'app' };
    const expanded = (name: string) => {
      const a = rule(name).annotations;
      return { summary: a.summary.replace('{{ $labels.database }}', 'app'), description: a.description };
    };
    const tests = {
      rule_files: ['rules.yml'],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: [
            { series: 'dbops_check_status{check="connections",environment="production",database="app"}', values: '2x15' },
            { series: 'dbops_check_status{check="disk",environment="production",database="app"}', values: '1x15' },
            { series: 'dbops_check_status{check="wraparound",environment="production",database="app"}', values: '0x15' },
            // Another environment's series: these rules do not see it.
            { series: 'dbops_check_status{check="connections",environment="staging",database="app"}', values: '2x15' },
            { series: 'dbops_up{environment="production",database="app"}', values: '0x15' },
          ],
          alert_rule_test: [
            { eval_time: '3m', alertname: 'DbopsConnectionsCritical', exp_alerts: [] },
            {
              eval_time: '6m',
              alertname: 'DbopsConnectionsCritical',
              exp_alerts: [{ exp_labels: { severity: 'critical', check: 'connections', ...series }, exp_annotations: expanded('DbopsConnectionsCritical') }],
            },
            { eval_time: '6m', alertname: 'DbopsConnectionsWarning', exp_alerts: [] },
            {
              eval_time: '11m',
              alertname: 'DbopsDiskWarning',
              exp_alerts: [{ exp_labels: { severity: 'warning', check: 'disk', ...series }, exp_annotations: expanded('DbopsDiskWarning') }],
            },
            { eval_time: '11m', alertname: 'DbopsWraparoundCritical', exp_alerts: [] },
            {
              eval_time: '2m',
              alertname: 'DbopsDown',
              exp_alerts: [{ exp_labels: { severity: 'critical', ...series }, exp_annotations: expanded('DbopsDown') }],
            },
          ],
        },
      ],
    };
    await writeFile(join(dir, 'tests.yml'), stringify(tests));
    const r = await promtool(['test', 'rules', 'tests.yml']);
    expect(r.out, r.out).toContain('SUCCESS');
    expect(r.code).toBe(0);
  });

  it('dbops monitor rules prints the same YAML on stdout', async () => {
    await mkdir(join(dir, 'empty'));
    const r = await dbops(['monitor', 'rules', '--policies-dir', join(dir, 'empty')]);
    expect(r.code, r.all).toBe(0);
    const doc = parse(r.stdout) as { groups: Array<{ rules: Array<{ alert: string }> }> };
    expect(doc.groups[0]!.rules.map((x) => x.alert)).toEqual(
      prometheusRules(checksFor(MonitoringPolicy.parse({ version: 1 }), null), null).groups[0]!.rules.map((x) => x.alert),
    );
  });
});

describe('monitor serve metrics', () => {
  const data = (connections: 'ok' | 'critical'): MonitorCheckData => ({
    database: 'postgresql://app:****@db/app',
    environment: 'production',
    at: '2026-01-01T00:00:00.000Z',
    checks: [
      { check: 'availability', status: 'ok', summary: 'app answers', value: 1, unit: 'count' },
      { check: 'connections', status: connections, summary: '…', value: connections === 'ok' ? 12.5 : 95, unit: 'percent' },
      { check: 'database_size', status: 'not-configured', summary: 'no capacity', value: 1024, unit: 'bytes' },
      { check: 'backup_age', status: 'unknown', summary: 'not measured', value: null, unit: null },
    ],
    load: { at: '2026-01-01T00:00:00.000Z', xacts: 1234, activeSessions: 3 },
    counts: { ok: 2, warning: 0, critical: 0, notConfigured: 1, unknown: 1 },
  });

  it('exposes status, value, up, duration and load with the database name as label', async () => {
    const m = await createMonitorMetrics({ environment: 'production', database: 'app' });
    m.update({ data: data('critical'), seconds: 0.25, at: new Date(1_700_000_000_000) });
    const text = await m.text();
    const l = { environment: 'production', database: 'app' };
    expect(sample(text, 'dbops_check_status', { check: 'availability', ...l })).toBe(0);
    expect(sample(text, 'dbops_check_status', { check: 'connections', ...l })).toBe(2);
    expect(sample(text, 'dbops_check_status', { check: 'database_size', ...l })).toBe(-1);
    expect(sample(text, 'dbops_check_status', { check: 'backup_age', ...l })).toBe(-1);
    expect(sample(text, 'dbops_check_value', { check: 'connections', unit: 'percent', ...l })).toBe(95);
    expect(text).not.toMatch(/dbops_check_value\{[^}]*check="backup_age"/);
    expect(sample(text, 'dbops_up', l)).toBe(1);
    expect(sample(text, 'dbops_monitor_duration_seconds', l)).toBe(0.25);
    expect(sample(text, 'dbops_active_sessions', l)).toBe(3);
    expect(sample(text, 'dbops_transactions_total', l)).toBe(1234);
    expect(text).not.toContain('****');
    expect(m.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    m.update({ error: 'boom', seconds: 0.1, at: new Date() });
    const after = await m.text();
    expect(sample(after, 'dbops_up', l)).toBe(0);
    expect(after).not.toContain('dbops_check_status{');
  });

  it('throttled: one pass per interval, concurrent callers share the running one', async () => {
    let now = 0;
    let calls = 0;
    const t = throttled(
      async () => ++calls,
      15_000,
      () => now,
    );
    expect(await Promise.all([t.get(), t.get(), t.get()])).toEqual([1, 1, 1]);
    now = 14_999;
    expect(await t.get()).toBe(1);
    now = 15_000;
    expect(await t.get()).toBe(2);
    expect(t.passes).toBe(2);
  });
});
