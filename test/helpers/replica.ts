// A real PostgreSQL primary and a real streaming replica of it (pg_basebackup -R), each in its own temp
// folder, for integration tests of what differs between nodes (statistics are per node, a standby is
// read-only). As root the servers, and pg_basebackup, run as the `postgres` OS user, like createCluster.
import { execFileSync } from 'node:child_process';
import { appendFile, chmod, chown, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../pipeline/core/logger.ts';
import { createShell } from '../../pipeline/core/shell.ts';
import { serverRunAs } from '../../pipeline/infra/pg/binaries.ts';
import { clusterUrl, createCluster, freePort, startCluster, stopServerAt, type Cluster } from '../../pipeline/infra/pg/cluster.ts';
import { queryUrl } from './db.ts';

export interface ReplicaPair {
  /** Running; wal_level=replica, max_wal_senders=10, hot_standby on, pg_stat_statements preloaded with track = 'top'. */
  primary: Cluster;
  /** A hot standby of the primary: same superuser and password, its own folder, data directory and port. */
  replica: Cluster;
  primaryUrl(database: string): string;
  replicaUrl(database: string): string;
  /** Waits until the replica has replayed everything the primary has written so far (pg_current_wal_lsn() on the primary <= pg_last_wal_replay_lsn() on the replica), up to timeoutMs (default 30 s), else throws naming both LSNs. */
  caughtUp(timeoutMs?: number): Promise<void>;
  /** Stops both servers and removes their files; safe to call twice. */
  stop(): Promise<void>;
}

const PRIMARY_SETTINGS: Record<string, string | number> = {
  wal_level: 'replica',
  max_wal_senders: 10,
  hot_standby: 'on',
  'pg_stat_statements.track': "'top'",
  // Fast and harmless here: nothing has to survive a crash. full_page_writes stays on: the replica is a
  // base backup of this server and replays its WAL.
  fsync: 'off',
  synchronous_commit: 'off',
};

/** Synchronous, for the 'exit' handler: a worker that dies before stop() must not leave servers behind. */
function stopNow(binDir: string, dataDirs: string[], uid?: number, gid?: number): void {
  for (const dataDir of dataDirs) {
    try {
      execFileSync(join(binDir, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', '-w', 'stop'], {
        stdio: 'ignore',
        ...(uid !== undefined && gid !== undefined ? { uid, gid } : {}),
      });
    } catch {
      /* not running */
    }
  }
}

export async function startReplicaPair(label: string): Promise<ReplicaPair> {
  const log = silentLogger();
  const runAs = await serverRunAs();
  const home = await mkdtemp(join(tmpdir(), `dbops-replica-${label.replace(/[^a-zA-Z0-9_-]+/g, '_').slice(0, 30)}-`));
  // mkdtemp makes it 0700 for root: the postgres OS user must be able to reach the folders inside.
  await chmod(home, 0o755);

  let primary: Cluster | undefined;
  let replica: Cluster | undefined;
  let onExit: (() => void) | undefined;
  let stopping: Promise<void> | undefined;

  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      if (onExit) process.removeListener('exit', onExit);
      // The replica first: a standby whose primary goes away keeps retrying and logging.
      for (const c of [replica, primary]) {
        if (c) await stopServerAt(c.dataDir, log, 'immediate').catch(() => false);
      }
      await rm(home, { recursive: true, force: true });
    })());

  try {
    primary = await createCluster({ dir: join(home, 'primary'), log, settings: PRIMARY_SETTINGS });
    const p = primary;
    onExit = () => stopNow(p.bins.binDir, [join(home, 'replica', 'data'), p.dataDir], runAs?.uid, runAs?.gid);
    process.once('exit', onExit);

    // initdb's pg_hba.conf already allows `host replication all 127.0.0.1/32 scram-sha-256`; say so if a
    // future initdb stops doing it, with the same method as the other host lines.
    const hba = join(p.dataDir, 'pg_hba.conf');
    if (!/^\s*host\s+replication\s+all\s+127\.0\.0\.1\/32\s+scram-sha-256\s*$/m.test(await readFile(hba, 'utf8'))) {
      await appendFile(hba, '\n# written by the replica test helper\nhost    replication     all     127.0.0.1/32     scram-sha-256\n');
    }
    await startCluster(p, log);

    // The replica's folder, owned by the server's OS user like the one createCluster makes; pg_basebackup
    // creates data/ inside it (mode 0700, owned by whoever runs it, so it runs as that user too).
    const replicaDir = join(home, 'replica');
    await mkdir(replicaDir, { mode: 0o700 });
    if (runAs) await chown(replicaDir, runAs.uid, runAs.gid);
    const dataDir = join(replicaDir, 'data');
    const sh = createShell(log, runAs);
    const basebackup = join(p.bins.binDir, 'pg_basebackup');
    // The URL carries the password: -R writes it into primary_conninfo, which the standby needs.
    const out = await sh({ nothrow: true })`${basebackup} -D ${dataDir} -R -X stream -c fast --no-sync -d ${clusterUrl(p, 'postgres')}`;
    if (out.exitCode !== 0) throw new Error(`pg_basebackup failed (exit ${out.exitCode}): ${out.stderr.trim() || out.stdout.trim()}`);

    replica = {
      dir: replicaDir,
      dataDir,
      logFile: join(replicaDir, 'postgres.log'),
      state: { ...p.state, port: await freePort(), createdAt: new Date().toISOString() },
      bins: p.bins,
    };
    // Same start code as any cluster (`pg_ctl -o "-p PORT" -w`): pg_ctl waits until the standby accepts
    // read-only connections; its log lands in the replica's own postgres.log.
    await startCluster(replica, log);
    const r = replica;
    const inRecovery = await queryUrl<{ r: boolean }>(clusterUrl(r, 'postgres'), 'SELECT pg_is_in_recovery() AS r');
    if (!inRecovery[0]?.r) throw new Error(`the replica on port ${r.state.port} is not in recovery (no standby.signal?)`);

    const primaryUrl = (database: string) => clusterUrl(p, database);
    const replicaUrl = (database: string) => clusterUrl(r, database);
    return {
      primary: p,
      replica: r,
      primaryUrl,
      replicaUrl,
      async caughtUp(timeoutMs = 30_000) {
        const [{ lsn: target } = { lsn: '' }] = await queryUrl<{ lsn: string }>(primaryUrl('postgres'), 'SELECT pg_current_wal_lsn()::text AS lsn');
        const deadline = Date.now() + timeoutMs;
        let replayed = '(none)';
        for (;;) {
          const [row] = await queryUrl<{ lsn: string | null; done: boolean | null }>(
            replicaUrl('postgres'),
            'SELECT pg_last_wal_replay_lsn()::text AS lsn, pg_last_wal_replay_lsn() >= $1::pg_lsn AS done',
            [target],
          );
          replayed = row?.lsn ?? '(none)';
          if (row?.done) return;
          if (Date.now() > deadline) {
            throw new Error(
              `replica did not catch up within ${timeoutMs} ms: primary pg_current_wal_lsn() ${target}, replica pg_last_wal_replay_lsn() ${replayed} (log: ${r.logFile})`,
            );
          }
          await new Promise((done) => setTimeout(done, 25));
        }
      },
      stop,
    };
  } catch (e) {
    // A half-started pair leaves nothing running; the logs are gone with the folder, so quote the replica's.
    const replicaLog = replica ? await readFile(replica.logFile, 'utf8').catch(() => '') : '';
    await stop();
    if (replicaLog && e instanceof Error) e.message += `\nreplica log:\n${replicaLog.trim().split('\n').slice(-8).join('\n')}`;
    throw e;
  }
}
