import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runDbops, testEnv } from '../helpers/cli.ts';
import { tempDir } from '../helpers/migrations.ts';

describe('dbops demo', async () => {
  const home = await tempDir('dbops-demo-');
  await chmod(home, 0o755);
  // A DATABASE_URL in the developer's shell must never receive demo data: this one would fail loudly.
  const env = testEnv({ DBOPS_LOCAL_DIR: join(home, 'local'), DATABASE_URL: 'postgresql://prod:secret-prod-pw@127.0.0.1:1/production' });
  afterAll(async () => { await runDbops(['local', 'down', '--destroy'], env); });

  it('creates the embedded cluster, applies every migration, seeds, and shows status', async () => {
    const run = await runDbops(['demo', '--scale', '0.01'], env);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/── 1\/3 dbops migrate deploy[\s\S]*Applying migration `20260112093000_init`[\s\S]*All migrations have been successfully applied\./);
    expect(run.stdout).toMatch(/── 2\/3 dbops seed --scale 0\.01[\s\S]*JournalLine\s+[\d,]+/);
    expect(run.stdout).toMatch(/── 3\/3 dbops migrate status[\s\S]*Database schema is up to date!/);
    expect(run.all).not.toContain('secret-prod-pw');
  });

  it('a failing migration stops the demo with the P3018 report, not a crash', async () => {
    const dir = await tempDir('dbops-demo-bad-');
    await mkdir(join(dir, '20240101000000_bad'));
    await writeFile(join(dir, '20240101000000_bad', 'migration.sql'), 'SELECT 1/0;\n');
    const badEnv = { ...env, DBOPS_LOCAL_DIR: join(home, 'bad') };
    try {
      const run = await runDbops(['demo', '--migrations-dir', dir], badEnv);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('Error: P3018');
      expect(run.stdout).not.toContain('── 2/3');
      expect(run.stderr).not.toContain('Internal error');
    } finally {
      await runDbops(['local', 'down', '--destroy'], badEnv);
    }
  });

  it('can run again: nothing to apply, seeding skipped, still exit 0', async () => {
    const run = await runDbops(['demo', '--scale', '0.01', '--json'], env);
    expect(run.code).toBe(0);
    const { data } = JSON.parse(run.stdout);
    expect(data.deploy.applied).toEqual([]);
    expect(data.seeded).toBe(false);
    expect(data.status.counts.applied).toBeGreaterThanOrEqual(9);
  });
});
