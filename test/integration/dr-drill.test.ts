// `dbops dr drill` end to end: a scratch primary, a real disaster in it, pgBackRest recovery, evidence.
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dbops, spawnDbops } from '../helpers/cli.ts';
import { waitFor } from '../helpers/wait.ts';
import { drillFixture, serversUnder } from '../helpers/drill.ts';

describe('dbops dr drill', async () => {
  const { home, env, policies, localDir, runs, drill } = await drillFixture('drill');
  afterAll(() => {
    // Every scratch cluster is gone: nothing of a drill keeps running.
    for (const r of runs) expect(r.all).not.toMatch(/Internal error/);
  });

  it.each(['lost-primary', 'bad-migration', 'dropped-table'] as const)(
    '%s: recovered, RPO and RTO measured within the objectives, chained evidence',
    async (scenario) => {
      const r = await drill('--scenario', scenario);
      expect(r.code, r.all).toBe(0);
      const d = JSON.parse(r.stdout).data;
      expect(d.drill.phases.map((p: { name: string }) => p.name)).toEqual(['detect', 'fetch', 'restore', 'WAL replay', 'verify', 'ready']);
      expect(d.drill.passed).toBe(true);
      expect(d.drill.rto.achievedMs).toBeGreaterThan(0);
      expect(d.drill.rto.achievedMs).toBeLessThanOrEqual(d.drill.rto.objectiveMs);
      // RPO from heartbeats: within archive_timeout (60 s) plus one heartbeat interval.
      expect(d.drill.rpo.achievedMs).not.toBeNull();
      expect(d.drill.rpo.achievedMs).toBeLessThanOrEqual(60_000 + 200);
      if (scenario === 'lost-primary') {
        // Nothing was archived after the base backup: everything the workload wrote is the loss, and measured as such.
        expect(d.drill.rows.restored).toBeLessThanOrEqual(d.drill.rows.expected);
        expect(d.drill.rpo.achievedMs).toBeGreaterThan(1_000);
        expect(d.drill.recovery.type).toBe('latest');
      } else {
        // Recovered to just before the disaster: every committed row is back, and no heartbeat was lost.
        expect(d.drill.rows.restored).toBe(d.drill.rows.expected);
        expect(d.drill.rows.expected).toBeGreaterThan(5);
        expect(d.drill.rpo.achievedMs).toBe(0);
        expect(d.drill.recovery.type).toBe(scenario === 'bad-migration' ? 'name' : 'time');
      }
      const folder = join(localDir, 'evidence', 'local');
      const bundle = JSON.parse(await readFile(join(folder, `${d.bundle.key.split('/').pop()}`), 'utf8'));
      expect(bundle).toMatchObject({ kind: 'dr-drill', environment: 'local', drill: { scenario, passed: true } });
      expect(
        await readFile(
          join(
            folder,
            d.bundle.key
              .split('/')
              .pop()
              .replace(/\.json$/, '.md'),
          ),
          'utf8',
        ),
      ).toMatch(/## Disaster-recovery drill[\s\S]*\| RTO: disaster caused → first write on the recovered cluster \| 240 min \| [\d.]+ (ms|s) \| ✅ met \|/);
    },
  );

  it('the three bundles form a chain that evidence verify accepts; a missed objective is exit 1 and recorded as failed', async () => {
    const strict = join(home, 'strict');
    await mkdir(strict);
    await writeFile(join(strict, 'backups.yaml'), 'version: 1\npitr:\n  objectives:\n    rpo: 1ms\n  heartbeat:\n    interval: 200ms\n');
    const missed = await dbops(['dr', 'drill', '--policies-dir', strict, '--workload', '1s', '--json'], env);
    runs.push(missed);
    expect(missed.code, missed.all).toBe(1);
    const d = JSON.parse(missed.stdout).data;
    expect(d.drill).toMatchObject({ passed: false, rpo: { objectiveMs: 1, met: false }, rto: { met: true } });

    const verify = await dbops(['evidence', 'verify', '--dir', join(localDir, 'evidence'), '--environment', 'local', '--json'], env);
    expect(verify.code, verify.all).toBe(0);
    expect(JSON.stringify(JSON.parse(verify.stdout).data)).toContain('"bundles":4');
    expect((await readdir(join(localDir, 'evidence', 'local'))).filter((n) => n.endsWith('-dr-drill.json'))).toHaveLength(4);
  });

  it('Ctrl-C during the workload: exit 3, no bundle, the scratch cluster removed', async () => {
    const folder = join(localDir, 'evidence', 'local');
    const before = (await readdir(folder)).filter((n) => n.endsWith('-dr-drill.json')).length;
    const p = spawnDbops(['dr', 'drill', '--scenario', 'dropped-table', '--policies-dir', policies, '--workload', '60s'], env);
    await waitFor('the workload', () => Promise.resolve(p.output().includes('Writing ledger rows')));
    const scratchDir = /(\/\S*dbops-drill-[^/\s]+)/.exec(p.output())![1]!;
    expect(serversUnder(scratchDir)).toHaveLength(1);
    p.child.kill('SIGINT');
    const r = await p.done;
    runs.push(r);
    expect(r.code, r.all).toBe(3);
    expect(r.stderr).toContain('Interrupted before the disaster');
    expect((await readdir(folder)).filter((n) => n.endsWith('-dr-drill.json'))).toHaveLength(before);
    expect(serversUnder(scratchDir)).toEqual([]);
    expect(existsSync(scratchDir)).toBe(false);
  });

  it('--environment with a scenario other than lost-primary is a usage error', async () => {
    const r = await dbops(['dr', 'drill', '--environment', 'production', '--scenario', 'dropped-table'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('with --environment nothing is broken');
  });
});
