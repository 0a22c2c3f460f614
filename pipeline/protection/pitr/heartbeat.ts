import { parseDuration, sleep } from '../../core/duration.ts';
import type { Runtime } from '../../core/runtime.ts';
import { withClient, connect, type Client } from '../../infra/db/client.ts';
import { onDatabase } from '../../infra/db/clone.ts';
import type { DbTarget } from '../../infra/db/url.ts';
import type { BackupsPolicy } from '../../policy/backups.ts';
import { pitrPolicyOf } from './site.ts';

/**
 * The heartbeat: one row, `dbops.heartbeat`, whose `at` is rewritten every interval. It makes WAL activity
 * (so archive_timeout really closes segments) and makes RPO a measurement: the newest heartbeat a restored
 * cluster holds, against the source's newest, is how much time a recovery lost.
 */
const TABLE = 'dbops.heartbeat';
const BEAT_SQL = `INSERT INTO ${TABLE} (id, at, beats) VALUES (1, clock_timestamp(), 1)
  ON CONFLICT (id) DO UPDATE SET at = clock_timestamp(), beats = ${TABLE}.beats + 1`;
export const CRON_JOB = 'dbops-heartbeat';

const ISO = `to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** Creates the heartbeat table when missing; returns whether it did. */
export async function ensureHeartbeatTable(c: Client): Promise<boolean> {
  const { rows } = await c.query<{ t: string | null }>(`SELECT to_regclass('${TABLE}')::text AS t`);
  if (rows[0]!.t) return false;
  await c.query(`CREATE SCHEMA IF NOT EXISTS dbops;
    CREATE TABLE IF NOT EXISTS ${TABLE} (id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1), at timestamptz NOT NULL, beats bigint NOT NULL)`);
  return true;
}

/** Writes one heartbeat; returns its time (ISO 8601 UTC, microseconds). */
export async function beat(c: Client): Promise<string> {
  const { rows } = await c.query<{ at: string }>(`${BEAT_SQL} RETURNING ${ISO} AS at`);
  return rows[0]!.at;
}

/** The newest heartbeat of a database, or null when it has none (no table, or never written). */
export async function newestHeartbeat(c: Client): Promise<string | null> {
  const { rows } = await c.query<{ at: string | null }>(
    `SELECT CASE WHEN to_regclass('${TABLE}') IS NULL THEN NULL ELSE (SELECT ${ISO} FROM ${TABLE} WHERE id = 1) END AS at`,
  );
  return rows[0]?.at ?? null;
}

export const heartbeatOf = (target: DbTarget, rt: Runtime): Promise<string | null> =>
  withClient(target, { log: rt.log, applicationName: 'dbops pitr' }, newestHeartbeat).catch(() => null);

/**
 * Schedules the heartbeat with pg_cron when the server preloads it (every minute, pg_cron's finest
 * schedule in 1.4), in the target database through cron.schedule_in_database; pg_cron itself lives in
 * cron.database_name. `absent` when the server does not preload pg_cron: then `dbops pitr heartbeat` must run it.
 */
export async function scheduleHeartbeat(target: DbTarget, rt: Runtime): Promise<'scheduled' | 'unchanged' | 'absent'> {
  return withClient(target, { log: rt.log, applicationName: 'dbops pitr enable' }, async (c) => {
    const { rows } = await c.query<{ preload: string; db: string | null }>(
      `SELECT current_setting('shared_preload_libraries') AS preload, current_setting('cron.database_name', true) AS db`,
    );
    if (!/(^|,)\s*pg_cron\s*(,|$)/.test(rows[0]!.preload)) return 'absent';
    const cronDb = rows[0]!.db || 'postgres';
    return withClient(onDatabase(target, cronDb), { log: rt.log, applicationName: 'dbops pitr enable' }, async (cc) => {
      await cc.query('CREATE EXTENSION IF NOT EXISTS pg_cron');
      const { rowCount } = await cc.query(`SELECT 1 FROM cron.job WHERE jobname = $1 AND command = $2 AND database = $3 AND schedule = '* * * * *'`, [
        CRON_JOB,
        BEAT_SQL,
        target.database,
      ]);
      if (rowCount) return 'unchanged';
      await cc.query(`SELECT cron.schedule_in_database($1, '* * * * *', $2, $3)`, [CRON_JOB, BEAT_SQL, target.database]);
      return 'scheduled';
    });
  });
}

/**
 * `dbops pitr heartbeat`: writes the heartbeat every interval until Ctrl-C (or once), reconnecting after a
 * lost connection: a service must outlive a database restart.
 */
export async function runHeartbeat(
  input: { target: DbTarget; backups: BackupsPolicy; interval?: string | undefined; once: boolean },
  rt: Runtime,
): Promise<{ beats: number; last: string | null; intervalMs: number }> {
  const { policy } = pitrPolicyOf(input.backups);
  const intervalMs = parseDuration(input.interval ?? policy.heartbeat.interval) ?? 30_000;
  let beats = 0;
  let last: string | null = null;
  let client: Client | undefined;
  try {
    for (;;) {
      try {
        if (!client) {
          client = await connect(input.target, { log: rt.log, applicationName: 'dbops pitr heartbeat' });
          await ensureHeartbeatTable(client);
        }
        last = await beat(client);
        beats++;
        rt.log.debug({ at: last }, 'heartbeat');
      } catch (e) {
        if (input.once) throw e;
        rt.progress(`heartbeat not written (${(e as Error).message}); trying again in ${Math.round(intervalMs / 1000)} s`);
        await client?.end().catch(() => undefined);
        client = undefined;
      }
      if (input.once || rt.signal.aborted) break;
      await sleep(intervalMs, rt.signal);
      if (rt.signal.aborted) break;
    }
  } finally {
    await client?.end().catch(() => undefined);
  }
  return { beats, last, intervalMs };
}
