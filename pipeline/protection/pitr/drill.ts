import { EnvError } from '../../core/errors.ts';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDuration, sleep } from '../../core/duration.ts';
import { formatMs } from '../../core/format.ts';
import type { Runtime } from '../../core/runtime.ts';
import { connect, withClient, type Client } from '../../infra/db/client.ts';
import { acquireOperationLock } from '../../infra/db/locks.ts';
import { parseDatabaseUrl, type DbTarget } from '../../infra/db/url.ts';
import { clusterUrl, createCluster, destroyCluster, startCluster, stopServerAt, type Cluster } from '../../infra/pg/cluster.ts';
import type { BackupsPolicy } from '../../policy/backups.ts';
import { appendBundle, type DrDrill, type EvidenceStore, type RunIdentity } from '../../evidence/index.ts';
import { enablePitr } from './enable.ts';
import { beat, ensureHeartbeatTable, heartbeatOf } from './heartbeat.ts';
import { pitrBackup } from './operate.ts';
import { PROMOTION_DIRS, promoteReplica } from './promote-drill.ts';
import { pitrRestore, restoredTarget, type RestoreTarget } from './restore.ts';
import { pitrPolicyOf } from './site.ts';

export const DRILL_SCENARIOS = ['lost-primary', 'bad-migration', 'dropped-table', 'promote-replica'] as const;
export type DrillScenario = (typeof DRILL_SCENARIOS)[number];

export interface DrillData {
  environment: string;
  drill: DrDrill;
  /** The scratch folder (primary, repository, recovered cluster); removed afterwards unless kept. */
  scratchDir: string;
  kept: boolean;
  bundle: { environment: string; sequence: number; key: string; sha256: string };
}

interface Committed {
  rows: number;
  lastBeat: string | null;
}

type Phase = DrDrill['phases'][number];

const nowIso = () => new Date().toISOString();

/**
 * The drill's own ledger workload: a row every 50 ms and a heartbeat every `heartbeatMs`, for `forMs`,
 * on one connection. What it reports is only what committed.
 */
async function workload(c: Client, forMs: number, heartbeatMs: number, signal: AbortSignal): Promise<Committed> {
  const end = Date.now() + forMs;
  let lastBeat: string | null = null;
  let nextBeat = 0;
  while (Date.now() < end && !signal.aborted) {
    await c.query('INSERT INTO ledger (amount) VALUES (round((random() * 1000)::numeric, 2))');
    if (Date.now() >= nextBeat) {
      lastBeat = await beat(c);
      nextBeat = Date.now() + heartbeatMs;
    }
    await sleep(50, signal);
  }
  lastBeat = await beat(c);
  const { rows } = await c.query<{ n: string }>('SELECT count(*) AS n FROM ledger');
  return { rows: Number(rows[0]!.n), lastBeat };
}

/** Closes the segment holding the disaster and waits until it is archived: a restore to a point before it needs WAL past it. */
async function archiveUpToNow(c: Client, signal: AbortSignal): Promise<string> {
  const { rows } = await c.query<{ wal: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS wal');
  const wal = rows[0]!.wal;
  for (let i = 0; i < 600 && !signal.aborted; i++) {
    const { rows: a } = await c.query<{ last: string | null }>('SELECT last_archived_wal AS last FROM pg_stat_archiver');
    if (a[0]!.last && a[0]!.last >= wal) return wal;
    await sleep(100, signal);
  }
  throw new Error(`WAL segment ${wal} was not archived within 60 s`);
}

async function underDeployLock<T>(target: DbTarget, rt: Runtime, fn: () => Promise<T>): Promise<T> {
  return withClient(target, { log: rt.log, applicationName: 'dbops dr drill (evidence)' }, async (c) => {
    await acquireOperationLock(c, 'deploy', {
      waitMs: 30 * 60_000,
      signal: rt.signal,
      what: "A DR drill's evidence",
      onWait: (holder) => rt.progress(`Waiting for ${holder} before writing the drill's bundle …`),
    });
    return fn();
  });
}

const timed = async <T>(phases: Phase[], name: string, fn: () => Promise<{ value: T; message: string }>): Promise<T> => {
  const t = performance.now();
  const { value, message } = await fn();
  phases.push({ name, durationMs: Math.round(performance.now() - t), ok: true, message });
  return value;
};

/**
 * `dbops dr drill`: builds a scratch primary with its own stanza and repository, runs a ledger workload
 * with heartbeats, causes the scenario's disaster there (never on a cluster it did not create), recovers
 * with the commands the runbook gives (pitr restore), times every phase, measures RPO from the heartbeats
 * and RTO from the clock, and appends a `dr-drill` bundle to the environment's evidence chain.
 */
export async function runDrill(
  input: {
    scenario: DrillScenario;
    backups: BackupsPolicy;
    store: EvidenceStore;
    run: RunIdentity | null;
    workloadMs: number;
    keep: boolean;
    /** With --environment: recover that environment's database from its repository instead of a scratch primary. */
    source?: DbTarget | undefined;
  },
  rt: Runtime,
): Promise<DrillData> {
  const base = pitrPolicyOf(input.backups).policy;
  const scratchDir = await mkdtemp(join(tmpdir(), 'dbops-drill-'));
  // The server's OS user must reach the scratch folders (mkdtemp makes them private to this user).
  await chmod(scratchDir, 0o755);
  const startedAt = nowIso();
  const phases: Phase[] = [];
  let primary: Cluster | undefined;
  let recoveredDir: string | undefined;
  try {
    let source: DbTarget;
    let backups: BackupsPolicy;
    let committed: Committed;
    let to: RestoreTarget;
    let disasterAt: string;
    let disasterClock: number;
    if (input.scenario === 'promote-replica') {
      if (input.source) throw new Error('promote-replica builds its own primary and replica: it takes no environment');
      return await promotionDrill(input, base, scratchDir, startedAt, rt);
    }
    if (input.source) {
      // An environment's repository: nothing is broken; the recovery is timed from now.
      source = input.source;
      backups = input.backups;
      disasterClock = performance.now();
      disasterAt = nowIso();
      committed = { rows: 0, lastBeat: await heartbeatOf(source, rt) };
      to = { kind: 'latest' };
      phases.push({
        name: 'detect',
        durationMs: 0,
        ok: true,
        message: 'no disaster caused: the environment is recovered from its repository into scratch space',
      });
    } else {
      rt.progress(`Building the drill's scratch primary in ${scratchDir} …`);
      primary = await createCluster({ dir: join(scratchDir, 'primary'), log: rt.log, env: rt.env });
      await startCluster(primary, rt.log);
      await withClient(parseDatabaseUrl(clusterUrl(primary, 'postgres')), { log: rt.log, applicationName: 'dbops dr drill' }, (c) =>
        c.query('CREATE DATABASE ledger'),
      );
      source = parseDatabaseUrl(clusterUrl(primary, 'ledger'));
      backups = { ...input.backups, pitr: { ...base, stanza: 'drill', repositories: [], state_dir: join(scratchDir, 'pitr') } };
      await enablePitr({ target: source, backups }, rt);
      const c = await connect(source, { log: rt.log, applicationName: 'dbops dr drill (workload)' });
      try {
        await ensureHeartbeatTable(c);
        await c.query('CREATE TABLE ledger (id bigserial PRIMARY KEY, amount numeric(19,2) NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())');
        await pitrBackup({ target: source, backups, type: 'full' }, rt);
        rt.progress(`Writing ledger rows and heartbeats for ${formatMs(input.workloadMs)} …`);
        committed = await workload(c, input.workloadMs, parseDuration(base.heartbeat.interval) ?? 30_000, rt.signal);
        // Ctrl-C only cuts the workload short: a drill that went on would record a recovery nobody asked for.
        if (rt.signal.aborted) throw new EnvError('Interrupted before the disaster: the drill wrote no bundle, and its scratch cluster is removed.');
        rt.progress(`Causing the disaster: ${input.scenario} …`);
        if (input.scenario === 'lost-primary') {
          disasterClock = performance.now();
          disasterAt = nowIso();
          await c.end();
          await stopServerAt(primary.dataDir, rt.log, 'immediate', rt.env);
          await rm(primary.dataDir, { recursive: true, force: true });
          to = { kind: 'latest' };
          await timed(phases, 'detect', async () => {
            const down = await withClient(source, { log: rt.log, applicationName: 'dbops dr drill (probe)' }, () => Promise.resolve(false)).catch(() => true);
            return { value: down, message: down ? 'the primary refuses connections and its data directory is gone' : 'the primary still answers' };
          });
        } else {
          let target: RestoreTarget;
          if (input.scenario === 'bad-migration') {
            // As `dbops deploy` does before its first migration: a named restore point.
            const name = `dbops-drill-${Date.now()}`;
            await c.query('SELECT pg_create_restore_point($1)', [name]);
            target = { kind: 'name', name };
            await c.query('BEGIN; UPDATE ledger SET amount = 0; ALTER TABLE ledger DROP COLUMN at; COMMIT');
          } else {
            const { rows } = await c.query<{ t: string }>(`SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t`);
            target = { kind: 'time', time: rows[0]!.t };
            await sleep(20, rt.signal);
            await c.query('DROP TABLE ledger');
          }
          disasterClock = performance.now();
          disasterAt = nowIso();
          to = target;
          await timed(phases, 'detect', async () => {
            const { rows } = await c.query<{ broken: boolean }>(
              input.scenario === 'bad-migration'
                ? `SELECT NOT EXISTS (SELECT 1 FROM ledger WHERE amount <> 0) AS broken`
                : `SELECT to_regclass('ledger') IS NULL AS broken`,
            );
            const wal = await archiveUpToNow(c, rt.signal);
            return {
              value: rows[0]!.broken,
              message: `${input.scenario === 'bad-migration' ? 'every ledger amount is 0' : 'the ledger table is gone'}; WAL archived through ${wal}`,
            };
          });
          await c.end();
        }
      } catch (e) {
        await c.end().catch(() => undefined);
        throw e;
      }
    }

    recoveredDir = join(scratchDir, 'recovered');
    rt.progress(`Recovering (${to.kind === 'latest' ? 'latest' : to.kind === 'name' ? `restore point ${to.name}` : `time ${to.time}`}) …`);
    const restored = await pitrRestore({ target: source, backups, to, targetDir: recoveredDir, force: false }, rt);
    phases.push(...restored.phases);
    const recovered = restoredTarget(source, restored.port);
    const restoredRows = await timed(phases, 'ready', async () => {
      const n = await withClient(recovered, { log: rt.log, applicationName: 'dbops dr drill' }, async (c) => {
        await c.query(
          'CREATE TABLE IF NOT EXISTS dbops.drill_probe (at timestamptz NOT NULL DEFAULT clock_timestamp()); INSERT INTO dbops.drill_probe DEFAULT VALUES',
        );
        if (input.source) return null;
        const { rows } = await c.query<{ n: string | null }>(
          `SELECT CASE WHEN to_regclass('ledger') IS NULL THEN NULL ELSE (SELECT count(*) FROM ledger) END AS n`,
        );
        return rows[0]!.n === null ? null : Number(rows[0]!.n);
      });
      return { value: n, message: 'the recovered cluster accepts writes' };
    });
    const readyClock = performance.now();
    const rpoObjectiveMs = parseDuration(base.objectives.rpo) ?? 15 * 60_000;
    const rtoObjectiveMs = parseDuration(base.objectives.rto) ?? 4 * 3_600_000;
    const restoredBeat = restored.heartbeat.restored;
    const achievedRpo = committed.lastBeat && restoredBeat ? Math.max(0, Date.parse(committed.lastBeat) - Date.parse(restoredBeat)) : null;
    const achievedRto = Math.round(readyClock - disasterClock);
    // Scratch scenarios know what committed before the recovery target: all of the workload (it stopped
    // before the disaster) for a restore point or a time, and for a lost primary at most all of it (what is
    // missing is the measured RPO). An environment's data is its own: its heartbeat is the measure there.
    const rows = input.source
      ? null
      : {
          expected: committed.rows,
          restored: restoredRows,
          ok: input.scenario === 'lost-primary' ? restoredRows !== null && restoredRows <= committed.rows : restoredRows === committed.rows,
        };
    const drill: DrDrill = {
      scenario: input.scenario,
      source: input.source ? `${input.store.environment} (${input.source.display})` : 'scratch primary built by the drill',
      startedAt,
      disasterAt,
      readyAt: nowIso(),
      recovery: { type: to.kind, target: to.kind === 'time' ? to.time : to.kind === 'name' ? to.name : null, backup: restored.backup },
      phases,
      rpo: {
        objectiveMs: rpoObjectiveMs,
        sourceHeartbeat: committed.lastBeat,
        restoredHeartbeat: restoredBeat,
        achievedMs: achievedRpo,
        met: achievedRpo !== null && achievedRpo <= rpoObjectiveMs,
      },
      rto: { objectiveMs: rtoObjectiveMs, achievedMs: achievedRto, met: achievedRto <= rtoObjectiveMs },
      rows,
      passed: false,
    };
    return await sealDrill(drill, input, scratchDir, rt);
  } finally {
    if (!input.keep) {
      if (recoveredDir) await stopServerAt(recoveredDir, rt.log, 'immediate', rt.env).catch(() => false);
      if (primary) await destroyCluster(primary, rt.log).catch(() => undefined);
      if (input.scenario === 'promote-replica')
        for (const d of PROMOTION_DIRS) await stopServerAt(join(scratchDir, d, 'data'), rt.log, 'immediate', rt.env).catch(() => false);
      await rm(scratchDir, { recursive: true, force: true });
    }
  }
}

/** The promote-replica scenario: a scratch primary and its streaming replica; the primary stops hard, the replica is promoted. */
async function promotionDrill(
  input: { scenario: DrillScenario; store: EvidenceStore; run: RunIdentity | null; workloadMs: number; keep: boolean },
  base: ReturnType<typeof pitrPolicyOf>['policy'],
  scratchDir: string,
  startedAt: string,
  rt: Runtime,
): Promise<DrillData> {
  const phases: Phase[] = [];
  const m = await promoteReplica({ scratchDir, workloadMs: input.workloadMs, heartbeatMs: parseDuration(base.heartbeat.interval) ?? 30_000, phases }, rt);
  const rpoObjectiveMs = parseDuration(base.objectives.rpo) ?? 15 * 60_000;
  const rtoObjectiveMs = parseDuration(base.objectives.rto) ?? 4 * 3_600_000;
  const achievedRpo = m.committed.lastBeat && m.promoted.lastBeat ? Math.max(0, Date.parse(m.committed.lastBeat) - Date.parse(m.promoted.lastBeat)) : null;
  const achievedRto = Math.round(m.readyClock - m.disasterClock);
  const drill: DrDrill = {
    scenario: 'promote-replica',
    source: 'scratch primary and streaming replica built by the drill',
    startedAt,
    disasterAt: m.disasterAt,
    readyAt: nowIso(),
    recovery: { type: 'promote', target: m.replayLsn, backup: null },
    phases,
    rpo: {
      objectiveMs: rpoObjectiveMs,
      sourceHeartbeat: m.committed.lastBeat,
      restoredHeartbeat: m.promoted.lastBeat,
      achievedMs: achievedRpo,
      met: achievedRpo !== null && achievedRpo <= rpoObjectiveMs,
    },
    rto: { objectiveMs: rtoObjectiveMs, achievedMs: achievedRto, met: achievedRto <= rtoObjectiveMs },
    // Asynchronous streaming: at most every committed row is on the replica; what is missing is the measured RPO.
    rows: {
      expected: m.committed.rows,
      restored: m.promoted.rows,
      ok: m.promoted.rows !== null && m.promoted.rows > 0 && m.promoted.rows <= m.committed.rows,
    },
    passed: false,
  };
  return sealDrill(drill, input, scratchDir, rt);
}

/**
 * The verdict (both objectives met, the rows there, every phase ok) and the `dr-drill` bundle. An environment's
 * chain is also appended to by its deploys: with a source environment the drill takes their lock for its bundle.
 */
async function sealDrill(
  drill: DrDrill,
  input: { store: EvidenceStore; run: RunIdentity | null; keep: boolean; source?: DbTarget | undefined },
  scratchDir: string,
  rt: Runtime,
): Promise<DrillData> {
  drill.passed = drill.rpo.met && drill.rto.met && (drill.rows?.ok ?? true) && drill.phases.every((p) => p.ok);
  const draft = { kind: 'dr-drill' as const, breakGlass: null, execution: null, interrupted: null, run: input.run, drill };
  const stored = input.source ? await underDeployLock(input.source, rt, () => appendBundle(input.store, draft)) : await appendBundle(input.store, draft);
  return {
    environment: input.store.environment,
    drill,
    scratchDir,
    kept: input.keep,
    bundle: { environment: input.store.environment, sequence: stored.bundle.sequence, key: stored.key, sha256: stored.bundle.sha256 },
  };
}
