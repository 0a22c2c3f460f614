// What measuring costs the migration it measures: the same migrations applied by rehearse's own code
// (measureApply) on fresh clones of one 1,000,000-row template, with the lock sampler and the probes, and
// without them, alternating runs. Goal: the migrations take at most 5 % longer when measured.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { silentLogger } from '../../pipeline/core/logger.ts';
import { cloneDatabase, dropDatabase, onDatabase, ownership } from '../../pipeline/infra/db/clone.ts';
import { parseDatabaseUrl } from '../../pipeline/infra/db/url.ts';
import { MigrationsPolicy } from '../../pipeline/policy/schema.ts';
import { Executor } from '../../pipeline/change/migrations/executor.ts';
import { createMigrationsTable, openSession } from '../../pipeline/change/migrations/history.ts';
import { planExecution } from '../../pipeline/change/migrations/plan.ts';
import { measureApply, type ExecutorHooks } from '../../pipeline/change/rehearsal/measure.ts';
import { statementRefs } from '../../pipeline/change/rehearsal/statements.ts';
import type { BenchResult } from './run.ts';

const ROWS = Number(process.env['BENCH_SAMPLER_ROWS'] ?? 1_000_000);
const RUNS = 5;
const GOAL_PERCENT = 5;
const MIGRATIONS = [
  // Writes wait, reads keep running: the probes do real work during the migration.
  { name: '20240201000000_index', sql: 'CREATE INDEX "t_a_idx" ON "t"("a");\n' },
  // A rewrite under ACCESS EXCLUSIVE: every probe waits.
  { name: '20240202000000_ref', sql: 'ALTER TABLE "t" ADD COLUMN "ref" UUID DEFAULT gen_random_uuid();\n' },
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function bench(): Promise<BenchResult> {
  const adminUrl = process.env['BENCH_DATABASE_URL'];
  if (!adminUrl) throw new Error('BENCH_DATABASE_URL is not set (run through `npm run bench`)');
  const log = silentLogger();
  const server = parseDatabaseUrl(adminUrl);
  const policy = MigrationsPolicy.parse({ version: 1 });
  const tag = randomBytes(3).toString('hex');
  const template = `bench_sampler_${tag}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${template}"`);
    const setup = await openSession(onDatabase(server, template), log, 'bench setup');
    await setup.client.query(`CREATE TABLE "t" (id int PRIMARY KEY, a int NOT NULL, payload text);
      INSERT INTO "t" SELECT g, g % 1000, md5(g::text) FROM generate_series(1, ${ROWS}) g`);
    await setup.client.query('VACUUM ANALYZE "t"');
    await createMigrationsTable(setup);
    await setup.close();

    const results: Record<string, { off: number[]; on: number[]; samples: number[] }> = {};
    for (const m of MIGRATIONS) {
      results[m.name] = { off: [], on: [], samples: [] };
      const plan = await planExecution(m.sql, m.name);
      const refs = await statementRefs(m.sql, 'public');
      for (let run = 0; run < RUNS * 2; run++) {
        const measure = run % 2 === 1;
        const clone = `${template}_c${run}`;
        await cloneDatabase(admin, template, clone, ownership());
        const target = onDatabase(server, clone);
        const session = await openSession(target, log, 'bench');
        const hooks: ExecutorHooks = {};
        const executor = new Executor(
          session,
          policy.executor,
          { retry: () => undefined, beforeCommit: (c) => hooks.beforeCommit?.(c) ?? Promise.resolve() },
          new AbortController().signal,
        );
        try {
          await session.client.query('CHECKPOINT');
          const { outcome, data } = await measureApply(
            { session, executor, hooks, target, schema: 'public', log, policy: policy.rehearse },
            { name: m.name, script: m.sql, plan, refs },
            { measure },
          );
          if (!outcome.ok) throw new Error(`${m.name} failed: ${outcome.message}`);
          results[m.name]![measure ? 'on' : 'off'].push(data.durationMs);
          if (measure) results[m.name]!.samples.push(data.samples);
        } finally {
          await executor.close();
          await session.close();
          await dropDatabase(admin, clone);
        }
      }
    }

    const metrics: Record<string, number | string> = { 'rows in the table': ROWS, 'runs each': RUNS };
    let off = 0;
    let on = 0;
    for (const [name, r] of Object.entries(results)) {
      const short = name.replace(/^\d+_/, '');
      metrics[`${short}: without (ms, median)`] = median(r.off);
      metrics[`${short}: measured (ms, median)`] = median(r.on);
      metrics[`${short}: lock samples (median)`] = median(r.samples);
      metrics[`${short}: overhead (%)`] = Number(((median(r.on) / median(r.off) - 1) * 100).toFixed(1));
      off += median(r.off);
      on += median(r.on);
    }
    const overhead = (on / off - 1) * 100;
    metrics['overall overhead (%)'] = Number(overhead.toFixed(1));
    return {
      name: 'rehearse measurement overhead: migration time with the lock sampler and probes vs without',
      metrics,
      goal: { description: `measured migrations at most ${GOAL_PERCENT} % slower`, met: overhead <= GOAL_PERCENT },
    };
  } finally {
    await dropDatabase(admin, template).catch(() => undefined);
    await admin.end();
  }
}
