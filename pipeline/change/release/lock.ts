import { EnvError } from '../../core/errors.ts';
import { sleep } from '../../core/duration.ts';
import type { Session } from '../migrations/index.ts';
import { formatMs } from '../../core/format.ts';

/**
 * The deploy lock: a session-level advisory lock distinct from Prisma's migration lock (72707369), held by
 * `dbops deploy` and `dbops rollback` from the gate to the evidence bundle, so two deploys of one database
 * never interleave (Prisma's lock is only held while migrations run). Two-key form, class 'dbop'.
 */
export const DEPLOY_LOCK = { classId: 0x64626f70, objectId: 1 } as const;

const LOCK_SQL = `pg_try_advisory_lock(${DEPLOY_LOCK.classId}, ${DEPLOY_LOCK.objectId})`;

/** Who holds the deploy lock (another session), for messages; undefined when nobody does. */
export async function deployLockHolder(s: Session): Promise<string | undefined> {
  const { rows } = await s.client.query<{ pid: number; app: string; usename: string; client: string | null; age: string }>(
    `SELECT a.pid, a.application_name AS app, a.usename, a.client_addr::text AS client,
            coalesce(to_char(now() - a.backend_start, 'HH24:MI:SS'), '?') AS age
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 2 AND l.granted AND l.pid <> pg_backend_pid()
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    [DEPLOY_LOCK.classId, DEPLOY_LOCK.objectId],
  );
  const r = rows[0];
  return r ? `pid ${r.pid} (${r.app || 'unknown application'}, user ${r.usename}${r.client ? ` from ${r.client}` : ''}, connected ${r.age} ago)` : undefined;
}

/**
 * Takes the deploy lock on the session. Without `waitMs` a held lock fails at once (exit 3) naming the
 * holder; with it, polls until the lock is free or the wait is over, reporting the holder through `onWait`.
 */
export async function acquireDeployLock(s: Session, options: { waitMs?: number; signal?: AbortSignal; onWait?: (holder: string) => void } = {}): Promise<void> {
  const deadline = Date.now() + (options.waitMs ?? 0);
  let announced = false;
  for (;;) {
    const { rows } = await s.client.query<{ ok: boolean }>(`SELECT ${LOCK_SQL} AS ok`);
    if (rows[0]!.ok) return;
    const holder = (await deployLockHolder(s)) ?? 'another session';
    if (Date.now() >= deadline || options.signal?.aborted) {
      throw new EnvError(`Another deploy or rollback of this database is running: the deploy lock is held by ${holder}.`, {
        hint: options.waitMs
          ? `It did not finish within ${formatMs(options.waitMs)}. Wait for it (see its workflow run), or raise --wait-timeout.`
          : 'Wait for it to finish, or pass --wait to queue behind it.',
      });
    }
    if (!announced) options.onWait?.(holder);
    announced = true;
    await sleep(Math.min(2000, Math.max(50, deadline - Date.now())), options.signal);
  }
}

export async function releaseDeployLock(s: Session): Promise<void> {
  await s.client.query(`SELECT pg_advisory_unlock(${DEPLOY_LOCK.classId}, ${DEPLOY_LOCK.objectId})`).catch(() => undefined);
}
