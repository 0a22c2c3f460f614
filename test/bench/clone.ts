// How long a rehearsal waits for its copy of the snapshot: `CREATE DATABASE … TEMPLATE … STRATEGY
// FILE_COPY` (what rehearse does, through the same code) against `pg_dump -Fc | pg_restore` of the same
// synthetic AstroFinance database on the same server. Goal: cloning at least 10× faster.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { cloneDatabase, dropDatabase, ownership } from '../../pipeline/infra/db/clone.ts';
import { findPgBinaries, pgTool } from '../../pipeline/infra/pg/binaries.ts';
import { dbops, testEnv } from '../helpers/cli.ts';
import { queryUrl } from '../helpers/db.ts';
import type { BenchResult } from './run.ts';
import { urlOf } from './common.ts';

const SCALE = process.env['BENCH_CLONE_SCALE'] ?? '1';
const CLONES = 3;
const GOAL = 10;

/** `pg_dump -Fc source | pg_restore -d target`, as a shell pipeline would run it; resolves when both exit 0. */
async function dumpRestore(admin: string, source: string, target: string): Promise<void> {
  const bins = await findPgBinaries();
  const u = new URL(admin);
  const env = { ...process.env, PGPASSWORD: decodeURIComponent(u.password), PGHOST: u.hostname, PGPORT: u.port, PGUSER: decodeURIComponent(u.username) };
  const dump = spawn(await pgTool(bins, 'pg_dump'), ['-Fc', '--dbname', source], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const restore = spawn(await pgTool(bins, 'pg_restore'), ['--exit-on-error', '--dbname', target], { env, stdio: ['pipe', 'ignore', 'inherit'] });
  dump.stdout.pipe(restore.stdin);
  const exit = (p: ReturnType<typeof spawn>, name: string) =>
    new Promise<void>((resolve, reject) => p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${name} exited ${code}`)))));
  await Promise.all([exit(dump, 'pg_dump'), exit(restore, 'pg_restore')]);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function bench(): Promise<BenchResult> {
  const admin = process.env['BENCH_DATABASE_URL'];
  if (!admin) throw new Error('BENCH_DATABASE_URL is not set (run through `npm run bench`)');
  const tag = randomBytes(3).toString('hex');
  const source = `bench_clone_src_${tag}`;
  const made: string[] = [source];
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${source}"`);
    const deploy = await dbops(['migrate', 'deploy', '--database-url', urlOf(admin, source)], testEnv());
    if (deploy.code !== 0) throw new Error(`migrate deploy failed:\n${deploy.all}`);
    const seed = await dbops(['seed', '--database-url', urlOf(admin, source), '--scale', SCALE], testEnv());
    if (seed.code !== 0) throw new Error(`seed failed:\n${seed.all}`);
    const [{ bytes }] = (await queryUrl<{ bytes: string }>(admin, 'SELECT pg_database_size($1) AS bytes', [source])) as [{ bytes: string }];
    const [{ n }] = (await queryUrl<{ n: string }>(urlOf(admin, source), 'SELECT count(*) AS n FROM "JournalLine"')) as [{ n: string }];

    const cloneMs: number[] = [];
    for (let i = 0; i < CLONES; i++) {
      const name = `bench_clone_${tag}_${i}`;
      made.push(name);
      const started = performance.now();
      await cloneDatabase(client, source, name, ownership());
      cloneMs.push(performance.now() - started);
      await dropDatabase(client, name);
    }

    const restored = `bench_clone_restore_${tag}`;
    made.push(restored);
    await client.query(`CREATE DATABASE "${restored}"`);
    const started = performance.now();
    await dumpRestore(admin, source, restored);
    const restoreMs = performance.now() - started;
    const ratio = restoreMs / median(cloneMs);
    return {
      name: `snapshot copy: CREATE DATABASE … TEMPLATE (FILE_COPY) vs pg_dump -Fc | pg_restore (scale ${SCALE})`,
      metrics: {
        'database size (MB)': Math.round(Number(bytes) / 1024 / 1024),
        'journal lines': Number(n),
        [`clone, median of ${CLONES} (s)`]: Number((median(cloneMs) / 1000).toFixed(2)),
        'pg_dump | pg_restore (s)': Number((restoreMs / 1000).toFixed(2)),
        'speed-up (×)': Number(ratio.toFixed(1)),
      },
      goal: { description: `clone ≥ ${GOAL}× faster than dump and restore`, met: ratio >= GOAL },
    };
  } finally {
    for (const d of made) await dropDatabase(client, d).catch(() => undefined);
    await client.end();
  }
}
