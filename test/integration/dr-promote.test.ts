// `dbops dr drill --scenario promote-replica`: a scratch primary, its streaming replica (pg_basebackup -R),
// the primary stopped hard, the replica promoted; RPO from the heartbeats, RTO from the clock, evidence.
import { existsSync } from 'node:fs';
import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../pipeline/core/logger.ts';
import { stopServerAt } from '../../pipeline/infra/pg/cluster.ts';
import { dbops, spawnDbops } from '../helpers/cli.ts';
import { waitFor } from '../helpers/wait.ts';
import { drillFixture, serversUnder } from '../helpers/drill.ts';

describe('dbops dr drill --scenario promote-replica', async () => {
  const { home, env, localDir, policies, folder, runs, drill } = await drillFixture('promote', ['--scenario', 'promote-replica']);
  afterAll(async () => {
    for (const r of runs) expect(r.all).not.toMatch(/Internal error/);
    await rm(home, { recursive: true, force: true });
  });

  it('promotes the replica: RPO and RTO measured in timed phases, the bundle appended, nothing left running', async () => {
    const r = await drill();
    expect(r.code, r.all).toBe(0);
    const d = JSON.parse(r.stdout).data;
    expect(d.drill.scenario).toBe('promote-replica');
    expect(d.drill.phases.map((p: { name: string }) => p.name)).toEqual(['build', 'replica', 'disaster', 'promote', 'verify']);
    for (const p of d.drill.phases) {
      expect(p.ok, p.message).toBe(true);
      expect(typeof p.durationMs).toBe('number');
    }
    expect(d.drill.passed).toBe(true);
    // RTO: from the hard stop to the first write on the promoted replica.
    expect(d.drill.rto.achievedMs).toBeGreaterThan(0);
    expect(d.drill.rto.achievedMs).toBeLessThanOrEqual(d.drill.rto.objectiveMs);
    // RPO from heartbeats: streaming replication loses at most a moment.
    expect(typeof d.drill.rpo.achievedMs).toBe('number');
    expect(d.drill.rpo.achievedMs).toBeGreaterThanOrEqual(0);
    expect(d.drill.rpo.achievedMs).toBeLessThan(10_000);
    expect(d.drill.rpo.sourceHeartbeat).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(d.drill.rpo.restoredHeartbeat).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(d.drill.recovery).toMatchObject({ type: 'promote', backup: null });
    expect(d.drill.recovery.target).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(d.drill.rows.expected).toBeGreaterThan(5);
    expect(d.drill.rows.restored).toBeGreaterThan(0);
    expect(d.drill.rows.restored).toBeLessThanOrEqual(d.drill.rows.expected);

    // Nothing of the drill is left: no folder, no server.
    expect(d.kept).toBe(false);
    expect(existsSync(d.scratchDir)).toBe(false);
    expect(serversUnder(d.scratchDir)).toEqual([]);

    const name = d.bundle.key.split('/').pop() as string;
    const bundle = JSON.parse(await readFile(join(folder, name), 'utf8'));
    expect(bundle).toMatchObject({ kind: 'dr-drill', environment: 'local', drill: { scenario: 'promote-replica', passed: true } });
    expect(await readFile(join(folder, name.replace(/\.json$/, '.md')), 'utf8')).toMatch(
      /## Disaster-recovery drill[\s\S]*\| Scenario \| promote-replica \|[\s\S]*\| promote \|[\s\S]*\| RTO: disaster caused → first write on the recovered cluster \| 240 min \| [\d.]+ (ms|s) \| ✅ met \|/,
    );
    // The terminal rendering too.
    const text = await dbops(['dr', 'drill', '--scenario', 'promote-replica', '--policies-dir', policies, '--workload', '500ms'], env);
    runs.push(text);
    expect(text.code, text.all).toBe(0);
    expect(text.stdout).toMatch(/DR drill \(promote-replica\)[\s\S]*✓ promote[\s\S]*RPO achieved [\d.]+ (ms|s)[\s\S]*RTO achieved [\d.]+ (ms|s)/);
  });

  it('no password in any output, even at debug level; the chain with the promotion bundles is verified', async () => {
    // Kept, so the scratch password can be read (cluster.json) and looked for; stopped and removed here.
    const r = await drill('--keep', '--verbose');
    expect(r.code, r.all).toBe(0);
    const d = JSON.parse(r.stdout).data;
    try {
      expect(d.kept).toBe(true);
      const { password } = JSON.parse(await readFile(join(d.scratchDir, 'primary', 'cluster.json'), 'utf8')) as { password: string };
      expect(password.length).toBeGreaterThan(10);
      const name = d.bundle.key.split('/').pop() as string;
      const written = [await readFile(join(folder, name), 'utf8'), await readFile(join(folder, name.replace(/\.json$/, '.md')), 'utf8')];
      for (const o of [...runs.map((x) => x.all), ...written]) {
        expect(o).not.toContain(password);
        expect(o).not.toContain(encodeURIComponent(password));
      }
      // The promoted replica still runs (kept) and accepts writes.
      expect(serversUnder(join(d.scratchDir, 'replica'))).toHaveLength(1);
    } finally {
      for (const n of ['replica', 'primary']) await stopServerAt(join(d.scratchDir, n, 'data'), silentLogger(), 'immediate').catch(() => false);
      await rm(d.scratchDir, { recursive: true, force: true });
    }
    expect(serversUnder(d.scratchDir)).toEqual([]);

    const verify = await dbops(['evidence', 'verify', '--dir', join(localDir, 'evidence'), '--environment', 'local', '--json'], env);
    expect(verify.code, verify.all).toBe(0);
    expect(JSON.stringify(JSON.parse(verify.stdout).data)).toContain('"bundles":3');
    expect((await readdir(folder)).filter((n) => n.endsWith('-dr-drill.json'))).toHaveLength(3);
  });

  it('Ctrl-C during the workload: exit 3, no bundle, the scratch primary and replica stopped and removed', async () => {
    const p = spawnDbops(['dr', 'drill', '--scenario', 'promote-replica', '--policies-dir', policies, '--workload', '60s'], env);
    await waitFor('the workload', () => Promise.resolve(p.output().includes('Writing ledger rows')));
    const scratchDir = /(\/\S*dbops-drill-[^/\s]+)/.exec(p.output())![1]!;
    expect(serversUnder(scratchDir)).toHaveLength(2);
    p.child.kill('SIGINT');
    const r = await p.done;
    runs.push(r);
    expect(r.code, r.all).toBe(3);
    expect(r.stderr).toContain('Interrupted before the disaster');
    expect(serversUnder(scratchDir)).toEqual([]);
    expect(existsSync(scratchDir)).toBe(false);
    expect((await readdir(folder)).filter((n) => n.endsWith('-dr-drill.json'))).toHaveLength(3);
  });
});
