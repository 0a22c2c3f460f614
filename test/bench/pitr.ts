// What dbops' physical tier costs next to raw pgBackRest, on 1 GiB of table data (BENCH_PITR_MB) in a cluster of
// its own (fsync on, the settings of run.ts's cluster), which `dbops pitr enable` restarts for archive_mode:
// - `dbops pitr backup --type full` (in-process: site resolution, `pgbackrest info` before and after, the
//   backup lock, `pgbackrest backup`) against raw `pgbackrest --config=<state>/pgbackrest.conf --stanza=…
//   backup --type=full`: the configuration file dbops wrote, so the same compression, process-max and
//   repository. Goal: ≤ 1.05× the raw time.
// - `dbops pitr restore --latest` of the newest of those backups plus the WAL written after it, against raw
//   `pgbackrest restore --pg1-path=<new dir> --archive-mode=off --type=default` (what dbops asks pgBackRest
//   for), `pg_ctl start` with dbops' options and polling `pg_is_in_recovery()` until the server promoted:
//   dbops' end state minus its verify phase (pg_amcheck --heapallindexed). The goal, ≤ 1.05×, is on that
//   comparable part (dbops' wall time minus its verify phase); the whole restore against raw plus the same
//   pg_amcheck run is printed beside it.
// - `dbops dr drill --scenario lost-primary --environment bench`: the drill's recovery of this 1 GiB
//   repository into scratch space, each RTO phase. (Its scratch primary holds only a few seconds of ledger
//   rows and has no size parameter; --environment is how the drill recovers a database of real size.)
// dbops and raw runs alternate, and each side's best (min) of BENCH_PITR_RUNS (4: pgBackRest's own run-to-run spread is about 10 %) counts.
import { spawn } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createLogger } from '../../pipeline/core/logger.ts';
import type { RunAs } from '../../pipeline/core/shell.ts';
import { clientTool, findPgBinaries, pgTool, serverRunAs } from '../../pipeline/infra/pg/binaries.ts';
import { clusterUrl, createCluster, destroyCluster, freePort, startCluster, stopServerAt } from '../../pipeline/infra/pg/cluster.ts';
import type { DrillData, PitrBackupData, PitrEnableData, PitrRestoreData } from '../../pipeline/protection/pitr/index.ts';
import { dbops, testEnv } from '../helpers/cli.ts';
import { queryUrl } from '../helpers/db.ts';
import type { BenchResult } from './run.ts';

const MB = Number(process.env['BENCH_PITR_MB'] ?? 1024);
const RUNS = Number(process.env['BENCH_PITR_RUNS'] ?? 4);
const GOAL_BACKUP = 1.05;
const GOAL_RESTORE = 1.05;
const MIB = 1024 * 1024;
const DATABASE = 'bench';
const STANZA = 'bench';

const min = (xs: number[]) => Math.min(...xs);
const seconds = (ms: number) => Number((ms / 1000).toFixed(2));
const ratio = (a: number, b: number) => Number((a / b).toFixed(3));

/** Runs a program to exit 0 as `runAs` (the data directory's owner) when given; the wall time. */
async function timedRun(command: string, args: string[], env: NodeJS.ProcessEnv, runAs: RunAs | undefined, detached = false): Promise<number> {
  const as = runAs ? { uid: runAs.uid, gid: runAs.gid, env: { ...env, HOME: runAs.home, USER: runAs.user, LOGNAME: runAs.user } } : { env };
  const started = performance.now();
  const child = spawn(command, args, { ...as, detached, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve, reject) => (child.on('error', reject), child.on('close', resolve)));
  const ms = performance.now() - started;
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${code}:\n${stderr.trim()}`);
  return ms;
}

/** Written-back pages of the previous run must not slow the next one: each timed run starts after a sync. */
const sync = () => timedRun('sync', [], process.env, undefined);

async function inRecovery(url: string): Promise<boolean | undefined> {
  const c = new pg.Client({ connectionString: url });
  try {
    await c.connect();
    return (await c.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0]!.r;
  } catch {
    return undefined;
  } finally {
    await c.end().catch(() => undefined);
  }
}

export async function bench(): Promise<BenchResult> {
  const log = createLogger({ level: 'warn' });
  const dir = await mkdtemp(join(tmpdir(), 'dbops-bench-pitr-'));
  await chmod(dir, 0o755);
  const runAs = await serverRunAs();
  const bins = await findPgBinaries();
  const restoredDirs: string[] = [];
  const stopRestored = async (d: string) => {
    await stopServerAt(d, log, 'immediate').catch(() => false);
    await rm(d, { recursive: true, force: true });
  };
  // Its own cluster, as run.ts's (fsync on): `pitr enable` restarts it and leaves archiving on.
  const cluster = await createCluster({
    dir: join(dir, 'cluster'),
    log,
    settings: { max_wal_size: "'4GB'", shared_buffers: "'512MB'", maintenance_work_mem: "'256MB'" },
  });
  try {
    await startCluster(cluster, log);
    await queryUrl(clusterUrl(cluster, 'postgres'), `CREATE DATABASE ${DATABASE}`);
    const url = clusterUrl(cluster, DATABASE);
    const sql = <R extends pg.QueryResultRow = Record<string, unknown>>(text: string, params?: unknown[]) => queryUrl<R>(url, text, params);

    // ---- data: MB MiB of table data, 512 hex characters a row (sha512 of a counter: compresses as hex does)
    const payload = [0, 1, 2, 3].map((k) => `encode(sha512(int8send(g * 4 + ${k})), 'hex')`).join(' || ');
    await sql('CREATE TABLE pitr_bench (id bigint PRIMARY KEY, payload text NOT NULL)');
    const insert = (from: number, rows: number) =>
      sql(`INSERT INTO pitr_bench SELECT g, ${payload} FROM generate_series($1::bigint, $2::bigint) g`, [from, from + rows - 1]);
    const tableBytes = async () => Number((await sql<{ b: string }>(`SELECT pg_table_size('pitr_bench')::text AS b`))[0]!.b);
    // A first batch measures the bytes a row takes; the rest is inserted in batches of at most 200,000 rows.
    let rows = 10_000;
    await insert(1, rows);
    const wanted = Math.ceil((MB * MIB) / ((await tableBytes()) / rows));
    while (rows < wanted) {
      const batch = Math.min(200_000, wanted - rows);
      await insert(rows + 1, batch);
      rows += batch;
    }
    // The estimate from the first batch can fall a little short: topped up to the size asked for.
    while ((await tableBytes()) < MB * MIB) {
      await insert(rows + 1, 1_000);
      rows += 1_000;
    }
    await sql('VACUUM (FREEZE, ANALYZE) pitr_bench');
    await sql('CHECKPOINT');
    const loadedBytes = await tableBytes();

    // ---- PITR set up as the integration tests do: a policies folder with a pitr: section, then `pitr enable`
    const policies = join(dir, 'policies');
    await Promise.all([mkdir(policies), mkdir(join(dir, 'evidence-target'))]);
    await writeFile(
      join(policies, 'backups.yaml'),
      `version: 1\ntargets:\n  local:\n    type: directory\n    path: ${join(dir, 'evidence-target')}\n    primary: true\npitr:\n  stanza: ${STANZA}\n  state_dir: ${join(dir, 'pitr')}\n`,
    );
    await writeFile(join(policies, 'environments.yaml'), 'version: 1\nenvironments:\n  bench:\n    database_url_env: BENCH_PITR_URL\n');
    const env = testEnv({ DBOPS_LOCAL_DIR: join(dir, 'local'), BENCH_PITR_URL: url });
    const common = ['--database-url', url, '--policies-dir', policies, '--json'];
    const enable = await dbops(['pitr', 'enable', ...common], env);
    if (enable.code !== 0) throw new Error(`pitr enable failed (exit ${enable.code}):\n${enable.all}`);
    const enabled = (JSON.parse(enable.stdout) as { data: PitrEnableData }).data;

    // Raw pgBackRest: the configuration file dbops wrote, the libpq variables a shell user would export.
    const u = new URL(url);
    const rawEnv: NodeJS.ProcessEnv = {
      ...process.env,
      PGHOST: u.hostname,
      PGPORT: u.port,
      PGUSER: decodeURIComponent(u.username),
      PGPASSWORD: decodeURIComponent(u.password),
    };
    const pgbackrest = (command: string, args: string[]) =>
      timedRun('pgbackrest', [`--config=${enabled.configPath}`, `--stanza=${enabled.stanza}`, ...args, command], rawEnv, runAs);

    // ---- pitr backup --type full vs raw pgbackrest backup --type=full -------------------------------------
    // Untimed once: the page cache, the checkpoint of the load, lazily loaded modules.
    await pgbackrest('backup', ['--type=full']);
    const rawBackup: number[] = [];
    const dbopsBackup: Array<{ ms: number; data: PitrBackupData }> = [];
    const dbopsBackupOnce = async () => {
      await sync();
      const started = performance.now();
      const out = await dbops(['pitr', 'backup', '--type', 'full', ...common, '--reports-dir', join(dir, 'reports')], env);
      const ms = performance.now() - started;
      if (out.code !== 0) throw new Error(`pitr backup failed (exit ${out.code}):\n${out.all}`);
      dbopsBackup.push({ ms, data: (JSON.parse(out.stdout) as { data: PitrBackupData }).data });
    };
    const rawBackupOnce = async () => {
      await sync();
      rawBackup.push(await pgbackrest('backup', ['--type=full']));
    };
    // Alternated, the order swapped every run, so a burst of foreign load hits both sides alike.
    for (let i = 0; i < RUNS; i++) for (const run of i % 2 ? [dbopsBackupOnce, rawBackupOnce] : [rawBackupOnce, dbopsBackupOnce]) await run();
    const backupRawMs = min(rawBackup);
    const backupDbopsMs = min(dbopsBackup.map((b) => b.ms));
    const backupRatio = backupDbopsMs / backupRawMs;
    const made = dbopsBackup.at(-1)!.data.backups[0]!;

    // ---- WAL after the newest backup, for both restores to replay: 1/16 of the data in new rows -----------
    const [{ before }] = (await sql<{ before: string }>('SELECT pg_current_wal_lsn()::text AS before')) as [{ before: string }];
    const walRows = Math.max(1, Math.round(rows / 16));
    await insert(rows + 1, walRows);
    const [{ wal, walBytes }] = (await sql<{ wal: string; walBytes: string }>(
      `SELECT pg_walfile_name(pg_switch_wal()) AS wal, pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::bigint::text AS "walBytes"`,
      [before],
    )) as [{ wal: string; walBytes: string }];
    for (let i = 0; ; i++) {
      const [{ last }] = (await sql<{ last: string | null }>('SELECT last_archived_wal AS last FROM pg_stat_archiver')) as [{ last: string | null }];
      if (last && last >= wal) break;
      if (i > 1200) throw new Error(`WAL segment ${wal} was not archived within 120 s`);
      await new Promise((r) => setTimeout(r, 100));
    }

    // ---- pitr restore --latest vs raw pgbackrest restore + pg_ctl start + wait for promotion ----------------
    const pgCtl = await pgTool(bins, 'pg_ctl');
    const pgAmcheck = await clientTool(bins, 'pg_amcheck', bins.major);
    const rawRestore: Array<{ restoreMs: number; replayMs: number; totalMs: number; amcheckMs: number }> = [];
    const dbopsRestore: Array<{ ms: number; data: PitrRestoreData }> = [];
    let n = 0;
    const rawRestoreOnce = async () => {
      const target = join(dir, `restored-${++n}`);
      restoredDirs.push(target);
      await sync();
      const started = performance.now();
      await mkdir(target, { mode: 0o700 });
      if (runAs) await chown(target, runAs.uid, runAs.gid);
      const restoreMs = await pgbackrest('restore', [`--pg1-path=${target}`, '--archive-mode=off', '--type=default']);
      const t1 = performance.now();
      const port = await freePort();
      await timedRun(
        pgCtl,
        [
          '-D',
          target,
          '-l',
          join(target, 'restore.log'),
          '-o',
          `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c archive_mode=off`,
          '-w',
          '-t',
          '3600',
          'start',
        ],
        process.env,
        runAs,
        true,
      );
      const restoredUrl = `postgresql://${u.username}:${u.password}@127.0.0.1:${port}/${DATABASE}`;
      // pg_ctl returns at consistency; as dbops does, a connection every 100 ms until recovery ended.
      while ((await inRecovery(restoredUrl)) !== false) {
        if (performance.now() - t1 > 3_600_000) throw new Error(`the raw restore in ${target} did not promote within an hour`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const done = performance.now();
      // The same check dbops' verify phase runs, timed on its own.
      const amcheckMs = await timedRun(
        pgAmcheck,
        ['--install-missing', '--no-password', '--jobs=2', '--heapallindexed', `--database=${DATABASE}`],
        { ...rawEnv, PGPORT: String(port) },
        undefined,
      );
      rawRestore.push({ restoreMs, replayMs: done - t1, totalMs: done - started, amcheckMs });
      await stopRestored(target);
    };
    const dbopsRestoreOnce = async () => {
      const target = join(dir, `restored-${++n}`);
      restoredDirs.push(target);
      await sync();
      const started = performance.now();
      const out = await dbops(['pitr', 'restore', '--latest', '--target-dir', target, ...common], env);
      const ms = performance.now() - started;
      if (out.code !== 0) throw new Error(`pitr restore failed (exit ${out.code}):\n${out.all}`);
      dbopsRestore.push({ ms, data: (JSON.parse(out.stdout) as { data: PitrRestoreData }).data });
      await stopRestored(target);
    };
    // Untimed once, as for the backups: the first restore after the backups is markedly slower (1.5–3 s at
    // 1 GiB) whichever side runs it, and would leave that side one run to take the better of.
    await rawRestoreOnce();
    rawRestore.length = 0;
    for (let i = 0; i < RUNS; i++) for (const run of i % 2 ? [rawRestoreOnce, dbopsRestoreOnce] : [dbopsRestoreOnce, rawRestoreOnce]) await run();
    const phase = (d: PitrRestoreData, name: string) => d.phases.find((p) => p.name === name)?.durationMs ?? 0;
    const comparable = dbopsRestore.map((r) => ({ ...r, withoutVerifyMs: r.ms - phase(r.data, 'verify') }));
    const bestDbops = comparable.reduce((a, b) => (b.withoutVerifyMs < a.withoutVerifyMs ? b : a));
    const bestRaw = rawRestore.reduce((a, b) => (b.totalMs < a.totalMs ? b : a));
    const restoreRatio = bestDbops.withoutVerifyMs / bestRaw.totalMs;
    const ownRestoreMs = (r: { ms: number; data: PitrRestoreData }) => r.ms - phase(r.data, 'restore') - phase(r.data, 'WAL replay') - phase(r.data, 'verify');
    const withVerifyDbops = min(dbopsRestore.map((r) => r.ms));
    const withVerifyRaw = min(rawRestore.map((r) => r.totalMs + r.amcheckMs));

    // ---- the drill's RTO phases on this repository ---------------------------------------------------------
    const drillOut = await dbops(['dr', 'drill', '--scenario', 'lost-primary', '--environment', 'bench', '--policies-dir', policies, '--json'], env);
    if (drillOut.code !== 0) throw new Error(`dr drill failed (exit ${drillOut.code}):\n${drillOut.all}`);
    const drill = (JSON.parse(drillOut.stdout) as { data: DrillData }).data.drill;

    const [{ db }] = (await queryUrl<{ db: string }>(clusterUrl(cluster, 'postgres'), 'SELECT pg_database_size($1)::text AS db', [DATABASE])) as [
      { db: string },
    ];
    const metrics: Record<string, number | string> = {
      'table data (MiB, pg_table_size)': Math.round(loadedBytes / MIB),
      'rows loaded (512 hex characters each)': rows,
      'database size after the WAL rows (MiB)': Math.round(Number(db) / MIB),
      'pgBackRest compress-type / process-max (policy defaults)': 'zst / 2',
      'full backup: cluster copied / stored (MiB)': `${Math.round(made.sizeBytes / MIB)} / ${Math.round(made.repositoryBytes / MIB)}`,
      [`raw pgbackrest backup --type=full, min of ${RUNS} (s)`]: seconds(backupRawMs),
      [`dbops pitr backup --type full, min of ${RUNS} (s)`]: seconds(backupDbopsMs),
      '  of which lock + pgbackrest backup (s)': seconds(min(dbopsBackup.map((b) => b.data.durationMs))),
      'backup: dbops / raw time (×)': ratio(backupDbopsMs, backupRawMs),
      'every backup run, raw | dbops (s)': rawBackup.map((r, i) => `${seconds(r)} | ${seconds(dbopsBackup[i]!.ms)}`).join(', '),
      "dbops' own time around pgbackrest backup, each run (s)": dbopsBackup.map((b) => seconds(b.ms - b.data.durationMs)).join(', '),
      '  least of it, as a share of the raw backup (%)': Number(((100 * min(dbopsBackup.map((b) => b.ms - b.data.durationMs))) / backupRawMs).toFixed(1)),
      'WAL replayed after the backup (MiB)': Math.round(Number(walBytes) / MIB),
      [`raw restore + start + replay to promotion, min of ${RUNS} (s)`]: seconds(bestRaw.totalMs),
      '  raw: pgbackrest restore | pg_ctl start → promoted (s)': `${seconds(bestRaw.restoreMs)} | ${seconds(bestRaw.replayMs)}`,
      [`dbops pitr restore --latest without its verify phase, min of ${RUNS} (s)`]: seconds(bestDbops.withoutVerifyMs),
      '  dbops: fetch | restore | WAL replay (s)': ['fetch', 'restore', 'WAL replay'].map((p) => seconds(phase(bestDbops.data, p))).join(' | '),
      'restore without verify: dbops / raw time (×)': Number(restoreRatio.toFixed(3)),
      'every restore run without verify, raw | dbops (s)': rawRestore
        .map((r, i) => `${seconds(r.totalMs)} | ${seconds(comparable[i]!.withoutVerifyMs)}`)
        .join(', '),
      '  each run: pgbackrest restore + replay, raw | dbops (s)': rawRestore
        .map(
          (r, i) =>
            `${seconds(r.restoreMs)} + ${seconds(r.replayMs)} | ${seconds(phase(dbopsRestore[i]!.data, 'restore'))} + ${seconds(phase(dbopsRestore[i]!.data, 'WAL replay'))}`,
        )
        .join(', '),
      "dbops' own time around pgBackRest and the server (fetch, set-up, heartbeats), each run (s)": dbopsRestore
        .map((r) => seconds(ownRestoreMs(r)))
        .join(', '),
      '  least of it, as a share of the raw restore (%)': Number(((100 * min(dbopsRestore.map(ownRestoreMs))) / bestRaw.totalMs).toFixed(1)),
      [`dbops verify phase (pg_amcheck --heapallindexed), min of ${RUNS} (s)`]: seconds(min(dbopsRestore.map((r) => phase(r.data, 'verify')))),
      [`raw pg_amcheck --heapallindexed --jobs=2, min of ${RUNS} (s)`]: seconds(min(rawRestore.map((r) => r.amcheckMs))),
      [`whole restore incl. verify, dbops | raw + pg_amcheck, min of ${RUNS} (s)`]: `${seconds(withVerifyDbops)} | ${seconds(withVerifyRaw)}`,
      'restore incl. verify on both sides: dbops / raw time (×)': ratio(withVerifyDbops, withVerifyRaw),
      [`dr drill --environment (lost-primary, this ${MB} MiB repository): ${drill.phases.map((p) => p.name).join(' | ')} (s)`]: drill.phases
        .map((p) => seconds(p.durationMs))
        .join(' | '),
      'dr drill: RTO achieved (s) / RPO achieved (ms) / passed': `${seconds(drill.rto.achievedMs)} / ${drill.rpo.achievedMs ?? 'not measured'} / ${drill.passed}`,
    };
    const goals = [
      { description: `pitr backup --type full ≤ ${GOAL_BACKUP}× the time of raw pgbackrest backup`, met: backupRatio <= GOAL_BACKUP },
      { description: `pitr restore --latest without verify ≤ ${GOAL_RESTORE}× raw restore + replay to promotion`, met: restoreRatio <= GOAL_RESTORE },
    ];
    return {
      name: `pitr: dbops pitr backup/restore vs raw pgBackRest (${MB} MiB of table data)`,
      metrics,
      goal: { description: goals.map((g) => g.description).join('; '), met: goals.every((g) => g.met) },
    };
  } finally {
    for (const d of restoredDirs) await stopRestored(d).catch(() => undefined);
    await destroyCluster(cluster, log).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}
