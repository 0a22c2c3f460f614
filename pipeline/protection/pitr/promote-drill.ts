import { chown, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { sleep } from '../../core/duration.ts';
import { EnvError } from '../../core/errors.ts';
import { formatMs } from '../../core/format.ts';
import type { Runtime } from '../../core/runtime.ts';
import { createShell } from '../../core/shell.ts';
import { connect, withClient, type Client } from '../../infra/db/client.ts';
import { parseDatabaseUrl, type DbTarget } from '../../infra/db/url.ts';
import { serverRunAs } from '../../infra/pg/binaries.ts';
import { clusterUrl, createCluster, freePort, startCluster, stopServerAt, type Cluster } from '../../infra/pg/cluster.ts';
import { beat, ensureHeartbeatTable, newestHeartbeat } from './heartbeat.ts';

export interface DrillPhase {
  name: string;
  durationMs: number;
  ok: boolean;
  message: string;
}

/** What the promotion drill measured; the bundle is written by runDrill, like every scenario's. */
export interface Promotion {
  committed: { rows: number; lastBeat: string | null };
  promoted: { rows: number | null; lastBeat: string | null };
  /** The WAL the replica had received and replayed when the primary stopped. */
  replayLsn: string | null;
  disasterAt: string;
  disasterClock: number;
  readyClock: number;
}

/** The scratch primary's settings: a streaming source (these are PostgreSQL's defaults, said explicitly). */
const PRIMARY_SETTINGS: Record<string, string | number> = { wal_level: 'replica', max_wal_senders: 10, hot_standby: 'on' };

/** The folders of the promotion drill inside its scratch folder: the runDrill cleanup stops both servers. */
export const PROMOTION_DIRS = ['replica', 'primary'] as const;

const timed = async <T>(phases: DrillPhase[], name: string, fn: () => Promise<{ value: T; message: string; ok?: boolean }>): Promise<T> => {
  const t = performance.now();
  const { value, message, ok = true } = await fn();
  phases.push({ name, durationMs: Math.round(performance.now() - t), ok, message });
  return value;
};

/** Waits until the primary streams to a standby, up to 60 s. */
async function waitStreaming(c: Client, signal: AbortSignal): Promise<void> {
  for (let i = 0; i < 600 && !signal.aborted; i++) {
    const { rows } = await c.query<{ n: string }>(`SELECT count(*) AS n FROM pg_stat_replication WHERE state = 'streaming'`);
    if (Number(rows[0]!.n) > 0) return;
    await sleep(100, signal);
  }
  throw new Error('the replica did not start streaming from the primary within 60 s');
}

/**
 * `dbops dr drill --scenario promote-replica`: builds a scratch primary and a streaming replica of it
 * (pg_basebackup -R), writes ledger rows and heartbeats on the primary, stops the primary hard
 * (`pg_ctl stop -m immediate`), promotes the replica (`pg_promote(wait => true)`) and waits for its first
 * write. Phases: build, replica, disaster, promote, verify. Only clusters it created are touched.
 */
export async function promoteReplica(
  o: { scratchDir: string; workloadMs: number; heartbeatMs: number; phases: DrillPhase[] },
  rt: Runtime,
): Promise<Promotion> {
  const { phases } = o;
  const app = { log: rt.log, applicationName: 'dbops dr drill' };
  const primary = await timed(phases, 'build', async () => {
    rt.progress(`Building the drill's scratch primary in ${o.scratchDir} …`);
    const p = await createCluster({ dir: join(o.scratchDir, 'primary'), log: rt.log, settings: PRIMARY_SETTINGS, env: rt.env });
    await startCluster(p, rt.log);
    await withClient(parseDatabaseUrl(clusterUrl(p, 'postgres')), app, (c) => c.query('CREATE DATABASE ledger'));
    await withClient(parseDatabaseUrl(clusterUrl(p, 'ledger')), app, async (c) => {
      await ensureHeartbeatTable(c);
      await c.query('CREATE TABLE ledger (id bigserial PRIMARY KEY, amount numeric(19,2) NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())');
      await c.query('CREATE TABLE dbops.drill_probe (at timestamptz NOT NULL DEFAULT clock_timestamp())');
    });
    return { value: p, message: `a scratch primary (PostgreSQL ${p.bins.major}) with a ledger table and dbops.heartbeat` };
  });
  const source: DbTarget = parseDatabaseUrl(clusterUrl(primary, 'ledger'));

  const c = await connect(source, { log: rt.log, applicationName: 'dbops dr drill (workload)' });
  let replica: Cluster;
  let committed: Promotion['committed'];
  let replayLsn: string | null = null;
  let disasterAt: string;
  let disasterClock: number;
  try {
    replica = await timed(phases, 'replica', async () => {
      rt.progress('Cloning a streaming replica with pg_basebackup -R …');
      const runAs = await serverRunAs();
      const dir = join(o.scratchDir, 'replica');
      // Owned by the server's OS user, like createCluster's folders: pg_basebackup (run as that user) creates data/ in it.
      await mkdir(dir, { mode: 0o700 });
      if (runAs) await chown(dir, runAs.uid, runAs.gid);
      const dataDir = join(dir, 'data');
      const sh = createShell(rt.log, runAs);
      // The URL carries the password (a registered secret: redacted from logs); -R writes it into the
      // replica's primary_conninfo, in the scratch folder only.
      const out = await sh({
        nothrow: true,
      })`${join(primary.bins.binDir, 'pg_basebackup')} -D ${dataDir} -R -X stream -c fast -d ${clusterUrl(primary, 'postgres')}`;
      if (out.exitCode !== 0) throw new Error(`pg_basebackup failed (exit ${out.exitCode}): ${out.stderr.trim() || out.stdout.trim()}`);
      const r: Cluster = {
        dir,
        dataDir,
        logFile: join(dir, 'postgres.log'),
        state: { ...primary.state, port: await freePort(), createdAt: new Date().toISOString() },
        bins: primary.bins,
      };
      await startCluster(r, rt.log);
      const standby = await withClient(parseDatabaseUrl(clusterUrl(r, 'ledger')), app, async (rc) => {
        const { rows } = await rc.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
        return rows[0]!.r;
      });
      if (!standby) throw new Error(`the replica on port ${r.state.port} is not in recovery (no standby.signal?)`);
      await waitStreaming(c, rt.signal);
      return { value: r, message: `a hot standby on port ${r.state.port}, streaming from the primary (pg_basebackup -R)` };
    });

    rt.progress(`Writing ledger rows and heartbeats on the primary for ${formatMs(o.workloadMs)} …`);
    const end = Date.now() + o.workloadMs;
    let lastBeat: string | null = null;
    let nextBeat = 0;
    let rows = 0;
    while (Date.now() < end && !rt.signal.aborted) {
      await c.query('INSERT INTO ledger (amount) VALUES (round((random() * 1000)::numeric, 2))');
      rows++;
      if (Date.now() >= nextBeat) {
        lastBeat = await beat(c);
        nextBeat = Date.now() + o.heartbeatMs;
      }
      await sleep(50, rt.signal);
    }
    // Ctrl-C ends the workload early: then no disaster, no bundle (exit 3); the scratch clusters are removed.
    if (rt.signal.aborted) throw new EnvError('Interrupted before the disaster: the drill wrote no bundle, and its scratch clusters are removed.');
    lastBeat = await beat(c);
    committed = { rows, lastBeat };

    rt.progress('Causing the disaster: the primary stops hard (pg_ctl stop -m immediate) …');
    await c.end();
    disasterClock = performance.now();
    disasterAt = new Date().toISOString();
    await timed(phases, 'disaster', async () => {
      await stopServerAt(primary.dataDir, rt.log, 'immediate', rt.env);
      const down = await withClient(source, { log: rt.log, applicationName: 'dbops dr drill (probe)' }, () => Promise.resolve(false)).catch(() => true);
      return { value: down, ok: down, message: down ? 'the primary stopped hard (immediate) and refuses connections' : 'the primary still answers' };
    });
  } catch (e) {
    await c.end().catch(() => undefined);
    throw e;
  }

  const promotedTarget = parseDatabaseUrl(clusterUrl(replica, 'ledger'));
  await timed(phases, 'promote', async () => {
    rt.progress('Promoting the replica …');
    const lsn = await withClient(promotedTarget, app, async (rc) => {
      const { rows } = await rc.query<{ lsn: string | null }>('SELECT pg_last_wal_replay_lsn()::text AS lsn');
      const { rows: p } = await rc.query<{ ok: boolean }>('SELECT pg_promote(wait => true, wait_seconds => 60) AS ok');
      if (!p[0]!.ok) throw new Error('pg_promote() did not finish within 60 s');
      return rows[0]!.lsn;
    });
    replayLsn = lsn;
    return { value: null, message: `pg_promote(): the replica left recovery, WAL replayed through ${lsn ?? 'nothing'}` };
  });

  const promoted = await timed(phases, 'verify', async () => {
    const v = await withClient(promotedTarget, app, async (rc) => {
      const { rows: r } = await rc.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
      if (r[0]!.r) throw new Error('the promoted replica is still in recovery');
      await rc.query('INSERT INTO dbops.drill_probe DEFAULT VALUES');
      const ready = performance.now();
      const { rows } = await rc.query<{ n: string }>('SELECT count(*) AS n FROM ledger');
      return { ready, rows: Number(rows[0]!.n), lastBeat: await newestHeartbeat(rc) };
    });
    return { value: v, message: `the promoted replica accepts writes; ${v.rows} ledger rows of ${committed.rows} committed on the primary` };
  });

  return {
    committed,
    promoted: { rows: promoted.rows, lastBeat: promoted.lastBeat },
    replayLsn,
    disasterAt,
    disasterClock,
    readyClock: promoted.ready,
  };
}
