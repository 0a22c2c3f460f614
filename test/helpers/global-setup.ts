import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { bundleEntry } from '../../pipeline/bin/bundle.js';
import type { RunAs } from '../../pipeline/core/shell.ts';
import { silentLogger } from '../../pipeline/core/logger.ts';
import { serverRunAs } from '../../pipeline/infra/pg/binaries.ts';
import { clusterUrl, createCluster, pidAlive, startCluster } from '../../pipeline/infra/pg/cluster.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Superuser URL of the `postgres` database on the test server. */
    adminUrl: string;
    /** Directory of the PostgreSQL binaries the suite runs against. */
    pgBinDir: string;
  }
}

const PREFIX = 'dbops-test-';

/** Synchronous so it also works from 'exit' and signal handlers. */
function removeCluster(dir: string, binDir: string, runAs: RunAs | undefined): void {
  try {
    if (existsSync(join(dir, 'data', 'postmaster.pid'))) {
      execFileSync(join(binDir, 'pg_ctl'), ['-D', join(dir, 'data'), '-m', 'immediate', '-w', 'stop'], {
        stdio: 'ignore',
        ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
      });
    }
  } catch {
    /* already stopped */
  }
  rmSync(dir, { recursive: true, force: true });
}

/** Clusters of earlier runs that were killed before their teardown (kill -9, power loss). */
function sweepStale(binDir: string, runAs: RunAs | undefined): void {
  for (const name of readdirSync(tmpdir()).filter((n) => n.startsWith(PREFIX))) {
    const dir = join(tmpdir(), name);
    const owner = Number(readFileSync(join(dir, 'owner.pid'), 'utf8').trim() || 0) || 0;
    if (owner && pidAlive(owner)) continue;
    removeCluster(dir, binDir, runAs);
  }
}

/**
 * One throwaway PostgreSQL cluster for the whole run (or TEST_DATABASE_URL when set). Fast and unsafe
 * settings (fsync off): nothing here needs to survive a crash.
 */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  // The tests that start dbops as its own process run the bundle: built once here, not by each of them at once.
  await bundleEntry();
  const external = process.env['TEST_DATABASE_URL'];
  if (external) {
    project.provide('adminUrl', external);
    project.provide('pgBinDir', process.env['PG_BIN'] ?? '');
    return undefined;
  }
  const log = silentLogger();
  const runAs = await serverRunAs(); // fails early, with the fix, when root has no postgres user
  const dir = await mkdtemp(join(tmpdir(), PREFIX));
  await writeFile(join(dir, 'owner.pid'), String(process.pid));
  let cluster;
  try {
    cluster = await createCluster({
      dir,
      log,
      settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', max_connections: 300, 'pg_stat_statements.track': "'none'" },
    });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  sweepStale(cluster.bins.binDir, runAs);
  const cleanup = () => removeCluster(dir, cluster.bins.binDir, runAs);
  const onSignal = (signal: NodeJS.Signals) => {
    cleanup();
    process.kill(process.pid, signal);
  };
  process.once('exit', cleanup);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  await startCluster(cluster, log);
  project.provide('adminUrl', clusterUrl(cluster, 'postgres'));
  project.provide('pgBinDir', cluster.bins.binDir);
  return async () => {
    process.removeListener('exit', cleanup);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    cleanup();
  };
}
