import { parseDuration, sleep } from '../../core/duration.ts';
import { formatBytes, formatMs, names } from '../../core/format.ts';
import { redact } from '../../core/redact.ts';
import { parseSize } from '../../core/size.ts';
import type { Logger } from '../../core/logger.ts';
import type { Finding } from '../../core/result.ts';
import { connect, type Client } from '../../infra/db/client.ts';
import { parseDatabaseUrl, type DbTarget } from '../../infra/db/url.ts';
import type { GateCheck, GateReason, ReplicaCatchUp } from '../../evidence/index.ts';
import type { EnvironmentPolicy } from '../../policy/environments.ts';
import type { Environment } from './environment.ts';
import { gateCheck, type GateScope } from './checks/types.ts';

/**
 * The replicas of an environment (policies/environments.yaml `replicas`, `replication`) as the deploy path
 * sees them: the gate's lag check before a deploy, and the wait for every replica to replay the deploy after
 * it. Lag is WAL bytes the replica has yet to replay: the primary's pg_current_wal_lsn() minus the
 * replica's pg_last_wal_replay_lsn() (pg_wal_lsn_diff). URLs come from the variables the policy names and
 * are never printed; messages name the replica, the variable and host:port only.
 */

type Replica = EnvironmentPolicy['replicas'][number];

const APPLICATION_NAME = 'dbops replicas';
const CONNECT_TIMEOUT_MS = 5000;

/** `16/B374D848` → bytes. */
export function lsnBytes(lsn: string): bigint {
  const [hi, lo] = lsn.split('/');
  return (BigInt(`0x${hi ?? '0'}`) << 32n) + BigInt(`0x${lo ?? '0'}`);
}

/** pg_wal_lsn_diff(a, b), never below 0. */
export const lsnDiff = (a: string, b: string): number => {
  const d = lsnBytes(a) - lsnBytes(b);
  return d > 0n ? Number(d) : 0;
};

const messageOf = (e: unknown) => redact((e instanceof Error ? e.message : String(e)).split('\n')[0]!);

/** A replica's target from its variable, or why it has none. */
function replicaTarget(r: Replica, env: NodeJS.ProcessEnv): { target: DbTarget } | { problem: string } {
  const url = env[r.database_url_env];
  if (!url) return { problem: `its URL variable ${r.database_url_env} is not set` };
  try {
    return { target: parseDatabaseUrl(url, undefined, r.database_url_env) };
  } catch (e) {
    return { problem: messageOf(e) };
  }
}

async function connectReplica(r: Replica, env: NodeJS.ProcessEnv, log: Logger): Promise<{ client: Client; at: string } | { problem: string }> {
  const t = replicaTarget(r, env);
  if ('problem' in t) return t;
  const target = { ...t.target, config: { ...t.target.config, connectionTimeoutMillis: CONNECT_TIMEOUT_MS } };
  const at = `${target.host}:${target.port}`;
  try {
    return { client: await connect(target, { log, applicationName: APPLICATION_NAME }), at };
  } catch (e) {
    return { problem: `unreachable at ${at} (${r.database_url_env}): ${messageOf(e)}` };
  }
}

interface ReplicaState {
  inRecovery: boolean;
  replayLsn: string | null;
  /** A WAL receiver process runs (pg_stat_wal_receiver has a row). */
  receiving: boolean;
}

async function replicaState(client: Client): Promise<ReplicaState> {
  const { rows } = await client.query<{ r: boolean; lsn: string | null; receiving: boolean }>(
    `SELECT pg_is_in_recovery() AS r, pg_last_wal_replay_lsn()::text AS lsn, EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE pid IS NOT NULL) AS receiving`,
  );
  const row = rows[0]!;
  return { inRecovery: row.r, replayLsn: row.lsn, receiving: row.receiving };
}

const currentLsn = async (primary: Client): Promise<string> => (await primary.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn;

export interface ReplicaLag {
  name: string;
  role: Replica['role'];
  /** Why the replica does not serve (unreachable, promoted, not streaming); null when it does. */
  problem: string | null;
  replayLsn: string | null;
  lagBytes: number | null;
}

/** Each declared replica's lag behind the primary now. */
export async function measureReplicas(
  primary: Client,
  environment: Environment,
  env: NodeJS.ProcessEnv,
  log: Logger,
): Promise<{ primaryLsn: string; replicas: ReplicaLag[] }> {
  const primaryLsn = await currentLsn(primary);
  const replicas = await Promise.all(
    environment.policy.replicas.map(async (r): Promise<ReplicaLag> => {
      const base = { name: r.name, role: r.role, replayLsn: null, lagBytes: null };
      const c = await connectReplica(r, env, log);
      if ('problem' in c) return { ...base, problem: c.problem };
      try {
        const s = await replicaState(c.client);
        if (!s.inRecovery) return { ...base, problem: `${c.at} is not in recovery (promoted, or not a replica of this primary)` };
        if (s.replayLsn === null) return { ...base, problem: `${c.at} has replayed no WAL yet` };
        const lagBytes = lsnDiff(primaryLsn, s.replayLsn);
        return { ...base, replayLsn: s.replayLsn, lagBytes, problem: s.receiving ? null : `${c.at} does not stream from the primary (no WAL receiver)` };
      } catch (e) {
        return { ...base, problem: `${c.at}: ${messageOf(e)}` };
      } finally {
        await c.client.end().catch(() => undefined);
      }
    }),
  );
  return { primaryLsn, replicas };
}

/**
 * The gate's `replicas` check, when the environment declares replicas (else null: no check at all). Every
 * replica must serve (reachable, in recovery, streaming) and have at most replication.max_lag of WAL left
 * to replay; otherwise replicas/lagging, naming the replica, its lag and the limit.
 */
export async function replicasCheck(scope: GateScope): Promise<GateCheck | null> {
  const { environment } = scope;
  if (environment.policy.replicas.length === 0) return null;
  const maxLag = environment.policy.replication.max_lag;
  const limit = parseSize(maxLag) ?? 0;
  let measured: Awaited<ReturnType<typeof measureReplicas>>;
  try {
    measured = await measureReplicas(scope.session.client, environment, scope.env, scope.ctx.log);
  } catch (e) {
    return gateCheck('replicas', 'fail', 'replication not measured', [
      { rule: 'replicas/unmeasured', message: `The WAL position of the primary of ${environment.name} could not be read: ${messageOf(e)}` },
    ]);
  }
  const reasons: GateReason[] = [];
  const behind: ReplicaLag[] = [];
  for (const r of measured.replicas) {
    if (r.problem !== null || (r.lagBytes !== null && r.lagBytes > limit)) behind.push(r);
    const lag = r.lagBytes === null ? 'unknown' : `${formatBytes(r.lagBytes)} (${r.lagBytes} bytes)`;
    if (r.problem !== null)
      reasons.push({
        rule: 'replicas/lagging',
        message: `Replica ${r.name} (${r.role}) of ${environment.name} is not serving: ${r.problem}; lag ${lag}, limit ${maxLag} (replication.max_lag).`,
        hint: `Bring ${r.name} back to streaming (check the replica's log and primary_conninfo), or remove it from replicas: of ${environment.name} in policies/environments.yaml if it is gone for good.`,
      });
    else if (r.lagBytes !== null && r.lagBytes > limit)
      reasons.push({
        rule: 'replicas/lagging',
        message: `Replica ${r.name} (${r.role}) of ${environment.name} lags ${lag} behind the primary (WAL still to replay); the limit is ${maxLag} (replication.max_lag).`,
        hint: `Wait until ${r.name} has caught up (pg_last_wal_replay_lsn() on it, pg_stat_replication on the primary), then run again.`,
      });
  }
  const summary = measured.replicas.map((r) => `${r.name} ${r.problem !== null ? 'not serving' : `lag ${formatBytes(r.lagBytes)}`}`).join(', ');
  return reasons.length === 0
    ? gateCheck('replicas', 'pass', `${summary} (limit ${maxLag})`)
    : gateCheck('replicas', 'fail', `${summary} (limit ${maxLag}): ${names(behind.map((r) => r.name))} behind`, reasons);
}

/**
 * After a deploy: the primary's WAL position after the last migration, then every replica polled (every
 * `pollMs`) until its pg_last_wal_replay_lsn() reaches it, up to replication.catch_up_timeout. Returns each
 * replica's catch-up time (null when it did not catch up, with its remaining lag), and a warning finding
 * per replica that did not. Never throws for a replica: the deploy is applied either way.
 */
export async function waitForReplicas(
  primary: Client,
  environment: Environment,
  env: NodeJS.ProcessEnv,
  io: { log: Logger; progress: (line: string) => void; signal?: AbortSignal | undefined },
  pollMs = 200,
): Promise<{ replicas: ReplicaCatchUp[]; findings: Finding[] }> {
  const declared = environment.policy.replicas;
  if (declared.length === 0) return { replicas: [], findings: [] };
  const timeout = environment.policy.replication.catch_up_timeout;
  const timeoutMs = parseDuration(timeout) ?? 300_000;
  const lsn = await currentLsn(primary);
  const started = Date.now();
  io.progress(`Waiting for ${declared.length === 1 ? 'the replica' : `${declared.length} replicas`} to replay the deploy (LSN ${lsn}, up to ${timeout}) …`);
  const replicas = await Promise.all(
    declared.map(async (r): Promise<ReplicaCatchUp> => {
      const record = (caughtUpMs: number | null, lagBytes: number | null, replayLsn: string | null, problem?: string): ReplicaCatchUp => ({
        name: r.name,
        role: r.role,
        lsn,
        replayLsn,
        caughtUpMs,
        lagBytes,
        ...(problem ? { problem } : {}),
      });
      let c = await connectReplica(r, env, io.log);
      let replayLsn: string | null = null;
      let problem: string | undefined;
      let lastReport = started;
      try {
        for (;;) {
          if ('client' in c) {
            try {
              replayLsn = (await replicaState(c.client)).replayLsn;
              problem = undefined;
            } catch (e) {
              problem = messageOf(e);
              await c.client.end().catch(() => undefined);
              c = { problem };
            }
          } else problem = c.problem;
          if (replayLsn !== null && lsnBytes(replayLsn) >= lsnBytes(lsn)) {
            const ms = Date.now() - started;
            io.progress(`  ✔ ${r.name} replayed the deploy in ${formatMs(ms)}`);
            return record(ms, 0, replayLsn);
          }
          const elapsed = Date.now() - started;
          const lagBytes = replayLsn === null ? null : lsnDiff(lsn, replayLsn);
          if (elapsed >= timeoutMs || io.signal?.aborted) {
            io.progress(
              `  ✘ ${r.name} did not replay the deploy within ${timeout}: ${lagBytes === null ? (problem ?? 'lag unknown') : `${formatBytes(lagBytes)} behind`}`,
            );
            return record(null, lagBytes, replayLsn, problem);
          }
          if (Date.now() - lastReport >= 10_000) {
            lastReport = Date.now();
            io.progress(
              `  … ${r.name}: ${lagBytes === null ? (problem ?? 'lag unknown') : `${formatBytes(lagBytes)} to replay`} (${formatMs(elapsed)} of ${timeout})`,
            );
          }
          await sleep(pollMs, io.signal).catch(() => undefined);
          if (!('client' in c)) c = await connectReplica(r, env, io.log);
        }
      } finally {
        if ('client' in c) await c.client.end().catch(() => undefined);
      }
    }),
  );
  const findings: Finding[] = replicas
    .filter((r) => r.caughtUpMs === null)
    .map((r) => ({
      rule: 'replicas/not-caught-up',
      severity: 'warning',
      message: `Replica ${r.name} (${r.role}) of ${environment.name} did not replay the deploy (LSN ${r.lsn}) within ${timeout} (replication.catch_up_timeout): ${
        r.lagBytes !== null ? `${formatBytes(r.lagBytes)} (${r.lagBytes} bytes) still to replay` : `lag unknown${r.problem ? `: ${r.problem}` : ''}`
      }. The deploy is applied on the primary.`,
      help: `Reads on ${r.name} see the old schema until it catches up: check pg_stat_replication on the primary and the replica's log.`,
    }));
  return { replicas, findings };
}
