// What `dbops maintain plan` and `dbops maintain run` cost next to the raw statements, on the bench server:
// 1. `./dbops maintain plan --json` (its own process, the repository's policies/maintenance.yaml) on the scale-1
//    AstroFinance database with pgstattuple installed, against one `psql -X -f queries.sql` process running the
//    same measuring queries: the raw cost of measuring. The catalog queries are facts.ts's own
//    (MAINTENANCE_CATALOG_QUERIES); planQueries adds the SETs, the head query, one pgstattuple_approx per table and
//    one pgstatindex per valid btree of at least indexes.min_size as facts.ts sends them, one per round trip.
//    Goal: ≤ 1.5× the psql process. Best of BENCH_MAINTENANCE_RUNS alternated runs, after one untimed run each.
// 2. What an exact bloat measure costs per GiB: pgstattuple (a full read of the table), pgstattuple_approx (the
//    pages not all-visible) and pgstatindex (every page of the index) on the biggest tables and btrees of that
//    database (freshly vacuumed: its visibility map is set) and on the bloated table of 3 before its VACUUM.
//    Warm cache (shared_buffers 512MB and the page cache hold most of it): a cold read adds the disk's time.
// 3. `./dbops maintain run --json` on a bloated table of BENCH_MAINTENANCE_ROWS (1 M) rows in a database of its
//    own (the plan: VACUUM (ANALYZE) and REINDEX INDEX CONCURRENTLY of its primary key) against one psql process
//    running just those two statements. The table is rebuilt by the same statements before every run, so both
//    sides start from the same state; the order alternates; best of BENCH_MAINTENANCE_RUN_RUNS. Goal: ≤ 1.1×
//    psql, with the policy's throttle off (throttle.cost_delay: 0), so both run the same unthrottled VACUUM.
//    dbops' extra work is printed apart: start-up, the maintenance lock, two surveys (before the VACUUM and
//    again before the REINDEX, each reading the table with pgstattuple_approx and the index with pgstatindex),
//    the proofs (statistics polled up to 5 s after the VACUUM, the index's state and leftovers after the
//    REINDEX) and the report. One more pair runs as the repository's policy ships (VACUUM throttled at
//    autovacuum's pace, throttle.cost_delay 2 ms) against psql with the same SET vacuum_cost_delay /
//    vacuum_cost_limit: what the throttle costs on an idle server, not part of the goal.
import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import YAML from 'yaml';
import { MAINTENANCE_CATALOG_QUERIES, type MaintenancePlan, type MaintenanceRun } from '../../pipeline/operations/maintenance/index.ts';
import { parseSize } from '../../pipeline/core/size.ts';
import { findPgBinaries, pgTool } from '../../pipeline/infra/pg/binaries.ts';
import { ROOT, dbops, testEnv } from '../helpers/cli.ts';
import { queryUrl } from '../helpers/db.ts';
import type { BenchResult } from './run.ts';
import { DBOPS, min, ms, ratio, timed, urlOf, withPg } from './common.ts';

const RUNS = Number(process.env['BENCH_MAINTENANCE_RUNS'] ?? 5);
const RUN_RUNS = Number(process.env['BENCH_MAINTENANCE_RUN_RUNS'] ?? 3);
const ROWS = Number(process.env['BENCH_MAINTENANCE_ROWS'] ?? 1_000_000);
const GOAL_PLAN = 1.5;
const GOAL_RUN = 1.1;
const GIB = 1024 ** 3;
const MIB = 1024 ** 2;
const seconds = (x: number) => Number((x / 1000).toFixed(2));

/**
 * The queries of measureMaintenance (pipeline/operations/maintenance/facts.ts), in its order, one statement per
 * round trip; the relations measured with pgstattuple are those dbops reads (every table; valid btrees ≥ min_size).
 */
function planQueries(ext: string, tableOids: string[], indexOids: string[]): string {
  const { tables: TABLES, indexes: INDEXES, transactions: TRANSACTIONS, builds: BUILDS } = MAINTENANCE_CATALOG_QUERIES;
  return [
    `SET default_transaction_read_only = on; SET lock_timeout = '2s'; SET statement_timeout = '5min';`,
    `SELECT now() AS at, current_database() AS database, current_setting('server_version_num')::int AS version,
        current_setting('block_size')::int AS block_size,
        (SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pgstattuple') AS pgstattuple;`,
    `${TABLES};`,
    ...tableOids.map(
      (oid) =>
        `SELECT approx_tuple_count::float8 AS live, dead_tuple_count::float8 AS dead, dead_tuple_len::float8 AS dead_bytes, approx_free_space::float8 AS free_bytes, scanned_percent::float8 AS scanned FROM ${ext}.pgstattuple_approx(${oid}::oid);`,
    ),
    `${INDEXES};`,
    ...indexOids.map(
      (oid) =>
        `SELECT leaf_pages::float8 AS leaf, internal_pages::float8 AS internal, empty_pages::float8 AS empty, deleted_pages::float8 AS deleted, avg_leaf_density::float8 AS density FROM ${ext}.pgstatindex(${oid}::regclass);`,
    ),
    `${TRANSACTIONS};`,
    `${BUILDS};`,
    '',
  ].join('\n');
}

/** A table of `rows` rows, half of them updated twice, then nine in ten deleted, with autovacuum off: nothing cleans up. */
const bloatSql = (rows: number) => `
DROP TABLE IF EXISTS bloat;
CREATE TABLE bloat (id int PRIMARY KEY, v int NOT NULL, pad text NOT NULL) WITH (autovacuum_enabled = off);
INSERT INTO bloat SELECT g, 0, repeat('x', 40) FROM generate_series(1, ${rows}) g;
UPDATE bloat SET v = v + 1 WHERE id % 2 = 0;
UPDATE bloat SET v = v + 1 WHERE id % 2 = 0;
DELETE FROM bloat WHERE id % 10 <> 0;`;

/** The best of three of one pgstattuple function on one relation, in ms. */
async function measureCost(c: pg.Client, sql: string, oid: string): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    await c.query(sql, [oid]);
    times.push(performance.now() - t);
  }
  return min(times);
}

interface CostRow {
  what: string;
  fn: 'pgstattuple' | 'pgstattuple_approx' | 'pgstatindex';
  bytes: number;
  ms: number;
}

async function exactCosts(
  url: string,
  objects: Array<{ oid: string; name: string; bytes: number; kind: 'table' | 'index' }>,
  label: string,
): Promise<CostRow[]> {
  return withPg(url, async (c) => {
    const rows: CostRow[] = [];
    for (const o of objects) {
      const fns = o.kind === 'table' ? (['pgstattuple', 'pgstattuple_approx'] as const) : (['pgstatindex'] as const);
      for (const fn of fns) {
        const cast = fn === 'pgstatindex' ? 'regclass' : 'oid';
        rows.push({ what: `${label}${o.name}`, fn, bytes: o.bytes, ms: await measureCost(c, `SELECT * FROM public.${fn}($1::${cast})`, o.oid) });
      }
    }
    return rows;
  });
}

const perGiB = (rows: CostRow[]) => (rows.reduce((n, r) => n + r.ms, 0) / rows.reduce((n, r) => n + r.bytes, 0)) * GIB;

export async function bench(): Promise<BenchResult> {
  const admin = process.env['BENCH_DATABASE_URL'];
  if (!admin) throw new Error('BENCH_DATABASE_URL is not set (run through `npm run bench`)');
  const suffix = randomBytes(3).toString('hex');
  const seeded = `bench_maint_${suffix}`;
  const bloated = `bench_maint_run_${suffix}`;
  const url = urlOf(admin, seeded);
  const runUrl = urlOf(admin, bloated);
  const dir = await mkdtemp(join(tmpdir(), 'dbops-bench-maintenance-'));
  const psql = await pgTool(await findPgBinaries(), 'psql');
  const env = testEnv();
  const metrics: Record<string, number | string> = {};
  try {
    // The repository's policies, unchanged: its thresholds plan both the scale-1 survey and the 1 M-row table's
    // actions. A copy with the throttle off for the goal of 3: the same unthrottled VACUUM as bare psql.
    const policies = join(dir, 'policies');
    await cp(join(ROOT, 'policies'), policies, { recursive: true });
    const unthrottled = join(dir, 'policies-unthrottled');
    await cp(join(ROOT, 'policies'), unthrottled, { recursive: true });
    const maintenanceYaml = YAML.parse(await readFile(join(policies, 'maintenance.yaml'), 'utf8')) as Record<string, unknown>;
    const shipped = { ...{ cost_delay: 2, cost_limit: 200 }, ...(maintenanceYaml['throttle'] as object | undefined) } as {
      cost_delay: number;
      cost_limit: number;
    };
    await writeFile(join(unthrottled, 'maintenance.yaml'), YAML.stringify({ ...maintenanceYaml, throttle: { ...shipped, cost_delay: 0 } }));
    // indexes.min_size: dbops reads no smaller btree with pgstatindex.
    const minIndexBytes = parseSize((maintenanceYaml['indexes'] as { min_size?: string } | undefined)?.min_size ?? '10MB') ?? 0;
    // The bundle is rebuilt when a source changed (others edit pipeline/ meanwhile): never inside a timed run.
    const fresh = () => timed(DBOPS, ['--version'], env);

    // ---- 1. maintain plan on scale 1 vs the same queries in one psql session ------------------------------
    await queryUrl(admin, `CREATE DATABASE "${seeded}"`);
    const deploy = await dbops(['migrate', 'deploy', '--database-url', url], env);
    if (deploy.code !== 0) throw new Error(`migrate deploy failed:\n${deploy.all}`);
    const seed = await dbops(['seed', '--database-url', url, '--scale', '1'], env);
    if (seed.code !== 0) throw new Error(`seed failed:\n${seed.all}`);
    await queryUrl(url, 'CREATE EXTENSION pgstattuple');
    await queryUrl(url, 'VACUUM ANALYZE');
    await queryUrl(admin, 'CHECKPOINT');
    const [{ bytes: dbBytes }] = (await queryUrl<{ bytes: string }>(admin, 'SELECT pg_database_size($1)::text AS bytes', [seeded])) as [{ bytes: string }];

    const tableOids = (
      await queryUrl<{ oid: string }>(
        url,
        `SELECT c.oid::int8::text AS oid FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid WHERE c.relkind IN ('r', 'm') ORDER BY s.schemaname, s.relname`,
      )
    ).map((r) => r.oid);
    const indexOids = (
      await queryUrl<{ oid: string }>(
        url,
        `SELECT ic.oid::int8::text AS oid
           FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid JOIN pg_class tc ON tc.oid = x.indrelid
           JOIN pg_namespace n ON n.oid = ic.relnamespace JOIN pg_am am ON am.oid = ic.relam
          WHERE tc.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
            AND am.amname = 'btree' AND x.indisvalid AND pg_relation_size(ic.oid) >= $1
          ORDER BY n.nspname, ic.relname`,
        [minIndexBytes],
      )
    ).map((r) => r.oid);
    const queries = join(dir, 'queries.sql');
    await writeFile(queries, planQueries('public', tableOids, indexOids));

    const planArgs = ['maintain', 'plan', '--json', '--database-url', url, '--policies-dir', policies];
    const planOnce = async () => {
      await fresh();
      const r = await timed(DBOPS, planArgs, env);
      return { ms: r.ms, plan: (JSON.parse(r.stdout) as { data: MaintenancePlan }).data };
    };
    const psqlPlanOnce = async () => (await timed(psql, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-o', '/dev/null', '-d', url, '-f', queries])).ms;
    // Untimed once each: the bundle, the page cache.
    const first = await planOnce();
    if (!first.plan.pgstattuple) throw new Error('maintain plan did not see pgstattuple');
    if (first.plan.measured.tables !== tableOids.length)
      throw new Error(`maintain plan measured ${first.plan.measured.tables} tables, the queries ${tableOids.length}`);
    await psqlPlanOnce();
    const planDbops: number[] = [];
    const planPsql: number[] = [];
    // Alternated, the order swapped every run, so a burst of foreign load hits both sides alike.
    for (let i = 0; i < RUNS; i++) {
      const pair = [async () => planDbops.push((await planOnce()).ms), async () => planPsql.push(await psqlPlanOnce())];
      for (const run of i % 2 ? pair.reverse() : pair) await run();
    }
    const planRatio = min(planDbops) / min(planPsql);
    // The same command in this process (modules loaded by the runs before): policies, connecting, the queries, the plan.
    const inProcess: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t = performance.now();
      const out = await dbops(planArgs, env);
      inProcess.push(performance.now() - t);
      if (out.code !== 0) throw new Error(`maintain plan failed (exit ${out.code}):\n${out.all}`);
    }
    // What start-up alone costs: ./dbops --version, best of as many runs.
    const startup: number[] = [];
    for (let i = 0; i < RUNS; i++) startup.push((await fresh()).ms);
    Object.assign(metrics, {
      'scale-1 database (MiB)': Math.round(Number(dbBytes) / MIB),
      'tables (pgstattuple_approx) | btrees ≥ indexes.min_size (pgstatindex)': `${tableOids.length} | ${indexOids.length}`,
      'planned actions on scale 1 (fresh VACUUM ANALYZE)': first.plan.actions.length,
      [`plan: ./dbops maintain plan --json, best of ${RUNS} (ms)`]: ms(min(planDbops)),
      [`plan: psql -X -f queries.sql, best of ${RUNS} (ms)`]: ms(min(planPsql)),
      'plan: dbops / psql (×)': ratio(min(planDbops), min(planPsql)),
      [`  ./dbops --version alone, best of ${RUNS} (ms)`]: ms(min(startup)),
      [`  maintain plan in-process (modules loaded), best of ${RUNS} (ms)`]: ms(min(inProcess)),
      'plan: every run, dbops | psql (ms)': planDbops.map((d, i) => `${ms(d)} | ${ms(planPsql[i]!)}`).join(', '),
    });

    // ---- 2. exact measures per GiB on the biggest tables and btrees of scale 1 -----------------------------
    const biggest = await queryUrl<{ oid: string; name: string; bytes: string; kind: 'table' | 'index' }>(
      url,
      `(SELECT c.oid::int8::text AS oid, c.relname AS name, pg_relation_size(c.oid)::text AS bytes, 'table' AS kind
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind = 'r' AND n.nspname = 'public' ORDER BY pg_relation_size(c.oid) DESC LIMIT 3)
       UNION ALL
       (SELECT c.oid::int8::text, c.relname, pg_relation_size(c.oid)::text, 'index'
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_am am ON am.oid = c.relam
         WHERE c.relkind = 'i' AND am.amname = 'btree' AND n.nspname = 'public' ORDER BY pg_relation_size(c.oid) DESC LIMIT 3)`,
    );
    const costs = await exactCosts(
      url,
      biggest.map((b) => ({ ...b, bytes: Number(b.bytes) })),
      '',
    );

    // ---- 3. maintain run on a bloated 1 M-row table vs VACUUM (ANALYZE) + REINDEX CONCURRENTLY in psql -----
    await queryUrl(admin, `CREATE DATABASE "${bloated}"`);
    await queryUrl(runUrl, 'CREATE EXTENSION pgstattuple');
    const build = async () => {
      await queryUrl(runUrl, bloatSql(ROWS));
      // The build's dirty pages are written before either side starts, not during it.
      await queryUrl(admin, 'CHECKPOINT');
    };
    const rawSql = join(dir, 'raw.sql');
    const statements = 'VACUUM (ANALYZE) public.bloat;\nREINDEX INDEX CONCURRENTLY public.bloat_pkey;\n';
    await writeFile(rawSql, `\\timing on\n${statements}`);
    const rawThrottled = join(dir, 'raw-throttled.sql');
    await writeFile(rawThrottled, `SET vacuum_cost_delay = ${shipped.cost_delay};\nSET vacuum_cost_limit = ${shipped.cost_limit};\n\\timing on\n${statements}`);
    const state = async () =>
      (
        await queryUrl<{ heap: string; index: string; dead: string }>(
          runUrl,
          `SELECT pg_relation_size('bloat')::text AS heap, pg_relation_size('bloat_pkey')::text AS index,
                  (SELECT dead_tuple_count FROM public.pgstattuple('bloat'))::text AS dead`,
        )
      )[0]!;

    // An untimed build first: the bundle and the first REINDEX. On it, a dry run (start-up and one survey of the
    // fresh table, whose first read sets every tuple's hint bits: the first part of `maintain run`), then the
    // bloated table's measures before VACUUM (pages not all-visible, so pgstattuple_approx reads them all).
    const reportsDir = join(dir, 'reports');
    await build();
    await fresh();
    const dry = await timed(
      DBOPS,
      ['maintain', 'run', '--dry-run', '--json', '--database-url', runUrl, '--policies-dir', unthrottled, '--reports-dir', reportsDir],
      env,
    );
    const before = await state();
    const bloatCosts = await exactCosts(
      runUrl,
      (
        await queryUrl<{ oid: string; name: string; bytes: string; kind: 'table' | 'index' }>(
          runUrl,
          `SELECT c.oid::int8::text AS oid, c.relname AS name, pg_relation_size(c.oid)::text AS bytes, CASE c.relkind WHEN 'i' THEN 'index' ELSE 'table' END AS kind
             FROM pg_class c WHERE c.relname IN ('bloat', 'bloat_pkey') ORDER BY c.relkind DESC`,
        )
      ).map((b) => ({ ...b, bytes: Number(b.bytes) })),
      'before VACUUM: ',
    );
    // The plan of the dry run: exactly the two actions compared.
    const planned = (JSON.parse(dry.stdout) as { data: MaintenanceRun }).data.plan.actions.map((a) => `${a.kind} ${a.target}`);
    if (
      planned.join(', ') !== 'vacuum-analyze public.bloat, reindex public.bloat_pkey' &&
      planned.join(', ') !== 'reindex public.bloat_pkey, vacuum-analyze public.bloat'
    )
      throw new Error(`maintain run would not run exactly VACUUM (ANALYZE) bloat and REINDEX bloat_pkey: ${planned.join(', ')}`);

    interface DbopsRun {
      ms: number;
      run: MaintenanceRun;
    }
    const runDbops: DbopsRun[] = [];
    const runPsql: Array<{ ms: number; vacuumMs: number; reindexMs: number }> = [];
    const ends: string[] = [];
    const dbopsRun = async (policyDir: string) => {
      await build();
      await fresh();
      const r = await timed(DBOPS, ['maintain', 'run', '--json', '--database-url', runUrl, '--policies-dir', policyDir, '--reports-dir', reportsDir], env);
      const run = (JSON.parse(r.stdout) as { data: MaintenanceRun }).data;
      if (run.counts.ok !== 2 || run.outcomes.length !== 2)
        throw new Error(`maintain run did not prove both actions: ${run.outcomes.map((o) => `${o.kind} ${o.status}: ${o.detail}`).join('; ')}`);
      return { ms: r.ms, run };
    };
    const psqlRun = async (file: string) => {
      await build();
      const r = await timed(psql, ['-X', '-v', 'ON_ERROR_STOP=1', '-d', runUrl, '-f', file]);
      const times = [...r.stdout.matchAll(/^Time: ([\d.]+) ms/gm)].map((m) => Number(m[1]));
      if (times.length !== 2) throw new Error(`psql printed ${times.length} timings:\n${r.stdout}`);
      return { ms: r.ms, vacuumMs: times[0]!, reindexMs: times[1]! };
    };
    const dbopsOnce = async (keep = true) => {
      const { ms: elapsed, run } = await dbopsRun(unthrottled);
      if (keep) {
        runDbops.push({ ms: elapsed, run });
        const s = await state();
        ends.push(`dbops heap ${s.heap} index ${s.index} dead ${s.dead}`);
      }
    };
    const psqlOnce = async (keep = true) => {
      const r = await psqlRun(rawSql);
      if (keep) {
        runPsql.push(r);
        const s = await state();
        ends.push(`psql heap ${s.heap} index ${s.index} dead ${s.dead}`);
      }
    };
    await dbopsOnce(false);
    await psqlOnce(false);
    for (let i = 0; i < RUN_RUNS; i++) {
      const pair = [() => dbopsOnce(), () => psqlOnce()];
      for (const run of i % 2 ? pair.reverse() : pair) await run();
    }
    // As the repository's policy ships: VACUUM throttled, against psql with the same settings (one pair, untimed goal).
    const throttledDbops = await dbopsRun(policies);
    const throttledPsql = await psqlRun(rawThrottled);
    const bestDbops = runDbops.reduce((a, b) => (b.ms < a.ms ? b : a));
    const bestPsql = runPsql.reduce((a, b) => (b.ms < a.ms ? b : a));
    const runRatio = bestDbops.ms / bestPsql.ms;
    const vacuumOf = (r: DbopsRun) => r.run.outcomes.find((o) => o.kind === 'vacuum-analyze')!.durationMs;
    const reindexOf = (r: DbopsRun) => r.run.outcomes.find((o) => o.kind === 'reindex')!.durationMs;
    const outsideActions = (r: DbopsRun) => r.ms - vacuumOf(r) - reindexOf(r);
    Object.assign(metrics, {
      [`run: bloated table, ${ROWS} rows (heap | pkey | dead tuples)`]: `${Math.round(Number(before.heap) / MIB)} MiB | ${Math.round(Number(before.index) / MIB)} MiB | ${before.dead}`,
      [`run: ./dbops maintain run --json, best of ${RUN_RUNS} (s)`]: seconds(bestDbops.ms),
      '  of which VACUUM (ANALYZE) action, statement + statistics proof (s)': seconds(vacuumOf(bestDbops)),
      '  of which REINDEX action, leftovers check + statement + proof (s)': seconds(reindexOf(bestDbops)),
      '  of which the rest: start-up, lock, two surveys, ownership check, report (s)': seconds(outsideActions(bestDbops)),
      '  (a dry run on a fresh build: start-up + the first survey (s))': seconds(dry.ms),
      [`run: psql -X -f (VACUUM (ANALYZE); REINDEX INDEX CONCURRENTLY), best of ${RUN_RUNS} (s)`]: seconds(bestPsql.ms),
      '  of which VACUUM (ANALYZE) | REINDEX, \\timing (s)': `${seconds(bestPsql.vacuumMs)} | ${seconds(bestPsql.reindexMs)}`,
      'run: dbops / psql (×)': ratio(bestDbops.ms, bestPsql.ms),
      'run: every run, dbops (vacuum action, reindex action, rest) | psql (vacuum, reindex) (s)': runDbops
        .map(
          (d, i) =>
            `${seconds(d.ms)} (${seconds(vacuumOf(d))}, ${seconds(reindexOf(d))}, ${seconds(outsideActions(d))}) | ${seconds(runPsql[i]!.ms)} (${seconds(runPsql[i]!.vacuumMs)}, ${seconds(runPsql[i]!.reindexMs)})`,
        )
        .join('; '),
      'run: end states (bytes, dead tuples)': ends.join('; '),
      [`run, throttled as shipped (cost_delay ${shipped.cost_delay} ms, cost_limit ${shipped.cost_limit}): dbops (vacuum action, reindex action, rest) | psql with the same SETs (vacuum, reindex) (s)`]: `${seconds(throttledDbops.ms)} (${seconds(vacuumOf(throttledDbops))}, ${seconds(reindexOf(throttledDbops))}, ${seconds(outsideActions(throttledDbops))}) | ${seconds(throttledPsql.ms)} (${seconds(throttledPsql.vacuumMs)}, ${seconds(throttledPsql.reindexMs)})`,
      'run, throttled: dbops / psql (×)': ratio(throttledDbops.ms, throttledPsql.ms),
    });

    for (const fn of ['pgstattuple', 'pgstattuple_approx', 'pgstatindex'] as const) {
      const rows = costs.filter((c) => c.fn === fn);
      metrics[`${fn}, biggest of scale 1, warm (ms/GiB)`] = Math.round(perGiB(rows));
      for (const r of rows) metrics[`  ${fn}(${r.what}), ${Math.round(r.bytes / MIB)} MiB (ms)`] = Number(r.ms.toFixed(1));
    }
    for (const r of bloatCosts)
      metrics[`${r.fn}(${r.what}), ${Math.round(r.bytes / MIB)} MiB (ms; ms/GiB)`] = `${r.ms.toFixed(1)}; ${Math.round((r.ms / r.bytes) * GIB)}`;

    const goals = [
      { description: `maintain plan ≤ ${GOAL_PLAN}× psql running the same queries`, met: planRatio <= GOAL_PLAN },
      { description: `maintain run ≤ ${GOAL_RUN}× psql running VACUUM (ANALYZE) + REINDEX INDEX CONCURRENTLY`, met: runRatio <= GOAL_RUN },
    ];
    return {
      name: 'maintenance: ./dbops maintain plan / run vs psql running the same queries and statements',
      metrics,
      goal: { description: goals.map((g) => `${g.description} (${g.met ? 'met' : 'NOT met'})`).join('; '), met: goals.every((g) => g.met) },
    };
  } finally {
    for (const d of [seeded, bloated]) await queryUrl(admin, `DROP DATABASE IF EXISTS "${d}" WITH (FORCE)`).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}
