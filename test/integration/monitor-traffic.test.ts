// The weekly traffic profile end to end: `dbops monitor check --environment` records its load sample into
// the monitor store beside the evidence; a profile of recorded samples there makes `dbops monitor traffic`
// propose the quiet hours; and `dbops gate` with traffic.max_tps refuses under a generated load (a
// background loop of small transactions), naming the next quiet hour, and passes once the database is idle.
import { spawn } from 'node:child_process';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../pipeline/core/logger.ts';
import { openEvidence } from '../../pipeline/evidence/index.ts';
import {
  emptyProfile,
  measureLoad,
  monitorStore,
  nextQuietHour,
  recordSample,
  type MonitorStore,
  type TrafficProfile,
} from '../../pipeline/operations/monitoring/index.ts';
import type { GateData } from '../../pipeline/evidence/records.ts';
import { loadPolicies } from '../../pipeline/policy/load.ts';
import { dbops, ROOT } from '../helpers/cli.ts';
import { databasePerTest, type TestDb } from '../helpers/db.ts';
import { deployFixture, type DeployFixture } from '../helpers/environments.ts';

const fresh = databasePerTest('traffic');
const M1 = '20260101000000_ledger';

async function setup(traffic: Record<string, unknown> = {}): Promise<{ fx: DeployFixture; db: TestDb; store: MonitorStore }> {
  const db = await fresh();
  const fx = await deployFixture({
    urls: { production: db.url },
    environments: { production: { approvals: 0, backup: { required: false }, traffic } },
    migrations: { [M1]: 'CREATE TABLE "Ledger"(id int PRIMARY KEY);\n' },
    rollbacks: { [M1]: 'DROP TABLE "Ledger";\n' },
  });
  const policies = await loadPolicies(fx.policiesDir, ['backups', 'environments']);
  const evidence = openEvidence({ backups: policies.backups.value, environments: policies.environments.value }, 'production', fx.env, silentLogger());
  return { fx, db, store: monitorStore(evidence, db.name) };
}

/** Two weeks of samples every 10 minutes: 02:00–05:00 UTC 1 TPS, 22:00–02:00 and 05:00–07:00 30 TPS, else 300. */
function twoWeeks(): TrafficProfile {
  const tpsAt = (at: Date) => {
    const h = at.getUTCHours();
    return h >= 2 && h < 5 ? 1 : h >= 22 || h < 7 ? 30 : 300;
  };
  const start = Date.parse('2026-01-05T00:00:00Z');
  let profile = emptyProfile('UTC');
  let xacts = 0;
  for (let t = start; t < start + 14 * 86_400_000; t += 600_000) {
    if (t > start) xacts += tpsAt(new Date(t - 300_000)) * 600;
    profile = recordSample(profile, profile.last, { at: new Date(t).toISOString(), xacts, activeSessions: tpsAt(new Date(t)) > 100 ? 6 : 1 });
  }
  return profile;
}

/**
 * A background load: a process of its own (the gate runs in this one) whose clients loop on small
 * transactions until stopped. They write (a temporary table each): PostgreSQL 15 publishes a session's
 * transaction counts with its table statistics, so transactions that touch no table show late.
 */
async function generateLoad(url: string, clients = 4): Promise<{ stop(): Promise<void> }> {
  const script = `const pg = require('pg');
(async () => {
  const cs = [];
  for (let i = 0; i < ${clients}; i++) { const c = new pg.Client({ connectionString: process.argv[1] }); await c.connect(); await c.query('CREATE TEMP TABLE load (x int)'); cs.push(c); }
  process.stdout.write('ready\\n');
  for (;;) await Promise.all(cs.map((c) => c.query('INSERT INTO load VALUES (1)')));
})();`;
  const child = spawn(process.execPath, ['-e', script, url], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    child.on('exit', (code) => reject(new Error(`the load generator exited (${code})`)));
  });
  return {
    async stop() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

let load: { stop(): Promise<void> } | null = null;
afterEach(async () => {
  await load?.stop();
  load = null;
});

async function gate(fx: DeployFixture): Promise<{ code: number; all: string; data: GateData }> {
  const run = await dbops(['gate', '--environment', 'production', ...fx.flags, '--json'], fx.env);
  const parsed = JSON.parse(run.stdout) as { data?: GateData };
  if (!parsed.data) throw new Error(`gate failed: ${run.all}`);
  return { code: run.code, all: run.all, data: parsed.data };
}

describe('dbops monitor traffic', () => {
  it('monitor check records its load sample; a recorded profile proposes the quiet hours', async () => {
    const { fx, store } = await setup();
    const empty = await dbops(['monitor', 'traffic', '--environment', 'production', '--policies-dir', fx.policiesDir], fx.env);
    expect(empty.code, empty.all).toBe(0);
    expect(empty.stdout).toContain('No sample recorded yet');

    for (let i = 0; i < 2; i++) {
      const check = await dbops(['monitor', 'check', '--environment', 'production', '--policies-dir', fx.policiesDir, '--reports-dir', fx.reportsDir], fx.env);
      expect(check.all).not.toContain('traffic profile was not updated');
    }
    const recorded = await store.read<TrafficProfile>('traffic');
    expect(recorded?.zone).toBe('UTC');
    expect(recorded?.last?.xacts).toBeGreaterThan(0);
    expect(recorded!.hours.reduce((n, h) => n + h.active.n, 0)).toBe(2);
    expect(recorded!.hours.reduce((n, h) => n + h.tps.n, 0)).toBe(1);

    await store.write('traffic', twoWeeks());
    const run = await dbops(['monitor', 'traffic', '--environment', 'production', '--policies-dir', fx.policiesDir, '--json'], fx.env);
    expect(run.code, run.all).toBe(0);
    const data = (
      JSON.parse(run.stdout) as { data: { quiet: { threshold: number; runs: Array<{ from: string; to: string; meanTps: number }> }; next: { label: string } } }
    ).data;
    // The 25th percentile of the week is the 30-TPS level: 22:00 → 07:00 every night.
    expect(data.quiet.threshold).toBeCloseTo(30, 6);
    expect(data.quiet.runs.map((r) => `${r.from}→${r.to}`)).toEqual([
      'Mon 22:00→Tue 07:00',
      'Tue 22:00→Wed 07:00',
      'Wed 22:00→Thu 07:00',
      'Thu 22:00→Fri 07:00',
      'Fri 22:00→Sat 07:00',
      'Sat 22:00→Sun 07:00',
      'Sun 22:00→Mon 07:00',
    ]);
    expect(data.next.label).toMatch(/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d\d:00 UTC$/);
    const strict = await dbops(['monitor', 'traffic', '--environment', 'production', '--policies-dir', fx.policiesDir, '--percentile', '10'], fx.env);
    expect(strict.stdout).toContain('Tue 02:00 → Tue 05:00 UTC  3 h  mean 1 TPS, max 1 TPS, 1 active sessions');
    expect(strict.stdout).toMatch(/^Mon {3}/m);
  }, 120_000);

  it('the gate with traffic.max_tps refuses under a generated load, naming the next quiet hour, and passes when idle', async () => {
    const { fx, db, store } = await setup({ max_tps: 50 });
    const profile = twoWeeks();
    await store.write('traffic', profile);

    load = await generateLoad(db.url);
    // The generator's load, as the gate's measurement sees it.
    const probe = new pg.Client({ connectionString: db.url });
    await probe.connect();
    const measured = await measureLoad(probe).finally(() => probe.end());
    expect(measured.tps).toBeGreaterThan(200);
    const before = nextQuietHour(profile, new Date())!.label;
    const busy = await gate(fx);
    const after = nextQuietHour(profile, new Date())!.label;
    await load.stop();
    load = null;
    expect(busy.code, busy.all).toBe(1);
    expect(busy.data.decision).toBe('refused');
    const traffic = busy.data.checks.find((c) => c.name === 'traffic')!;
    expect(traffic.status).toBe('fail');
    const reason = traffic.reasons.find((r) => r.rule === 'traffic/busy')!;
    expect(reason.message).toMatch(/production is busy: [\d.]+ transactions\/s > max_tps 50/);
    expect(
      [before, after].some((label) => reason.message.includes(`next quiet hour: ${label}`)),
      reason.message,
    ).toBe(true);
    // Nothing else refused: the load alone.
    expect(busy.data.checks.filter((c) => c.status === 'fail').map((c) => c.name)).toEqual(['traffic']);

    const idle = await gate(fx);
    expect(idle.code, idle.all).toBe(0);
    expect(idle.data.checks.find((c) => c.name === 'traffic')).toMatchObject({ status: 'pass' });
  }, 120_000);
});
