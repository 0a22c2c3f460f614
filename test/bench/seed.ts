// `dbops seed` at the default scale (≈ 1,000,000 journal lines) into a fresh, migrated database on the
// bench server, through the real CLI code path. Goal: the whole seed in 60 s or less.
import { randomBytes } from 'node:crypto';
import type { SeedData } from '../../pipeline/seed/index.ts';
import { dbops, testEnv } from '../helpers/cli.ts';
import { queryUrl } from '../helpers/db.ts';
import type { BenchResult } from './run.ts';

const GOAL_SECONDS = 60;

export async function bench(): Promise<BenchResult> {
  const adminUrl = process.env['BENCH_DATABASE_URL'];
  if (!adminUrl) throw new Error('BENCH_DATABASE_URL is not set (run through `npm run bench`)');
  const name = `bench_seed_${randomBytes(4).toString('hex')}`;
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  await queryUrl(adminUrl, `CREATE DATABASE "${name}"`);
  try {
    const deploy = await dbops(['migrate', 'deploy', '--database-url', url.toString()], testEnv());
    if (deploy.code !== 0) throw new Error(`migrate deploy failed (exit ${deploy.code}):\n${deploy.all}`);
    const started = performance.now();
    const run = await dbops(['seed', '--database-url', url.toString(), '--json'], testEnv());
    const seconds = (performance.now() - started) / 1000;
    if (run.code !== 0) throw new Error(`seed failed (exit ${run.code}):\n${run.all}`);
    const data = (JSON.parse(run.stdout) as { data: SeedData }).data;
    const rows = data.tables.reduce((a, t) => a + t.rows, 0);
    const lines = data.tables.find((t) => t.table === 'JournalLine')?.rows ?? 0;
    const phases = Object.fromEntries(data.phases.map((p) => [`phase ${p.phase} (s)`, Number((p.ms / 1000).toFixed(2))]));
    return {
      name: 'dbops seed --scale 1',
      metrics: {
        seconds: Number(seconds.toFixed(2)),
        'rows (all tables)': rows,
        'journal lines': lines,
        'rows/s': Math.round(rows / seconds),
        'journal lines/s': Math.round(lines / seconds),
        mode: data.mode,
        ...phases,
      },
      goal: { description: `seed at scale 1 in ≤ ${GOAL_SECONDS} s`, met: seconds <= GOAL_SECONDS },
    };
  } finally {
    await queryUrl(adminUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  }
}
