import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runDbops, testEnv } from '../helpers/cli.ts';
import { tempDir } from '../helpers/migrations.ts';

/** Budgets on measured time (a probe's wait, a workload query's slowdown) depend on the machine's load; what the rehearsal proves must hold anyway. */
const TIMED = new Set(['rehearse/duration', 'rehearse/access-exclusive', 'rehearse/probe-blocked', 'rehearse/workload-slower']);
function expectRehearsalProven(report: {
  verdict: string;
  findings: { rule: string; severity: string }[];
  data: { migrations: { rollback: { status: string } }[] };
}) {
  expect(report.data.migrations.map((m) => m.rollback.status)).toEqual(['proven', 'irreversible']);
  expect(report.findings.filter((f) => f.severity !== 'notice' && !TIMED.has(f.rule))).toEqual([]);
  expect(report.verdict).not.toBe('fail');
}

describe('dbops demo', async () => {
  const home = await tempDir('dbops-demo-');
  await chmod(home, 0o755);
  // A DATABASE_URL in the developer's shell must never receive demo data: this one would fail loudly.
  const env = testEnv({
    DBOPS_LOCAL_DIR: join(home, 'local'),
    DATABASE_URL: 'postgresql://prod:secret-prod-pw@127.0.0.1:1/production',
    STAGING_SNAPSHOT_URL: 'postgresql://stage:secret-stage-pw@127.0.0.1:1/snapshot',
  });
  const reportsDir = join(home, 'reports');
  afterAll(async () => {
    await runDbops(['local', 'down', '--destroy'], env);
  });

  it('migrates and seeds the embedded cluster, then lints, rehearses and reports the newest migrations as a PR', async () => {
    const run = await runDbops(['demo', '--scale', '0.01', '--reports-dir', reportsDir], env);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      /── 1\/6 dbops migrate deploy[\s\S]*Applying migration `20260112093000_init`[\s\S]*All migrations have been successfully applied\./,
    );
    expect(run.stdout).toMatch(/── 2\/6 dbops seed --scale 0\.01[\s\S]*JournalLine\s+[\d,]+[\s\S]*Database schema is up to date!/);
    expect(run.stdout).toMatch(
      /── 3\/6 dbops drift[\s\S]*prisma\/schema\.prisma and the 9 migrations agree[\s\S]*has exactly the schema its 9 applied migrations build/,
    );
    expect(JSON.parse(await readFile(join(reportsDir, 'drift.json'), 'utf8')).verdict).toBe('pass');
    expect(run.stdout).toMatch(/── 4\/6 dbops lint --last 2 --labels allow-destructive[\s\S]*destructive\/drop-column/);
    expect(run.stdout).toMatch(/── 5\/6 dbops rehearse --last 2 --scale 0\.01[\s\S]*20260915160000_audit_event_entity_index/);
    expect(run.stdout).toMatch(/── 6\/6 dbops report --format markdown/);
    // The Markdown report printed is the one written, and holds the measured rehearsal of both PR migrations.
    const markdown = await readFile(join(reportsDir, 'report.md'), 'utf8');
    expect(run.stdout).toContain(markdown.trim().split('\n').slice(-5).join('\n'));
    expect(markdown).toContain('```mermaid');
    expect(markdown).toMatch(/20261020091500_drop_organization_legacy_erp_id[\s\S]*irreversible/);
    const rehearse = JSON.parse(await readFile(join(reportsDir, 'rehearse.json'), 'utf8'));
    expect(rehearse.data.snapshot.source).toBe('synthetic');
    expect(rehearse.data.pending).toEqual(['20260915160000_audit_event_entity_index', '20261020091500_drop_organization_legacy_erp_id']);
    expectRehearsalProven(rehearse);
    expect(JSON.parse(await readFile(join(reportsDir, 'lint.json'), 'utf8')).verdict).toBe('warn');
    expect(run.all).not.toContain('secret-prod-pw');
    expect(run.all).not.toContain('secret-stage-pw');
  });

  it('a failing migration stops the demo with the P3018 report, not a crash', async () => {
    const dir = await tempDir('dbops-demo-bad-');
    await mkdir(join(dir, '20240101000000_bad'));
    await writeFile(join(dir, '20240101000000_bad', 'migration.sql'), 'SELECT 1/0;\n');
    const badEnv = { ...env, DBOPS_LOCAL_DIR: join(home, 'bad') };
    try {
      const run = await runDbops(['demo', '--migrations-dir', dir, '--reports-dir', join(home, 'bad-reports')], badEnv);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('Error: P3018');
      expect(run.stdout).not.toContain('── 2/6');
      expect(run.stderr).not.toContain('Internal error');
    } finally {
      await runDbops(['local', 'down', '--destroy'], badEnv);
    }
  });

  it('can run again: nothing to apply, seeding skipped, still exit 0', async () => {
    const run = await runDbops(['demo', '--scale', '0.01', '--json', '--reports-dir', reportsDir], env);
    expect(run.code).toBe(0);
    const { data } = JSON.parse(run.stdout);
    expect(data.deploy.applied).toEqual([]);
    expect(data.seeded).toBe(false);
    expect(data.status.counts.applied).toBeGreaterThanOrEqual(9);
    expect(data.pr).toMatchObject({ drift: 'pass', lint: 'warn' });
    expectRehearsalProven(JSON.parse(await readFile(join(reportsDir, 'rehearse.json'), 'utf8')));
  });
});
