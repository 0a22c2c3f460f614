// `npm run bench`: starts a throwaway PostgreSQL cluster with production-like durability (fsync on), runs
// every benchmark against it and prints each one's figures. Goals are ratios against the raw tool measured
// in the same run, never absolute timings in tests.
import { rm, mkdtemp, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../pipeline/core/logger.ts';
import { clusterUrl, createCluster, destroyCluster, startCluster } from '../../pipeline/infra/pg/cluster.ts';

export interface BenchResult {
  name: string;
  metrics: Record<string, number | string>;
  goal?: { description: string; met: boolean };
}

const BENCHES: Record<string, () => Promise<{ bench(): Promise<BenchResult> }>> = {
  startup: () => import('./startup.ts'),
  migrate: () => import('./migrate.ts'),
  seed: () => import('./seed.ts'),
  lint: () => import('./lint.ts'),
  clone: () => import('./clone.ts'),
  sampler: () => import('./sampler.ts'),
  backup: () => import('./backup.ts'),
  age: () => import('./age.ts'),
  pitr: () => import('./pitr.ts'),
  maintenance: () => import('./maintenance.ts'),
  queries: () => import('./queries.ts'),
  access: () => import('./access.ts'),
  masking: () => import('./masking.ts'),
  monitoring: () => import('./monitoring.ts'),
};

const only = process.argv.slice(2);
const log = createLogger({ level: 'warn' });
const dir = await mkdtemp(join(tmpdir(), 'dbops-bench-'));
await chmod(dir, 0o755);
const cluster = await createCluster({
  dir: join(dir, 'cluster'),
  log,
  settings: { max_wal_size: "'4GB'", shared_buffers: "'512MB'", maintenance_work_mem: "'256MB'" },
});
let failed = false;
try {
  await startCluster(cluster, log);
  process.env['BENCH_DATABASE_URL'] = clusterUrl(cluster, 'postgres');
  for (const [name, load] of Object.entries(BENCHES)) {
    if (only.length > 0 && !only.includes(name)) continue;
    const result = await (await load()).bench();
    const width = Math.max(...Object.keys(result.metrics).map((k) => k.length));
    process.stdout.write(`\n${result.name}\n`);
    for (const [key, value] of Object.entries(result.metrics)) process.stdout.write(`  ${key.padEnd(width)}  ${value}\n`);
    if (result.goal) {
      process.stdout.write(`  goal: ${result.goal.description} — ${result.goal.met ? 'met' : 'NOT MET'}\n`);
      failed ||= !result.goal.met;
    }
  }
} finally {
  await destroyCluster(cluster, log);
  await rm(dir, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;
