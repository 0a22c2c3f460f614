// Replicas on the deploy path, with a real streaming replica: the gate measures each declared replica's lag
// (refusing with replicas/lagging when it exceeds replication.max_lag or the replica is down), and a deploy
// waits for every replica to replay it and records the catch-up in reports/deploy.json and the bundle.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutionData, GateData } from '../../pipeline/evidence/index.ts';
import { silentLogger } from '../../pipeline/core/logger.ts';
import { stopServerAt } from '../../pipeline/infra/pg/cluster.ts';
import { dbops } from '../helpers/cli.ts';
import { queryUrl } from '../helpers/db.ts';
import { deployFixture, type DeployFixture } from '../helpers/environments.ts';
import { startReplicaPair, type ReplicaPair } from '../helpers/replica.ts';

describe('replicas on the deploy path', () => {
  let pair: ReplicaPair;
  let fx: DeployFixture;
  let password: string;
  const outputs: string[] = [];

  const environment = (replication: Record<string, unknown> = {}) =>
    fx.writeEnvironments({
      production: {
        approvals: 0,
        backup: { required: false },
        replicas: [{ name: 'replica-1', database_url_env: 'REPLICA_1_DATABASE_URL', role: 'reporting' }],
        replication: { max_lag: '16MB', catch_up_timeout: '30s', ...replication },
      },
    });
  const run = async (args: string[]) => {
    const out = await dbops([...args, '--environment', 'production', ...fx.flags], fx.env);
    outputs.push(out.all);
    return out;
  };
  const gate = async () => {
    const out = await run(['gate', '--json']);
    if (!out.stdout.trim()) throw new Error(`gate printed no report: ${out.all}`);
    return { out, data: (JSON.parse(out.stdout) as { data: GateData }).data };
  };
  const replicasCheck = (data: GateData) => data.checks.find((c) => c.name === 'replicas');

  beforeAll(async () => {
    pair = await startReplicaPair('deploy');
    password = decodeURIComponent(new URL(pair.primaryUrl('shop')).password);
    await queryUrl(pair.primaryUrl('postgres'), 'CREATE DATABASE shop');
    await pair.caughtUp();
    fx = await deployFixture({ urls: { production: pair.primaryUrl('shop') }, extraEnv: { REPLICA_1_DATABASE_URL: pair.replicaUrl('shop') } });
    await environment();
  }, 120_000);
  afterAll(async () => {
    await pair?.stop();
  });

  it('the gate passes with a streaming replica, listing its lag after the backup check', async () => {
    const { out, data } = await gate();
    expect(out.code, out.all).toBe(0);
    expect(data.decision).toBe('allowed');
    const order = data.checks.map((c) => c.name);
    expect(order.indexOf('replicas')).toBe(order.indexOf('backup') + 1);
    expect(replicasCheck(data)).toMatchObject({ status: 'pass', summary: expect.stringMatching(/^replica-1 lag .+ \(limit 16MB\)$/) });
  });

  it('a deploy waits for the replica to replay it and records the catch-up in reports/deploy.json and the bundle', async () => {
    await fx.addMigrations({
      '20260101000000_orders':
        "CREATE TABLE orders (id bigint PRIMARY KEY, code text NOT NULL);\nINSERT INTO orders SELECT g, 'c' || g FROM generate_series(1, 5000) g;\n",
    });
    const out = await run(['deploy']);
    expect(out.code, out.all).toBe(0);
    expect(out.stdout).toMatch(/Waiting for the replica to replay the deploy \(LSN [0-9A-F]+\/[0-9A-F]+, up to 30s\)/);
    expect(out.stdout).toMatch(/✔ replica-1 \(reporting\) {2}caught up in /);
    const report = JSON.parse(await readFile(join(fx.reportsDir, 'deploy.json'), 'utf8')) as { verdict: string; data: ExecutionData };
    expect(report.verdict).toBe('pass');
    const [r] = report.data.replicas!;
    expect(r).toMatchObject({ name: 'replica-1', role: 'reporting', caughtUpMs: expect.any(Number), lagBytes: 0 });
    expect(r!.lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    // The deploy's table is on the replica when the deploy returns.
    expect(await queryUrl(pair.replicaUrl('shop'), 'SELECT count(*)::int AS n FROM orders')).toEqual([{ n: 5000 }]);
    const bundle = JSON.parse(await readFile(report.data.evidence!.localJson!, 'utf8')) as { execution: ExecutionData };
    expect(bundle.execution.replicas).toEqual(report.data.replicas);
    expect(await readFile(report.data.evidence!.localMarkdown!, 'utf8')).toMatch(/### Replicas[\s\S]*\| replica-1 \| reporting \|/);
    const verify = await dbops(['evidence', 'verify', '--environment', 'production', '--policies-dir', fx.policiesDir], fx.env);
    outputs.push(verify.all);
    expect(verify.code, verify.all).toBe(0);
  });

  it('measures the lag of a replica that stopped replaying: the gate refuses above max_lag; a deploy warns when it does not catch up', async () => {
    await queryUrl(pair.replicaUrl('postgres'), 'SELECT pg_wal_replay_pause()');
    try {
      await queryUrl(pair.primaryUrl('shop'), "CREATE TABLE filler AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 5000) g");
      await environment({ max_lag: '64kB', catch_up_timeout: '1s' });
      const { out, data } = await gate();
      expect(out.code, out.all).toBe(1);
      const check = replicasCheck(data)!;
      expect(check.status).toBe('fail');
      expect(check.reasons).toHaveLength(1);
      expect(check.reasons[0]!.rule).toBe('replicas/lagging');
      expect(check.reasons[0]!.message).toMatch(
        /^Replica replica-1 \(reporting\) of production lags [\d.]+ [KMGT]?i?B \((\d+) bytes\) behind the primary .*the limit is 64kB/,
      );
      const bytes = Number(/\((\d+) bytes\)/.exec(check.reasons[0]!.message)![1]);
      expect(bytes).toBeGreaterThan(64 * 1024);

      // Within the limit the deploy runs, and reports the replica that did not replay it in time.
      await environment({ max_lag: '1GB', catch_up_timeout: '1s' });
      await fx.addMigrations({ '20260102000000_codes': 'CREATE INDEX orders_code_idx ON orders (code);\n' });
      const deploy = await run(['deploy', '--json']);
      const result = JSON.parse(deploy.stdout) as { verdict: string; findings: Array<{ rule: string; message: string }>; data: ExecutionData };
      expect(result.verdict, deploy.all).toBe('warn');
      expect(result.data.outcome).toBe('succeeded');
      expect(result.data.replicas![0]).toMatchObject({ name: 'replica-1', caughtUpMs: null, lagBytes: expect.any(Number) });
      expect(result.data.replicas![0]!.lagBytes).toBeGreaterThan(0);
      expect(result.findings.map((f) => f.rule)).toEqual(['replicas/not-caught-up']);
      expect(result.findings[0]!.message).toMatch(/Replica replica-1 .* did not replay the deploy .* within 1s/);
    } finally {
      await queryUrl(pair.replicaUrl('postgres'), 'SELECT pg_wal_replay_resume()');
    }
    await pair.caughtUp();
    await environment();
    const { data } = await gate();
    expect(replicasCheck(data)!.status).toBe('pass');
  });

  it('a stopped replica makes the gate refuse with replicas/lagging naming it, and no output shows a password', async () => {
    await stopServerAt(pair.replica.dataDir, silentLogger(), 'fast');
    const { out, data } = await gate();
    expect(out.code, out.all).toBe(1);
    expect(data.decision).toBe('refused');
    const check = replicasCheck(data)!;
    expect(check.status).toBe('fail');
    expect(check.reasons.map((r) => r.rule)).toEqual(['replicas/lagging']);
    expect(check.reasons[0]!.message).toMatch(
      /^Replica replica-1 \(reporting\) of production is not serving: unreachable at 127\.0\.0\.1:\d+ \(REPLICA_1_DATABASE_URL\)/,
    );
    expect(check.reasons[0]!.message).toContain('limit 16MB');
    // The human output names it too.
    const human = await run(['gate']);
    expect(human.code).toBe(1);
    expect(human.all).toContain('replicas/lagging');
    expect(human.all).toContain('replica-1');

    // A missing URL variable is a replica that does not serve either.
    const unset = await dbops(['gate', '--environment', 'production', ...fx.flags, '--json'], { ...fx.env, REPLICA_1_DATABASE_URL: '' });
    outputs.push(unset.all);
    expect((JSON.parse(unset.stdout) as { data: GateData }).data.checks.find((c) => c.name === 'replicas')!.reasons[0]!.message).toContain(
      'its URL variable REPLICA_1_DATABASE_URL is not set',
    );

    expect(password.length).toBeGreaterThan(0);
    for (const o of outputs) expect(o).not.toContain(password);
  });
});
