// What `dbops queries report` costs next to the raw queries of a snapshot, on the bench server:
// a database of its own with pg_stat_statements created, TABLES tables (a primary key and two overlapping btrees
// each: the index review has work), and pg_stat_statements filled with STATEMENTS distinct statements of that
// database (distinct column lists per table: constants normalize, aliases do not count in the queryid). The
// counters are reset first and the set-up is untracked, so the entries of this database stay under
// pg_stat_statements.max (5,000) and none is evicted.
// Timed: `./dbops queries report --json` (its own process; a copy of policies/ whose snapshots.dir is a temp
// folder; one untimed run first, so every timed run compares with a previous snapshot as in production) against
// one `psql -X -f queries.sql` process sending what a snapshot sends (measureDatabase in
// pipeline/operations/queries/facts.ts, in its order: the SETs, the head queries, statementsQuery for this
// server's columns, the pg_stat_statements head and _info queries, SNAPSHOT_CATALOG_QUERIES). Best of
// BENCH_QUERIES_RUNS alternated runs. Goal: ≤ 1.5× psql. Also printed: start-up alone (./dbops --version), the
// command in-process (modules loaded), takeSnapshot alone in-process, and the JSON parse / stringify of a
// snapshot of that size (what reading the previous one and writing the new one cost in CPU).
import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { createLogger } from '../../pipeline/core/logger.ts';
import { parseDatabaseUrl } from '../../pipeline/infra/db/url.ts';
import { SNAPSHOT_CATALOG_QUERIES, statementsQuery } from '../../pipeline/operations/queries/facts.ts';
import { takeSnapshot } from '../../pipeline/operations/queries/snapshot.ts';
import type { QueriesReportData } from '../../pipeline/operations/queries/index.ts';
import { findPgBinaries, pgTool } from '../../pipeline/infra/pg/binaries.ts';
import { ROOT, dbops, testEnv } from '../helpers/cli.ts';
import { queryUrl } from '../helpers/db.ts';
import type { BenchResult } from './run.ts';
import { DBOPS, min, ms, ratio, timed, urlOf, withPg } from './common.ts';

const RUNS = Number(process.env['BENCH_QUERIES_RUNS'] ?? 5);
const TABLES = 50;
const COLUMNS = 10;
/** Per table: every single column, then ordered pairs of columns, up to this many statements. */
const PER_TABLE = 99;
const STATEMENTS = TABLES * PER_TABLE;
const GOAL = 1.5;
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

/** The column lists of one table's statements: each column alone, then ordered pairs. */
function columnLists(): string[][] {
  const lists: string[][] = [];
  for (let i = 0; i < COLUMNS; i++) lists.push([`c${i}`]);
  for (let i = 0; i < COLUMNS; i++) for (let j = 0; j < COLUMNS; j++) if (i !== j) lists.push([`c${i}`, `c${j}`]);
  return lists.slice(0, PER_TABLE);
}

/**
 * What measureDatabase and readStatements (facts.ts) send, in their order, one statement per round trip. The
 * head, schema, system identifier, columns and pg_stat_statements head queries are private to facts.ts: copied
 * here as sent; statementsQuery and the catalog queries are facts.ts' own.
 */
function snapshotQueries(schema: string, have: Set<string>): string {
  const { tables, indexes, foreignKeys, usage } = SNAPSHOT_CATALOG_QUERIES;
  const untracked = `SET pg_stat_statements.track = 'none';`;
  return [
    untracked,
    `SET default_transaction_read_only = on; SET statement_timeout = '5min';`,
    `SELECT current_database() AS database, current_setting('server_version_num')::int AS version,
            EXISTS (SELECT FROM pg_extension WHERE extname = 'hypopg') AS hypopg;`,
    `SELECT (SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_stat_statements') AS schema,
            current_setting('shared_preload_libraries') AS preload;`,
    `SELECT system_identifier::text AS id FROM pg_control_system();`,
    `SELECT attname AS name FROM pg_attribute WHERE attrelid = '${schema}.pg_stat_statements'::regclass AND attnum > 0;`,
    `${statementsQuery(schema, have)};`,
    `SELECT extversion AS version, to_regclass('${schema}.pg_stat_statements_info') IS NOT NULL AS info,
            current_setting('pg_stat_statements.max') AS max, current_setting('pg_stat_statements.track') AS track
       FROM pg_extension WHERE extname = 'pg_stat_statements';`,
    `SELECT dealloc::text, stats_reset FROM ${schema}.pg_stat_statements_info;`,
    untracked,
    `${usage};`,
    `${tables};`,
    `${indexes};`,
    `${foreignKeys};`,
    '',
  ].join('\n');
}

export async function bench(): Promise<BenchResult> {
  const admin = process.env['BENCH_DATABASE_URL'];
  if (!admin) throw new Error('BENCH_DATABASE_URL is not set (run through `npm run bench`)');
  const database = `bench_queries_${randomBytes(3).toString('hex')}`;
  const url = urlOf(admin, database);
  const dir = await mkdtemp(join(tmpdir(), 'dbops-bench-queries-'));
  const psql = await pgTool(await findPgBinaries(), 'psql');
  const env = testEnv();
  const log = createLogger({ level: 'warn' });
  try {
    // ---- the database: tables with overlapping indexes, pg_stat_statements, STATEMENTS distinct statements ----
    await queryUrl(admin, `CREATE DATABASE "${database}"`);
    const server = await withPg(url, async (c) => {
      await c.query(`SET pg_stat_statements.track = 'none'`);
      await c.query('CREATE EXTENSION pg_stat_statements');
      for (let t = 0; t < TABLES; t++) {
        const cols = Array.from({ length: COLUMNS }, (_, i) => `c${i} int NOT NULL`).join(', ');
        const values = Array.from({ length: COLUMNS }, (_, i) => `(g * ${i + 7}) % 1000`).join(', ');
        await c.query(`CREATE TABLE t${t} (id int PRIMARY KEY, ${cols});
          INSERT INTO t${t} SELECT g, ${values} FROM generate_series(1, 1000) g;
          CREATE INDEX t${t}_c0 ON t${t} (c0);
          CREATE INDEX t${t}_c0_c1 ON t${t} (c0, c1);`);
      }
      await c.query('VACUUM ANALYZE');
      const settings = (
        await c.query<{ preload: string; max: string; track: string; version: string }>(
          `SELECT current_setting('shared_preload_libraries') AS preload, current_setting('pg_stat_statements.max') AS max,
                  (SELECT reset_val FROM pg_settings WHERE name = 'pg_stat_statements.track') AS track,
                  current_setting('server_version') AS version`,
        )
      ).rows[0]!;
      if (Number(settings.max) < STATEMENTS + 30) throw new Error(`pg_stat_statements.max is ${settings.max}: fewer than ${STATEMENTS} statements fit`);
      // Nothing else in the entries (the other benches' statements, the set-up): none of this database's evicted.
      await c.query('SELECT pg_stat_statements_reset()');
      // Superuser: the statements of this session are tracked from here on, whatever the server's track is.
      await c.query(`SET pg_stat_statements.track = 'top'`);
      const lists = columnLists();
      for (let t = 0; t < TABLES; t++)
        for (const cols of lists)
          await c.query(`SELECT ${cols.join(', ')} FROM t${t} WHERE id = $1 AND c${COLUMNS - 1} >= $2 ORDER BY ${cols[0]} LIMIT 10`, [t, 0]);
      // A few more calls on some of them, so the interval of the timed runs' comparisons is not empty.
      for (let t = 0; t < TABLES; t++) await c.query(`SELECT c0 FROM t${t} WHERE id = $1 AND c${COLUMNS - 1} >= $2 ORDER BY c0 LIMIT 10`, [t, 0]);
      await c.query(`SET pg_stat_statements.track = 'none'`);
      return settings;
    });
    const tracked = async () =>
      withPg(url, async (c) => {
        await c.query(`SET pg_stat_statements.track = 'none'`);
        const r = await c.query<{ n: string; chars: string; dealloc: string }>(
          `SELECT count(*)::text AS n, coalesce(avg(length(query)), 0)::int::text AS chars,
                  (SELECT dealloc::text FROM pg_stat_statements_info) AS dealloc
             FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        );
        return { n: Number(r.rows[0]!.n), chars: Number(r.rows[0]!.chars), dealloc: Number(r.rows[0]!.dealloc) };
      });
    const before = await tracked();
    if (before.n < STATEMENTS - 100) throw new Error(`pg_stat_statements holds ${before.n} statements of ${database}, expected ${STATEMENTS}`);

    // ---- the psql side: what a snapshot sends -----------------------------------------------------------------
    const have = new Set(
      (
        await queryUrl<{ name: string }>(url, `SELECT attname AS name FROM pg_attribute WHERE attrelid = 'public.pg_stat_statements'::regclass AND attnum > 0`)
      ).map((r) => r.name),
    );
    const queries = join(dir, 'queries.sql');
    await writeFile(queries, snapshotQueries('public', have));

    // ---- the dbops side: the repository's policies, snapshots in a temp folder ---------------------------------
    const policies = join(dir, 'policies');
    await cp(join(ROOT, 'policies'), policies, { recursive: true });
    const snapshotsDir = join(dir, 'snapshots');
    const queriesYaml = YAML.parse(await readFile(join(policies, 'queries.yaml'), 'utf8')) as Record<string, unknown>;
    await writeFile(
      join(policies, 'queries.yaml'),
      YAML.stringify({ ...queriesYaml, snapshots: { ...(queriesYaml['snapshots'] as object | undefined), dir: snapshotsDir } }),
    );
    const reportsDir = join(dir, 'reports');
    const args = ['queries', 'report', '--json', '--database-url', url, '--policies-dir', policies, '--reports-dir', reportsDir];
    // The bundle is rebuilt when a source changed (others edit pipeline/ meanwhile): never inside a timed run.
    const fresh = () => timed(DBOPS, ['--version'], env);
    // Snapshots are named by the second they are taken, at most one a second per label: a run never starts in
    // the second the previous one ended (an untimed wait).
    let lastEnd = 0;
    const nextSecond = async () => {
      if (Math.floor(Date.now() / 1000) === Math.floor(lastEnd / 1000)) await sleep(1000 - (Date.now() % 1000) + 5);
    };
    const reportOnce = async () => {
      await fresh();
      await nextSecond();
      const r = await timed(DBOPS, args, env);
      lastEnd = Date.now();
      return { ms: r.ms, data: (JSON.parse(r.stdout) as { data: QueriesReportData }).data };
    };
    const psqlOnce = async () => (await timed(psql, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-o', '/dev/null', '-d', url, '-f', queries])).ms;

    // Untimed once each: the bundle, the page cache, the first snapshot (the timed runs compare with a previous one).
    const first = await reportOnce();
    await psqlOnce();
    const timedDbops: number[] = [];
    const timedPsql: number[] = [];
    let last = first.data;
    // Alternated, the order swapped every run, so a burst of foreign load hits both sides alike.
    for (let i = 0; i < RUNS; i++) {
      const pair = [
        async () => {
          const r = await reportOnce();
          timedDbops.push(r.ms);
          last = r.data;
        },
        async () => timedPsql.push(await psqlOnce()),
      ];
      for (const run of i % 2 ? pair.reverse() : pair) await run();
    }
    if (!last.previous) throw new Error('queries report compared with no previous snapshot');

    // The newest snapshot's size.
    const folder = join(snapshotsDir, database);
    const files = (await readdir(folder)).filter((f) => f.endsWith('.json')).sort();
    const newest = join(folder, files.at(-1)!);
    const snapshotBytes = (await stat(newest)).size;
    const snapshotText = await readFile(newest, 'utf8');

    // In this process, modules loaded: the command, the snapshot alone, and the JSON of a snapshot.
    const inProcess: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      await nextSecond();
      const t = performance.now();
      const out = await dbops(args, env);
      inProcess.push(performance.now() - t);
      lastEnd = Date.now();
      if (out.code !== 0) throw new Error(`queries report failed (exit ${out.code}):\n${out.all}`);
    }
    const primary = parseDatabaseUrl(url);
    const snapshotOnly: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t = performance.now();
      await takeSnapshot(primary, [], { label: 'bench', environment: null }, { log });
      snapshotOnly.push(performance.now() - t);
    }
    const parse: number[] = [];
    const stringify: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      let t = performance.now();
      const parsed = JSON.parse(snapshotText) as unknown;
      parse.push(performance.now() - t);
      t = performance.now();
      JSON.stringify(parsed);
      stringify.push(performance.now() - t);
    }
    // `./dbops queries snapshot --json` as its own process: the snapshot without the comparison and the review.
    const snapshotArgs = ['queries', 'snapshot', '--json', '--database-url', url, '--policies-dir', policies, '--reports-dir', reportsDir];
    const snapshotProcess: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      await fresh();
      await nextSecond();
      snapshotProcess.push((await timed(DBOPS, snapshotArgs, env)).ms);
      lastEnd = Date.now();
    }
    // BENCH_QUERIES_PROFILE=<dir>: one more report run under `node --cpu-prof`, its profile left in <dir>.
    const profileDir = process.env['BENCH_QUERIES_PROFILE'];
    if (profileDir) {
      await fresh();
      await nextSecond();
      await timed(process.execPath, ['--cpu-prof', '--cpu-prof-dir', profileDir, DBOPS, ...args], env);
      lastEnd = Date.now();
    }
    // What start-up alone costs: ./dbops --version, best of as many runs.
    const startup: number[] = [];
    for (let i = 0; i < RUNS; i++) startup.push((await fresh()).ms);
    const after = await tracked();

    const r = ratio(min(timedDbops), min(timedPsql));
    const met = min(timedDbops) / min(timedPsql) <= GOAL;
    const metrics: Record<string, number | string> = {
      'server | pg_stat_statements.max | track (server)': `${server.version} | ${server.max} | ${server.track}`,
      'statements tracked in the database (pg_stat_statements, before | after the runs)': `${before.n} | ${after.n}`,
      'pg_stat_statements_info.dealloc (evictions since the reset, after the runs)': after.dealloc,
      'mean query text (chars)': before.chars,
      'statements in the last report (totals.statements)': last.statements.totals.statements,
      'tables | indexes in the last snapshot (index review findings)': `${TABLES} | ${TABLES * 3} (${last.indexes.findings.length})`,
      'snapshot file (bytes)': snapshotBytes,
      [`./dbops queries report --json, best of ${RUNS} (ms)`]: ms(min(timedDbops)),
      [`psql -X -q -f queries.sql (the same queries, one session), best of ${RUNS} (ms)`]: ms(min(timedPsql)),
      'dbops / psql (×)': r,
      [`  ./dbops --version alone, best of ${RUNS} (ms)`]: ms(min(startup)),
      [`  queries report in-process (modules loaded), best of ${RUNS} (ms)`]: ms(min(inProcess)),
      [`  ./dbops queries snapshot --json (its own process, no comparison), best of ${RUNS} (ms)`]: ms(min(snapshotProcess)),
      [`  takeSnapshot alone in-process (connect + queries + rows), best of ${RUNS} (ms)`]: ms(min(snapshotOnly)),
      [`  JSON.parse | JSON.stringify of the snapshot, best of ${RUNS} (ms)`]: `${ms(min(parse))} | ${ms(min(stringify))}`,
      'every run, dbops | psql (ms)': timedDbops.map((d, i) => `${ms(d)} | ${ms(timedPsql[i]!)}`).join(', '),
    };
    return {
      name: `queries: ./dbops queries report vs psql running the same queries (${before.n} tracked statements)`,
      metrics,
      goal: { description: `queries report ≤ ${GOAL}× psql running the same queries (${met ? 'met' : 'NOT met'})`, met },
    };
  } finally {
    await queryUrl(admin, `DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}
