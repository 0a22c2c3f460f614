// What `dbops monitor check` costs next to the raw queries of a pass, and what a scrape of `dbops monitor serve`
// costs, on a scale-1 seeded database of the bench server.
// Timed: `./dbops monitor check --json` (its own process; exit 1 when a check is critical is its success here)
// against one `psql -X -q -o /dev/null -f monitor.sql` process sending MONITOR_QUERIES (facts.ts, in
// databaseFacts' order). Best of BENCH_MONITOR_RUNS alternated runs. Goal: ≤ 1.5× psql. Also printed:
// `./dbops --version` alone, monitorCheck in-process (connect, the queries, the host sample, the judging), and
// `./dbops monitor serve` answering BENCH_MONITOR_SCRAPES sequential GET /metrics: p50 / p99 / max latency (the
// first pass runs before it listens; --interval 15s, so the scrapes are served from the newest pass but for
// the passes the interval lets through).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../pipeline/core/logger.ts';
import { createShell } from '../../pipeline/core/shell.ts';
import { parseDatabaseUrl } from '../../pipeline/infra/db/url.ts';
import { findPgBinaries, pgTool } from '../../pipeline/infra/pg/binaries.ts';
import { MONITOR_QUERIES, monitorCheck } from '../../pipeline/operations/monitoring/index.ts';
import { MonitoringPolicy, checksFor } from '../../pipeline/policy/monitoring.ts';
import { ROOT, dbops, testEnv } from '../helpers/cli.ts';
import { queryUrl } from '../helpers/db.ts';
import type { BenchResult } from './run.ts';
import { DBOPS, min, ms, ratio, timed, urlOf } from './common.ts';

const RUNS = Number(process.env['BENCH_MONITOR_RUNS'] ?? 5);
const SCRAPES = Number(process.env['BENCH_MONITOR_SCRAPES'] ?? 1000);
const GOAL = 1.5;

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

export async function bench(): Promise<BenchResult> {
  const admin = process.env['BENCH_DATABASE_URL'];
  if (!admin) throw new Error('BENCH_DATABASE_URL is not set (run through `npm run bench`)');
  const database = `bench_monitor_${randomBytes(3).toString('hex')}`;
  const url = urlOf(admin, database);
  const dir = await mkdtemp(join(tmpdir(), 'dbops-bench-monitor-'));
  const env = testEnv();
  const log = createLogger({ level: 'warn' });
  try {
    await queryUrl(admin, `CREATE DATABASE "${database}"`);
    const deploy = await dbops(['migrate', 'deploy', '--database-url', url], env);
    if (deploy.code !== 0) throw new Error(`migrate deploy failed:\n${deploy.all}`);
    const seed = await dbops(['seed', '--database-url', url, '--scale', '1'], env);
    if (seed.code !== 0) throw new Error(`seed failed:\n${seed.all}`);
    await queryUrl(url, 'VACUUM ANALYZE');

    const psql = await pgTool(await findPgBinaries(), 'psql');
    const file = join(dir, 'monitor.sql');
    await writeFile(
      file,
      `${Object.values(MONITOR_QUERIES)
        .map((q) => `${q.trim()};`)
        .join('\n')}\n`,
    );
    const args = ['monitor', 'check', '--json', '--database-url', url, '--reports-dir', join(dir, 'reports')];
    const fresh = () => timed(DBOPS, ['--version'], env);
    const checkOnce = async () => {
      await fresh();
      const r = await timed(DBOPS, args, env, [0, 1]);
      return { ms: r.ms, checks: (JSON.parse(r.stdout) as { data: { checks: unknown[] } }).data.checks.length };
    };
    const psqlOnce = async () => (await timed(psql, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-o', '/dev/null', '-d', url, '-f', file])).ms;

    const first = await checkOnce();
    await psqlOnce();
    const timedDbops: number[] = [];
    const timedPsql: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const pair = [async () => timedDbops.push((await checkOnce()).ms), async () => timedPsql.push(await psqlOnce())];
      for (const run of i % 2 ? pair.reverse() : pair) await run();
    }
    const startup: number[] = [];
    for (let i = 0; i < RUNS; i++) startup.push((await fresh()).ms);

    // In this process: monitorCheck alone (no module loading, no policy reading, no report).
    const target = parseDatabaseUrl(url);
    const checks = checksFor(MonitoringPolicy.parse({ version: 1 }), null);
    const ctx = { log, sh: createShell(log), signal: new AbortController().signal, env, progress: () => undefined, summarize: async () => 'skipped' as const };
    const inProcess: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t = performance.now();
      await monitorCheck({ target: { database: target, environment: null, checks, capacity: {}, replicas: [] } }, ctx);
      inProcess.push(performance.now() - t);
    }

    // monitor serve: 1,000 sequential scrapes.
    await fresh();
    const server = spawn(process.execPath, [join(ROOT, 'pipeline/bin/dbops.js'), 'monitor', 'serve', '--database-url', url, '--listen', '127.0.0.1:0'], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    server.stdout.on('data', (d: Buffer) => (out += d.toString()));
    server.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const latencies: number[] = [];
    let serveStarted = performance.now();
    let listening = 0;
    try {
      let metricsUrl: string | undefined;
      for (const deadline = Date.now() + 60_000; !metricsUrl;) {
        metricsUrl = /serving (http:\/\/[^ ]+\/metrics)/.exec(out)?.[1];
        if (Date.now() > deadline || server.exitCode !== null) throw new Error(`monitor serve did not start:\n${out}`);
        await new Promise((r) => setTimeout(r, 5));
      }
      listening = performance.now() - serveStarted;
      serveStarted = performance.now();
      for (let i = 0; i < SCRAPES; i++) {
        const t = performance.now();
        const res = await fetch(metricsUrl);
        await res.text();
        latencies.push(performance.now() - t);
        if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}`);
      }
    } finally {
      server.kill('SIGTERM');
      await new Promise((r) => server.on('close', r));
    }
    const scrapeSeconds = (performance.now() - serveStarted) / 1000;
    const stopped = /stopped after (\d+) scrapes? and (\d+) pass/.exec(out);

    const met = min(timedDbops) / min(timedPsql) <= GOAL;
    return {
      name: `monitoring: ./dbops monitor check vs psql running the same queries (scale 1, ${first.checks} checks); monitor serve scrape latency`,
      metrics: {
        [`./dbops monitor check --json, best of ${RUNS} (ms)`]: ms(min(timedDbops)),
        [`psql -X -q -f monitor.sql (MONITOR_QUERIES, one session), best of ${RUNS} (ms)`]: ms(min(timedPsql)),
        'dbops / psql (×)': ratio(min(timedDbops), min(timedPsql)),
        [`  ./dbops --version alone, best of ${RUNS} (ms)`]: ms(min(startup)),
        [`  monitorCheck in-process (connect, queries, 250 ms host sample, judging), best of ${RUNS} (ms)`]: ms(min(inProcess)),
        'every run, dbops | psql (ms)': timedDbops.map((d, i) => `${ms(d)} | ${ms(timedPsql[i]!)}`).join(', '),
        'monitor serve: start to listening, first pass included (ms)': ms(listening),
        [`monitor serve: ${SCRAPES} sequential GET /metrics, p50 | p99 | max (ms)`]: `${percentile(latencies, 50).toFixed(2)} | ${percentile(latencies, 99).toFixed(2)} | ${Math.max(...latencies).toFixed(2)}`,
        'monitor serve: scrapes | passes over the checks (in seconds of scraping)': stopped
          ? `${stopped[1]} | ${stopped[2]} (${scrapeSeconds.toFixed(1)} s)`
          : out.slice(-300),
      },
      goal: { description: `monitor check ≤ ${GOAL}× psql running the same queries (${met ? 'met' : 'NOT met'})`, met },
    };
  } finally {
    await queryUrl(admin, `DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`).catch((e: Error) =>
      process.stderr.write(`monitoring bench: dropping ${database}: ${e.message}\n`),
    );
    await rm(dir, { recursive: true, force: true });
  }
}
