// What bounds `dbops maintain run` and what it leaves on record, on a real database: --environment and its
// maintenance window (refused while closed, naming the next opening; actions not started once it closes), the
// time budget, the throttle as the run's own session reports it, reports/maintain-run.json, create_pgstattuple,
// the multixact age warning, and a REINDEX CONCURRENTLY failing mid-run (lock_timeout, no retry) whose invalid
// `_ccnew` copy is dropped.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../pipeline/core/logger.ts';
import type { Finding } from '../../pipeline/core/result.ts';
import type { Runtime } from '../../pipeline/core/runtime.ts';
import { createShell } from '../../pipeline/core/shell.ts';
import { WEEKDAYS } from '../../pipeline/core/time.ts';
import { parseDatabaseUrl } from '../../pipeline/infra/db/url.ts';
import { runMaintenance, type MaintenancePlan, type MaintenanceRun } from '../../pipeline/operations/maintenance/index.ts';
import { MaintenancePolicy } from '../../pipeline/policy/maintenance.ts';
import { dbops, testEnv } from '../helpers/cli.ts';
import { createDatabase, type TestDb } from '../helpers/db.ts';
import { tempDir } from '../helpers/migrations.ts';

/** Two tables never analyzed (autovacuum off): two cheap `analyze` actions, in this order. */
const TWO_TABLES = `
CREATE TABLE t1 (id int PRIMARY KEY) WITH (autovacuum_enabled = off);
CREATE TABLE t2 (id int PRIMARY KEY) WITH (autovacuum_enabled = off);
INSERT INTO t1 SELECT generate_series(1, 10000);
INSERT INTO t2 SELECT generate_series(1, 10000);`;

/** As in maintain-run.test.ts: a primary key ~95 % reclaimable after VACUUM, so `--only indexes` rebuilds it. */
const BLOAT = `
CREATE EXTENSION pgstattuple;
CREATE TABLE bloat (id int PRIMARY KEY, v int NOT NULL, pad text NOT NULL) WITH (autovacuum_enabled = off);
INSERT INTO bloat SELECT g, 0, repeat('x', 40) FROM generate_series(1, 200000) g;
DELETE FROM bloat WHERE id % 10 <> 0;`;

const ANALYZED = `SELECT relname, analyze_count::int FROM pg_stat_user_tables WHERE relname IN ('t1', 't2') ORDER BY 1`;
const URL_ENV = 'MAINT_TEST_PRODUCTION_URL';
const today = () => WEEKDAYS[(new Date().getUTCDay() + 6) % 7]!;
const tomorrow = () => WEEKDAYS[(new Date().getUTCDay() + 6 + 1) % 7]!;

type RunJson = { verdict: string; findings: Finding[]; data: MaintenanceRun };

/** A policies folder: maintenance.yaml as given, and an environments.yaml whose production is `url`'s variable. */
async function policies(maintenance: string): Promise<string> {
  const dir = await tempDir('dbops-maintain-limits-');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'maintenance.yaml'), `version: 1\n${maintenance}`);
  await writeFile(join(dir, 'environments.yaml'), `version: 1\nenvironments:\n  production:\n    database_url_env: ${URL_ENV}\n`);
  return dir;
}

const log = createLogger({ level: 'warn' });
/** A runtime whose progress lines go to `onProgress` (the test's hook into the run between two actions). */
const runtime = (onProgress: (line: string) => void = () => {}): Runtime => ({
  log,
  sh: createShell(log),
  signal: new AbortController().signal,
  env: process.env,
  progress: onProgress,
  summarize: async () => 'skipped',
});
/** The line the applier prints after each action's result. */
const ACTION_DONE = /^ {2}(ok|failed|skipped): /;

describe('dbops maintain run: windows, budget, throttle, report', () => {
  let windowDb: TestDb;
  let budgetDb: TestDb;
  let cliDb: TestDb;
  let closedDb: TestDb;
  let extDb: TestDb;
  let mxDb: TestDb;
  let rebuildDb: TestDb;

  beforeAll(async () => {
    [windowDb, budgetDb, cliDb, closedDb, extDb, mxDb, rebuildDb] = await Promise.all([
      createDatabase('maintain-window'),
      createDatabase('maintain-budget'),
      createDatabase('maintain-env'),
      createDatabase('maintain-closed'),
      createDatabase('maintain-pgstattuple'),
      createDatabase('maintain-multixact'),
      createDatabase('maintain-failed-rebuild'),
    ]);
    await Promise.all([windowDb, budgetDb, cliDb, closedDb, extDb].map((db) => db.query(TWO_TABLES)));
    await rebuildDb.query(BLOAT);
  });

  afterAll(async () => {
    await Promise.all([windowDb, budgetDb, cliDb, closedDb, extDb, mxDb, rebuildDb].map((db) => db?.drop()));
  });

  it('a window that closes during the run: the action running finishes, the rest are skipped with the closing time', async () => {
    const policy = MaintenancePolicy.parse({ version: 1 });
    // Monday 7 December 2026 08:00 UTC, inside mon 05:00–09:00 (UTC); after the first action the clock reads 09:00.
    let clock = new Date('2026-12-07T08:00:00Z');
    const rt = runtime((line) => {
      if (ACTION_DONE.test(line)) clock = new Date('2026-12-07T09:00:00Z');
    });
    const window = { environment: 'production', zone: 'UTC', open: [{ days: ['mon' as const], from: '05:00', to: '09:00' }] };
    const r = await runMaintenance(parseDatabaseUrl(windowDb.url), policy, rt, { dryRun: false, window, now: () => clock });
    expect(r.window).toMatchObject({ environment: 'production', open: true, closesAt: '2026-12-07T09:00:00.000Z' });
    expect(r.outcomes.map((o) => `${o.status} ${o.kind} ${o.target}`)).toEqual(['ok analyze public.t1', 'skipped analyze public.t2']);
    expect(r.outcomes[1]!.detail).toBe('not started: the maintenance window of production closed at Mon 2026-12-07 09:00 UTC');
    expect(r.stopped).toEqual({
      reason: 'the maintenance window of production closed at Mon 2026-12-07 09:00 UTC',
      at: '2026-12-07T09:00:00.000Z',
      skipped: 1,
    });
    // Proven from the statistics: t2 was not analyzed.
    expect(await windowDb.query(ANALYZED)).toEqual([
      { relname: 't1', analyze_count: 1 },
      { relname: 't2', analyze_count: 0 },
    ]);
  });

  it('a spent budget: no action starts once it is used up, counted from when the lock was taken', async () => {
    const policy = MaintenancePolicy.parse({ version: 1, budget: '1h' });
    let clock = new Date('2026-12-06T05:00:00Z');
    const rt = runtime((line) => {
      if (ACTION_DONE.test(line)) clock = new Date('2026-12-06T06:00:00Z');
    });
    const r = await runMaintenance(parseDatabaseUrl(budgetDb.url), policy, rt, { dryRun: false, now: () => clock });
    expect(r.window).toBeUndefined();
    expect(r.budget).toEqual({ limit: '1h', startedAt: '2026-12-06T05:00:00.000Z' });
    expect(r.outcomes.map((o) => `${o.status} ${o.target}`)).toEqual(['ok public.t1', 'skipped public.t2']);
    expect(r.outcomes[1]!.detail).toBe('not started: the budget of 1h is spent (the run started Sun 2026-12-06 05:00 UTC)');
    expect(r.stopped?.skipped).toBe(1);
    expect(await budgetDb.query(ANALYZED)).toEqual([
      { relname: 't1', analyze_count: 1 },
      { relname: 't2', analyze_count: 0 },
    ]);
  });

  it('--environment: the URL from environments.yaml, the open window, the throttle read back from the session, and reports/maintain-run.json', async () => {
    const dir = await policies(
      `windows:\n  production:\n    zone: UTC\n    open:\n      - { days: [${today()}], from: "00:00", to: "24:00" }\nthrottle:\n  cost_delay: 7\n  cost_limit: 345\n`,
    );
    const reports = await tempDir('dbops-maintain-reports-');
    const out = await dbops(
      ['maintain', 'run', '--environment', 'production', '--policies-dir', dir, '--reports-dir', reports, '--json'],
      testEnv({ [URL_ENV]: cliDb.url }),
    );
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    const { data } = JSON.parse(out.stdout) as RunJson;
    expect(data.window).toMatchObject({ environment: 'production', zone: 'UTC', open: true });
    // A window of today alone closes at the next midnight UTC.
    const midnight = new Date();
    midnight.setUTCHours(24, 0, 0, 0);
    expect(data.window!.closesAt).toBe(midnight.toISOString());
    // What the server reports for the run's session after the SET (PostgreSQL's defaults would be 0 and 200).
    expect(data.throttle).toEqual({ costDelayMs: 7, costLimit: 345, effective: { vacuumCostDelay: '7ms', vacuumCostLimit: '345' } });
    expect(data.outcomes.map((o) => `${o.status} ${o.target}`)).toEqual(['ok public.t1', 'ok public.t2']);

    // The report: every outcome, as the command returned them.
    const report = JSON.parse(await readFile(join(reports, 'maintain-run.json'), 'utf8')) as {
      step: string;
      verdict: string;
      exitCode: number;
      data: MaintenanceRun;
    };
    expect(report).toMatchObject({ step: 'maintain-run', verdict: 'pass', exitCode: 0 });
    expect(report.data.outcomes).toEqual(data.outcomes);
    expect(report.data.window).toEqual(data.window);
    expect(JSON.stringify(report)).not.toContain(cliDb.url);

    // The human rendering says which window and what throttle.
    const text = await dbops(
      ['maintain', 'run', '--environment', 'production', '--policies-dir', dir, '--reports-dir', reports],
      testEnv({ [URL_ENV]: cliDb.url }),
    );
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`Window: the maintenance window of production is open (${today()} 00:00–24:00 (UTC), closes `);
    expect(text.stdout).toContain('Throttle: vacuum_cost_delay 7ms, vacuum_cost_limit 345 (as the session reports them)');

    // `dbops report` reads it back (validated against the report schema) and renders it as the command does.
    const shown = await dbops(['report', '--reports-dir', reports], testEnv());
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('── maintain run ── pass');
    expect(shown.stdout).toContain('Window: the maintenance window of production is open');
  });

  it('a closed window refuses the run (exit 1) naming the next opening, runs nothing, and the report says why', async () => {
    const dir = await policies(`windows:\n  production:\n    zone: UTC\n    open:\n      - { days: [${tomorrow()}], from: "00:00", to: "24:00" }\n`);
    const reports = await tempDir('dbops-maintain-reports-');
    const before = await closedDb.query(ANALYZED);
    const out = await dbops(
      ['maintain', 'run', '--environment', 'production', '--policies-dir', dir, '--reports-dir', reports],
      testEnv({ [URL_ENV]: closedDb.url }),
    );
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(
      /maintain run: the maintenance window of production is closed \(it is \w{3} \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC\); it next opens \w{3} \d{4}-\d{2}-\d{2} 00:00 UTC\. Nothing was run\./,
    );
    expect(out.stderr).toContain('windows.production');
    expect(out.stdout).not.toContain('[1/');
    const report = JSON.parse(await readFile(join(reports, 'maintain-run.json'), 'utf8')) as { verdict: string; exitCode: number; error: { message: string } };
    expect(report).toMatchObject({ verdict: 'fail', exitCode: 1 });
    expect(report.error.message).toContain('it next opens');
    await new Promise((r) => setTimeout(r, 300));
    expect(await closedDb.query(ANALYZED)).toEqual(before);

    // --dry-run still shows the plan, and that the window is closed.
    const dry = await dbops(
      ['maintain', 'run', '--environment', 'production', '--policies-dir', dir, '--reports-dir', reports, '--dry-run'],
      testEnv({ [URL_ENV]: closedDb.url }),
    );
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('Window: the maintenance window of production is closed');
    // maintain plan --environment says so too, and exits 0.
    const plan = await dbops(['maintain', 'plan', '--environment', 'production', '--policies-dir', dir, '--json'], testEnv({ [URL_ENV]: closedDb.url }));
    expect(plan.code).toBe(0);
    const planned = (JSON.parse(plan.stdout) as { data: MaintenancePlan & { environment: string; window: { open: boolean; nextOpen: string } } }).data;
    expect(planned).toMatchObject({ environment: 'production', window: { open: false } });
    expect(planned.actions.map((a) => a.target)).toEqual(['public.t1', 'public.t2']);
  });

  it('--environment with --database-url, and a window of an unknown environment, are usage and policy errors (exit 2)', async () => {
    const dir = await policies('');
    const both = await dbops(['maintain', 'run', '--environment', 'production', '--database-url', closedDb.url, '--policies-dir', dir], testEnv());
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--environment and --database-url both name the database: pass one of them.');
    const typo = await policies(`windows:\n  prodution:\n    open: []\n`);
    const out = await dbops(['maintain', 'plan', '--environment', 'production', '--policies-dir', typo], testEnv({ [URL_ENV]: closedDb.url }));
    expect(out.code).toBe(2);
    expect(out.stderr).toContain(
      'maintenance.yaml: windows.prodution names no environment of policies/environments.yaml (it defines "production"). Did you mean "production"?',
    );
  });

  it('create_pgstattuple: the run creates the extension before measuring and says so; plan and --dry-run never do', async () => {
    const dir = await policies('create_pgstattuple: true\n');
    const installed = "SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'pgstattuple'";
    const plan = await dbops(['maintain', 'plan', '--database-url', extDb.url, '--policies-dir', dir, '--json'], testEnv());
    expect((JSON.parse(plan.stdout) as { data: MaintenancePlan }).data.pgstattuple).toBe(false);
    const dry = await dbops(
      ['maintain', 'run', '--database-url', extDb.url, '--policies-dir', dir, '--dry-run', '--json', '--reports-dir', await tempDir()],
      testEnv(),
    );
    expect((JSON.parse(dry.stdout) as RunJson).data.pgstattuple).toBe('would-create');
    expect(await extDb.query(installed)).toEqual([{ n: 0 }]);

    const reports = await tempDir('dbops-maintain-reports-');
    const run = await dbops(['maintain', 'run', '--database-url', extDb.url, '--policies-dir', dir, '--reports-dir', reports], testEnv());
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('pgstattuple is not installed and create_pgstattuple is true: CREATE EXTENSION IF NOT EXISTS pgstattuple');
    expect(run.stdout).toContain('pgstattuple: created by this run (create_pgstattuple: true)');
    const report = JSON.parse(await readFile(join(reports, 'maintain-run.json'), 'utf8')) as { data: MaintenanceRun };
    expect(report.data.pgstattuple).toBe('created');
    // The plan of the run was measured with it.
    expect(report.data.plan.pgstattuple).toBe(true);
    expect(await extDb.query(installed)).toEqual([{ n: 1 }]);
  });

  it('warns about multixact age: a row locked FOR SHARE by two transactions makes a multixact', async () => {
    await mxDb.query('CREATE TABLE mx (id int PRIMARY KEY); INSERT INTO mx VALUES (1)');
    const sessions = [new pg.Client({ connectionString: mxDb.url }), new pg.Client({ connectionString: mxDb.url })];
    try {
      for (const s of sessions) {
        await s.connect();
        await s.query('BEGIN');
        await s.query('SELECT * FROM mx WHERE id = 1 FOR SHARE');
      }
      for (const s of sessions) await s.query('COMMIT');
    } finally {
      await Promise.all(sessions.map((s) => s.end()));
    }
    const dir = await policies('multixact_age_warning: 1\n');
    const out = await dbops(['maintain', 'plan', '--database-url', mxDb.url, '--policies-dir', dir, '--json'], testEnv());
    expect(out.code).toBe(0);
    const { data, findings } = JSON.parse(out.stdout) as { data: MaintenancePlan; findings: Finding[] };
    const warning = data.warnings.find((w) => w.kind === 'multixact-age' && w.subject === 'public.mx')!;
    expect(warning.measurement['multixactAge']).toBeGreaterThanOrEqual(1);
    expect(warning.message).toContain('mxid_age(relminmxid)');
    expect(findings).toContainEqual(expect.objectContaining({ rule: 'maintain/multixact-age', severity: 'warning' }));
    // The default threshold (1e9) is far away.
    const quiet = await dbops(['maintain', 'plan', '--database-url', mxDb.url, '--policies-dir', await policies(''), '--json'], testEnv());
    expect((JSON.parse(quiet.stdout) as { data: MaintenancePlan }).data.warnings.filter((w) => w.kind === 'multixact-age')).toEqual([]);
  });

  it('a REINDEX CONCURRENTLY that fails mid-run (lock_timeout, retries 0) has its invalid _ccnew dropped: the action fails, nothing is left', async () => {
    // A transaction that wrote to the table: REINDEX CONCURRENTLY creates bloat_pkey_ccnew, then waits for it
    // (writers must finish before the new index is built) past lock_timeout. It is not "long" (1h), so the
    // rebuild is not skipped up front.
    const dir = await policies('indexes:\n  min_size: 1MB\nlong_transaction: 1h\nlock_timeout: 2s\nretries: 0\n');
    const writer = new pg.Client({ connectionString: rebuildDb.url, application_name: 'maintain-test-writer' });
    await writer.connect();
    let released = false;
    const release = async () => {
      if (released) return;
      released = true;
      await writer.query('ROLLBACK').catch(() => undefined);
    };
    try {
      await writer.query('BEGIN');
      await writer.query("INSERT INTO bloat VALUES (1000001, 0, 'x')");
      const running = dbops(
        ['maintain', 'run', '--database-url', rebuildDb.url, '--policies-dir', dir, '--only', 'indexes', '--json', '--reports-dir', await tempDir()],
        testEnv(),
      );
      // Once the rebuild has failed, its cleanup (DROP INDEX CONCURRENTLY) waits for the writer too: end the
      // writer then, so the drop can finish. Without the cleanup, no such statement ever shows up.
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline) {
        const [dropping] = await rebuildDb.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'dbops maintain run' AND query LIKE 'DROP INDEX CONCURRENTLY%'",
        );
        if (dropping!.n > 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      await release();
      const out = await running;
      expect(out.code).toBe(1);
      const { data, findings } = JSON.parse(out.stdout) as RunJson;
      const rebuild = data.outcomes.find((o) => o.kind === 'reindex' && o.target === 'public.bloat_pkey')!;
      expect(rebuild).toMatchObject({ status: 'failed', attempts: 1 });
      expect(rebuild.detail).toContain('lock timeout');
      expect(rebuild.detail).toContain('dropped the invalid copies it left (bloat_pkey_ccnew)');
      expect(rebuild.after).toMatchObject({ droppedLeftovers: 'bloat_pkey_ccnew', leftovers: null, valid: true });
      expect(findings).toContainEqual(expect.objectContaining({ rule: 'maintain/failed', severity: 'error' }));
    } finally {
      await release();
      await writer.end();
    }
    // Seen from another session: no invalid index, no _ccnew, the original still valid.
    expect(await rebuildDb.query('SELECT indexrelid::regclass::text AS name FROM pg_index WHERE NOT indisvalid')).toEqual([]);
    expect(await rebuildDb.query("SELECT relname FROM pg_class WHERE relname LIKE 'bloat\\_pkey\\_cc%'")).toEqual([]);
  });
});
