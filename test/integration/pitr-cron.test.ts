// The heartbeat where the server preloads pg_cron: scheduled once, in the target database, every minute.
import { chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../pipeline/core/logger.ts';
import { createShell } from '../../pipeline/core/shell.ts';
import { parseDatabaseUrl } from '../../pipeline/infra/db/url.ts';
import { clusterUrl, createCluster, destroyCluster, startCluster, type Cluster } from '../../pipeline/infra/pg/cluster.ts';
import { CRON_JOB, scheduleHeartbeat } from '../../pipeline/protection/pitr/index.ts';
import type { Runtime } from '../../pipeline/core/runtime.ts';
import { queryUrl } from '../helpers/db.ts';
import { tempDir } from '../helpers/migrations.ts';

describe('heartbeat through pg_cron', () => {
  const log = createLogger({ level: 'warn' });
  let cluster: Cluster;
  const rt = (): Runtime => ({
    log,
    sh: createShell(log),
    signal: new AbortController().signal,
    env: process.env,
    progress: () => {},
    summarize: async () => 'skipped',
  });

  beforeAll(async () => {
    const home = await tempDir('dbops-cron-');
    await chmod(home, 0o755);
    cluster = await createCluster({
      dir: join(home, 'cluster'),
      log,
      settings: { shared_preload_libraries: "'pg_stat_statements,pg_cron'", 'cron.database_name': "'postgres'", fsync: 'off' },
    });
    await startCluster(cluster, log);
    await queryUrl(clusterUrl(cluster, 'postgres'), 'CREATE DATABASE ledger');
  });
  afterAll(async () => {
    if (cluster) await destroyCluster(cluster, log);
  });

  it('is scheduled in cron.database_name for the target database, and scheduling again changes nothing', async () => {
    const target = parseDatabaseUrl(clusterUrl(cluster, 'ledger'));
    expect(await scheduleHeartbeat(target, rt())).toBe('scheduled');
    expect(await scheduleHeartbeat(target, rt())).toBe('unchanged');
    const jobs = await queryUrl(clusterUrl(cluster, 'postgres'), 'SELECT jobname, schedule, database, command FROM cron.job');
    expect(jobs).toEqual([{ jobname: CRON_JOB, schedule: '* * * * *', database: 'ledger', command: expect.stringContaining('INSERT INTO dbops.heartbeat') }]);
  });

  it('is absent without pg_cron preloaded', async () => {
    const { adminUrl } = await import('../helpers/db.ts');
    expect(await scheduleHeartbeat(parseDatabaseUrl(adminUrl()), rt())).toBe('absent');
  });
});
