import { sleep } from '../../core/duration.ts';
import { EnvError } from '../../core/errors.ts';
import { formatMs } from '../../core/format.ts';
import type { Client } from './client.ts';

/**
 * dbops' advisory locks, in one place: Prisma's migration lock, and the operation locks every dbops operation
 * that changes a database or reads it for long takes in a declared mode. Advisory locks are per database
 * and per session: they end with the connection, so a killed dbops never leaves one behind.
 */

/** An advisory lock key: Prisma's one-bigint form, or dbops' two-int form (class 'dbop' = 0x64626f70). */
export type AdvisoryKey = ({ key: number } | { classId: number; objectId: number }) & { name: string };

/** Prisma's migration lock (spec: 72707369), held by migrate deploy / resolve while migrations run. */
export const PRISMA_MIGRATE_LOCK = { key: 72707369, name: 'migration' } as const satisfies AdvisoryKey;

const DBOP = 0x64626f70;
/** One deploy or rollback of a database at a time, from the gate to the evidence bundle. */
export const DEPLOY_LOCK = { classId: DBOP, objectId: 1, name: 'deploy' } as const satisfies AdvisoryKey;
/** Work that must not overlap maintenance (shared), and maintenance itself (exclusive). */
const ACTIVITY_LOCK = { classId: DBOP, objectId: 2, name: 'maintenance' } as const satisfies AdvisoryKey;

/**
 * Which operations exclude which, written once. Each mode is the set of locks it takes, shared or exclusive:
 * - deploy (deploy and rollback): exclusive on the deploy lock, so two never interleave between the gate's
 *   judgement and the evidence; shared on activity, so maintenance waits for it.
 * - backup (logical and physical): shared on activity only. Backups and deploys may overlap: the deploy's
 *   own pre-deploy backup runs while it holds the deploy lock, and a migration waiting on a backup's
 *   snapshot only meets lock_timeout and is retried.
 * - maintenance (VACUUM, REINDEX, settings): exclusive on activity. A backup's snapshot keeps VACUUM from
 *   reclaiming anything, and REINDEX CONCURRENTLY against a migration's locks fails half-way; so it waits.
 */
export const OPERATION_MODES = {
  deploy: [
    { lock: DEPLOY_LOCK, shared: false },
    { lock: ACTIVITY_LOCK, shared: true },
  ],
  backup: [{ lock: ACTIVITY_LOCK, shared: true }],
  maintenance: [{ lock: ACTIVITY_LOCK, shared: false }],
} as const satisfies Record<string, ReadonlyArray<{ lock: AdvisoryKey; shared: boolean }>>;
export type OperationMode = keyof typeof OPERATION_MODES;

const args = (k: AdvisoryKey) => ('key' in k ? `${k.key}` : `${k.classId}, ${k.objectId}`);
const where = (k: AdvisoryKey) =>
  'key' in k ? `l.classid = 0 AND l.objid = ${k.key} AND l.objsubid = 1` : `l.classid = ${k.classId} AND l.objid = ${k.objectId} AND l.objsubid = 2`;

/**
 * Who else holds `lock` in this database, for messages: `pid 4711 (dbops deploy, user app from 10.0.0.5,
 * connected 00:03:12 ago)`; undefined when nobody does. Advisory locks are per database: the same key held
 * in another database of the server blocks nothing here, so it is not named.
 */
export async function lockHolder(client: Client, lock: AdvisoryKey): Promise<string | undefined> {
  const { rows } = await client.query<{ pid: number; app: string; usename: string; client: string | null; age: string }>(
    `SELECT a.pid, a.application_name AS app, a.usename, a.client_addr::text AS client,
            coalesce(to_char(now() - a.backend_start, 'HH24:MI:SS'), '?') AS age
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND ${where(lock)} AND l.granted AND l.pid <> pg_backend_pid()
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      ORDER BY a.backend_start LIMIT 1`,
  );
  const r = rows[0];
  return r ? `pid ${r.pid} (${r.app || 'unknown application'}, user ${r.usename}${r.client ? ` from ${r.client}` : ''}, connected ${r.age} ago)` : undefined;
}

export interface LockWait {
  /** How long to wait for a held lock; 0 or absent fails at once. */
  waitMs?: number | undefined;
  signal?: AbortSignal | undefined;
  /** Called once, when the first lock is found held, with its holder. */
  onWait?: ((holder: string) => void) | undefined;
  /** What the operation is, for messages: "A deploy or rollback", "A backup". */
  what: string;
}

/**
 * Takes every lock of `mode` on the session, in the mode's order; a held lock is waited for up to `waitMs`
 * (polled, so Ctrl-C ends the wait), then fails with exit 3 naming its holder. What was taken is released
 * when a later lock cannot be.
 */
export async function acquireOperationLock(client: Client, mode: OperationMode, wait: LockWait): Promise<void> {
  const deadline = Date.now() + (wait.waitMs ?? 0);
  const taken: Array<{ lock: AdvisoryKey; shared: boolean }> = [];
  let announced = false;
  try {
    for (const step of OPERATION_MODES[mode]) {
      for (;;) {
        const fn = step.shared ? 'pg_try_advisory_lock_shared' : 'pg_try_advisory_lock';
        const { rows } = await client.query<{ ok: boolean }>(`SELECT ${fn}(${args(step.lock)}) AS ok`);
        if (rows[0]!.ok) {
          taken.push(step);
          break;
        }
        const holder = (await lockHolder(client, step.lock)) ?? 'another session';
        if (Date.now() >= deadline || wait.signal?.aborted) {
          throw new EnvError(`${wait.what} of this database cannot start now: the ${step.lock.name} lock is held by ${holder}.`, {
            hint: wait.waitMs
              ? `It did not finish within ${formatMs(wait.waitMs)}. Wait for it, or allow a longer wait.`
              : 'Wait for it to finish, or let this one queue behind it (deploy: --wait).',
          });
        }
        if (!announced) wait.onWait?.(holder);
        announced = true;
        await sleep(Math.min(2000, Math.max(50, deadline - Date.now())), wait.signal);
      }
    }
  } catch (e) {
    await releaseLocks(client, taken);
    throw e;
  }
}

/** Releases the locks of `mode` taken on the session (closing the session releases them too). */
export const releaseOperationLock = (client: Client, mode: OperationMode): Promise<void> => releaseLocks(client, OPERATION_MODES[mode]);

async function releaseLocks(client: Client, steps: ReadonlyArray<{ lock: AdvisoryKey; shared: boolean }>): Promise<void> {
  for (const step of [...steps].reverse()) {
    await client.query(`SELECT ${step.shared ? 'pg_advisory_unlock_shared' : 'pg_advisory_unlock'}(${args(step.lock)})`).catch(() => undefined);
  }
}
