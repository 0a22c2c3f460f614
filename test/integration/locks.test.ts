// The one operation lock (infra/db/locks.ts) on real PostgreSQL: which modes exclude which, the holder named,
// waiting, and nothing left held after a refusal.
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { EnvError } from '../../pipeline/core/errors.ts';
import { acquireOperationLock, releaseOperationLock, type OperationMode } from '../../pipeline/infra/db/locks.ts';
import { useDatabase } from '../helpers/db.ts';

const db = useDatabase('locks');
const open: pg.Client[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.end().catch(() => undefined)));
});

async function session(name: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: db().url, application_name: name });
  await c.connect();
  open.push(c);
  return c;
}

const pidOf = async (c: pg.Client) => (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
const take = (c: pg.Client, mode: OperationMode, waitMs = 0) => acquireOperationLock(c, mode, { what: `A ${mode}`, waitMs });
const heldBy = async (c: pg.Client) =>
  Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()`)).rows[0]!.n);

describe('the operation lock', () => {
  it('two deploys exclude each other, and the refusal names the holder', async () => {
    const [a, b] = [await session('dbops deploy A'), await session('dbops deploy B')];
    await take(a, 'deploy');
    const error = await take(b, 'deploy').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EnvError);
    expect((error as EnvError).message).toContain(
      `A deploy of this database cannot start now: the deploy lock is held by pid ${await pidOf(a)} (dbops deploy A`,
    );
    expect(await heldBy(b)).toBe(0);
  });

  it('a backup runs beside a deploy; maintenance waits for both, and backups and deploys wait for maintenance', async () => {
    const [deploy, backup, maintenance] = [await session('deploy'), await session('backup'), await session('maintenance')];
    await take(deploy, 'deploy');
    await take(backup, 'backup');
    const refused = (await take(maintenance, 'maintenance').catch((e: unknown) => e)) as EnvError;
    expect(refused.message).toContain('the maintenance lock is held by pid');
    expect(await heldBy(maintenance)).toBe(0);

    await releaseOperationLock(deploy, 'deploy');
    // Maintenance queues behind the backup and gets the lock once the backup releases it.
    const waiting = take(maintenance, 'maintenance', 10_000);
    await new Promise((r) => setTimeout(r, 300));
    await releaseOperationLock(backup, 'backup');
    await waiting;
    expect(await heldBy(maintenance)).toBe(1);

    expect(((await take(backup, 'backup').catch((e: unknown) => e)) as EnvError).message).toContain(
      `the maintenance lock is held by pid ${await pidOf(maintenance)}`,
    );
    expect(((await take(deploy, 'deploy').catch((e: unknown) => e)) as EnvError).message).toContain('the maintenance lock is held by pid');
    // The deploy lock it took before failing on the second one is released again.
    expect(await heldBy(deploy)).toBe(0);
  });
});
