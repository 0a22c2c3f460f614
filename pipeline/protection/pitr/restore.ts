import { chown, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { sleep } from '../../core/duration.ts';
import { ConfigError, EnvError, RefusedError } from '../../core/errors.ts';
import { writeFileAtomic } from '../../core/fs.ts';
import type { Runtime } from '../../core/runtime.ts';
import type { RunAs } from '../../core/shell.ts';
import { withClient } from '../../infra/db/client.ts';
import { parseDatabaseUrl, type DbTarget } from '../../infra/db/url.ts';
import { clientTool, findPgBinaries } from '../../infra/pg/binaries.ts';
import { freePort, isRunningAt, startServerAt, stopServerAt } from '../../infra/pg/cluster.ts';
import { mustPgbackrest } from '../../infra/pgbackrest/pgbackrest.ts';
import type { BackupsPolicy } from '../../policy/backups.ts';
import type { Policies } from '../../policy/schema.ts';
import { amcheck } from '../backup/index.ts';
import { heartbeatOf } from './heartbeat.ts';
import { openSite, stanzaInfo } from './operate.ts';
import { findRestorePointBundle, proveRestorePoint, type RestorePointEvidence } from './restore-point.ts';

export type RestoreTarget = { kind: 'time'; time: string } | { kind: 'name'; name: string } | { kind: 'latest' };

export interface PitrRestoreData {
  stanza: string;
  target: RestoreTarget;
  dataDir: string;
  port: number;
  /** URL of the restored cluster, password masked (it is the source's). */
  url: string;
  stopCommand: string;
  /** The base backup pgBackRest chose. */
  backup: string | null;
  /** fetch (the repository's backup list), restore (files), WAL replay (start, replay, promote), verify (pg_amcheck). */
  phases: Array<{ name: 'fetch' | 'restore' | 'WAL replay' | 'verify'; durationMs: number; ok: boolean; message: string }>;
  /**
   * The newest heartbeat the restored cluster holds and the source's newest when the restore ended; their
   * difference is the data this restore lost (for --latest, the RPO achieved). Null where there is none.
   */
  heartbeat: { restored: string | null; source: string | null; lostMs: number | null };
  /** Restore plus replay plus verify: the recovery time this restore measured. */
  totalMs: number;
  /**
   * For a restore point, when asked for: the evidence bundle whose deploy (or rollback) recorded it and the
   * proof on the restored cluster, part of the verify phase. Null for other targets.
   */
  evidence: RestorePointEvidence | null;
}

/** The restored cluster, reached as the source was (same user, password and database) on 127.0.0.1:port. */
export function restoredTarget(source: DbTarget, port: number): DbTarget {
  const u = new URL(`postgresql://127.0.0.1:${port}/${encodeURIComponent(source.database)}`);
  u.username = encodeURIComponent(source.user);
  if (typeof source.config.password === 'string' && source.config.password) u.password = encodeURIComponent(source.config.password);
  return parseDatabaseUrl(u.toString(), source.schema);
}

/**
 * A time as pgBackRest's backup selection reads it (`YYYY-MM-DD HH:MM:SS[.fraction]+00`); a UTC time given
 * with microseconds keeps them (a Date would cut them to milliseconds and could move the target before a commit).
 */
export function pgbackrestTime(given: string, at: number): string {
  const utc = /^(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(\.\d+)?(?:Z|\+00(?::?00)?)$/.exec(given.trim());
  if (utc) return `${utc[1]} ${utc[2]}${utc[3] ?? ''}+00`;
  return new Date(at).toISOString().replace('T', ' ').replace('Z', '+00');
}

/** The server ended recovery before the target: the WAL after the chosen backup never reaches it. */
class TargetMissed extends Error {}

/** An absent or empty folder, or with --force one holding a stopped cluster: anything else is refused, nothing touched. */
async function prepareDir(dir: string, force: boolean, runAs: RunAs | undefined, rt: Runtime): Promise<void> {
  const entries = await readdir(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [] as string[];
    if (e.code === 'ENOTDIR') throw new ConfigError(`--target-dir ${dir} is a file, not a folder.`);
    throw e;
  });
  if (entries.length > 0) {
    const isCluster = entries.includes('PG_VERSION');
    if (!force || !isCluster)
      throw new ConfigError(
        `--target-dir ${dir} is not empty${isCluster ? ' (it holds a PostgreSQL cluster)' : ''}: a restore never writes over existing files.`,
        {
          hint: isCluster ? 'Stop that cluster and add --force to replace it, or choose a new folder.' : 'Choose a new or empty folder.',
        },
      );
    if (await isRunningAt(dir, rt.env))
      throw new RefusedError(`--target-dir ${dir} holds a running cluster: --force replaces only a stopped one.`, {
        hint: `Stop it first: pg_ctl -D ${dir} -m fast stop`,
      });
    for (const e of entries) await rm(join(dir, e), { recursive: true, force: true });
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (runAs) await chown(dir, runAs.uid, runAs.gid);
}

/**
 * `pitr restore`: pgBackRest restores into a new data directory with archiving off, the server starts on
 * 127.0.0.1:PORT, replays WAL to the target and promotes; only then (pg_ctl returns at consistency, before
 * replay ends) is it checked with pg_amcheck and left running. Each phase is timed.
 */
export async function pitrRestore(
  input: {
    target: DbTarget;
    backups: BackupsPolicy;
    to: RestoreTarget;
    targetDir: string;
    port?: number | undefined;
    force: boolean;
    /** Look for the bundle that recorded a restore point target (the drill's own restore points have none). */
    evidence?: { environments: () => Promise<Policies['environments']> } | undefined;
  },
  rt: Runtime,
): Promise<PitrRestoreData> {
  const tFetch = performance.now();
  const { site, pgbackrest } = await openSite(input.target, input.backups, rt, { offline: true });
  const dir = resolve(input.targetDir);
  if (dir === resolve(site.dataDir)) throw new ConfigError(`--target-dir ${dir} is the source cluster's own data directory.`);
  const info = await stanzaInfo(pgbackrest);
  const fulls = info.backups.filter((b) => b.type === 'full');
  if (fulls.length === 0)
    throw new RefusedError('The repository holds no full backup: there is nothing to restore from.', { hint: 'Run `dbops pitr backup --type full`.' });
  let args: string[];
  if (input.to.kind === 'time') {
    const at = Date.parse(input.to.time);
    if (Number.isNaN(at)) throw new ConfigError(`--to ${input.to.time} is not a time: give ISO 8601 with a zone, e.g. 2026-12-07T10:15:00Z.`);
    const earliest = info.backups[0]!.stoppedAt;
    if (at <= Date.parse(earliest))
      throw new RefusedError(
        `No backup ended before ${new Date(at).toISOString()}: the earliest time this repository can restore to is just after ${earliest}.`,
        {
          hint: 'Choose a later --to, or restore from an older repository.',
        },
      );
    args = ['--type=time', `--target=${pgbackrestTime(input.to.time, at)}`, '--target-action=promote'];
  } else if (input.to.kind === 'name') args = ['--type=name', `--target=${input.to.name}`, '--target-action=promote'];
  else args = ['--type=default'];
  // Read before anything is written; evidence that cannot be read only warns: the restore is what matters now.
  const evidence =
    input.to.kind === 'name' && input.evidence
      ? await findRestorePointBundle({ name: input.to.name, backups: input.backups, environments: input.evidence.environments }, rt)
      : null;

  await prepareDir(dir, input.force, site.runAs, rt);
  const phases: PitrRestoreData['phases'] = [
    {
      name: 'fetch',
      durationMs: Math.round(performance.now() - tFetch),
      ok: true,
      message: `${info.backups.length} backup(s) in the repository, WAL up to ${info.archive?.max ?? 'none'}`,
    },
  ];
  const bins = await findPgBinaries(rt.env);
  const port = input.port ?? (await freePort());
  const logFile = join(dir, 'dbops-restore.log');
  const restored = restoredTarget(site.target, port);
  const serverLog = async () => (await readFile(logFile, 'utf8').catch(() => '')).trim().split('\n').slice(-6).join('\n');
  const missed = (log: string) => /before configured recovery target|recovery target .* not reached/i.test(log);

  /** One restore from `set` (pgBackRest's choice when undefined), start and replay until promoted; throws TargetMissed when the WAL after that backup never reaches the target. */
  const attempt = async (set: string | undefined) => {
    const t0 = performance.now();
    rt.progress(`Restoring into ${dir}${set ? ` from backup ${set}` : ''} …`);
    // On a repository host, the restore lands here: pg1 stops being the database host's TLS server.
    const here = site.kind === 'repository' ? ['--reset-pg1-host'] : [];
    const out = await mustPgbackrest(pgbackrest, 'restore', [...here, `--pg1-path=${dir}`, '--archive-mode=off', ...(set ? [`--set=${set}`] : []), ...args]);
    const restoreMs = Math.round(performance.now() - t0);
    // A cluster whose configuration lives outside its data directory (Debian's /etc/postgresql) restores without one.
    if (!(await stat(join(dir, 'postgresql.conf')).catch(() => undefined))) {
      await writeFileAtomic(join(dir, 'postgresql.conf'), '# written by dbops pitr restore\n', { mode: 0o600, owner: site.runAs });
    }
    const t1 = performance.now();
    rt.progress(`Starting the restored cluster on 127.0.0.1:${port} and replaying WAL …`);
    const started = await startServerAt({
      dataDir: dir,
      logFile,
      options: `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c archive_mode=off`,
      timeoutS: 3600,
      log: rt.log,
      bins,
    });
    if (started !== 0) {
      const log = await serverLog();
      if (missed(log)) throw new TargetMissed(log);
      throw new EnvError(`The restored cluster did not start (pg_ctl exit ${started}). Its log, ${logFile}:\n${log}`);
    }
    // pg_ctl returned at consistency: replay goes on until the target, then the server promotes.
    for (;;) {
      const inRecovery = await withClient(
        restored,
        { log: rt.log, applicationName: 'dbops pitr restore' },
        async (c) => (await c.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0]!.r,
      ).catch(() => undefined);
      if (inRecovery === false) break;
      if (inRecovery === undefined) {
        const log = await serverLog();
        if (missed(log)) throw new TargetMissed(log);
        if (/shut down|FATAL/.test(log)) throw new EnvError(`Recovery of the restored cluster stopped. Its log, ${logFile}:\n${log}`);
      }
      if (rt.signal.aborted)
        throw new EnvError(`Interrupted while the restored cluster in ${dir} replayed WAL; it is still running: pg_ctl -D ${dir} -m fast stop`);
      await sleep(100, rt.signal);
    }
    return { out, restoreMs, replayMs: Math.round(performance.now() - t1) };
  };

  // A restore point is reached only from a backup that ended before it, and pgBackRest (which cannot know
  // where a name is) starts from the newest: when its WAL never meets the name, the next older backup is tried.
  const older =
    input.to.kind === 'name'
      ? info.backups
          .filter((b) => b.repo === 1)
          .map((b) => b.label)
          .reverse()
          .slice(1)
      : [];
  let result: Awaited<ReturnType<typeof attempt>> | undefined;
  let tries = 0;
  for (const set of [undefined, ...older]) {
    tries++;
    try {
      result = await attempt(set);
      break;
    } catch (e) {
      if (!(e instanceof TargetMissed)) throw e;
      await stopServerAt(dir, rt.log, 'immediate', rt.env).catch(() => false);
      for (const entry of await readdir(dir)) await rm(join(dir, entry), { recursive: true, force: true });
      if (set === older.at(-1) || (set === undefined && older.length === 0))
        throw new RefusedError(
          `The target is not in the archive: no backup's WAL reaches ${input.to.kind === 'name' ? `restore point ${input.to.name}` : 'it'}. The server's log:\n${e.message}`,
          { hint: 'Check the name (pg_create_restore_point), choose an earlier time, or restore from another repository.' },
        );
      rt.progress(`${set ?? 'The newest backup'} ends after the target; trying an older one …`);
    }
  }
  const { out } = result!;
  phases.push({
    name: 'restore',
    durationMs: result!.restoreMs,
    ok: true,
    message: `pgbackrest restore${tries > 1 ? ` (attempt ${tries}: the newer backups end after the restore point)` : ''}`,
  });
  phases.push({ name: 'WAL replay', durationMs: result!.replayMs, ok: true, message: 'recovery ended and the server promoted' });

  const t2 = performance.now();
  const pgAmcheck = await clientTool(bins, 'pg_amcheck', site.major);
  const check = await amcheck({
    pgAmcheck,
    target: restored,
    heapallindexed: true,
    jobs: 2,
    env: rt.env,
    signal: rt.signal,
    log: rt.log,
    applicationName: 'dbops pitr restore',
  });
  // Restored to a deploy's restore point, the ledger must be the one from before that deploy.
  if (evidence?.bundle) evidence.proof = await proveRestorePoint(evidence, restored, rt);
  phases.push({
    name: 'verify',
    durationMs: Math.round(performance.now() - t2),
    ok: check.ok && (evidence?.proof?.ok ?? true),
    message: evidence?.proof ? `${check.message}; ${evidence.proof.message}` : check.message,
  });
  const [restoredBeat, sourceBeat] = await Promise.all([heartbeatOf(restored, rt), heartbeatOf(site.target, rt)]);
  const chosen = /restore backup set ([0-9A-Z_-]+)/.exec(out.stdout);
  return {
    stanza: site.policy.stanza,
    target: input.to,
    dataDir: dir,
    port,
    url: restored.display,
    stopCommand: `pg_ctl -D ${dir} -m fast stop${site.runAs ? ` (as ${site.runAs.user})` : ''}`,
    backup: chosen?.[1] ?? null,
    phases,
    heartbeat: {
      restored: restoredBeat,
      source: sourceBeat,
      lostMs: restoredBeat && sourceBeat ? Math.max(0, Date.parse(sourceBeat) - Date.parse(restoredBeat)) : null,
    },
    totalMs: Math.round(performance.now() - tFetch),
    evidence,
  };
}
