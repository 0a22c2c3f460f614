// pitr expire against the real pgBackRest: the full backups pitr.retention no longer keeps go with their
// diff and incr backups, WAL before the window's start goes too, and a time inside the window still restores.
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dbops, testEnv } from '../helpers/cli.ts';
import { queryUrl } from '../helpers/db.ts';
import { tempDir } from '../helpers/migrations.ts';
import { stopServerAt } from '../../pipeline/infra/pg/cluster.ts';
import { silentLogger } from '../../pipeline/core/logger.ts';
import { sleep } from '../../pipeline/core/duration.ts';

interface Listed {
  label: string;
  type: string;
  walStart: string;
}

describe('dbops pitr expire', async () => {
  const home = await tempDir('dbops-pitr-expire-');
  await chmod(home, 0o755);
  const env = testEnv({ DBOPS_LOCAL_DIR: join(home, 'local') });
  const policies = join(home, 'policies');
  const flags = ['--policies-dir', policies];
  const run = (...args: string[]) => dbops([...args, ...flags], env);
  const json = async (...args: string[]) => {
    const r = await run(...args, '--json');
    expect(r.code, r.all).toBe(0);
    return JSON.parse(r.stdout).data;
  };
  let url = '';
  const restored: string[] = [];
  beforeAll(async () => {
    await mkdir(policies);
    // No calendar tier: the floor (two verified), the unverified grace and the window decide.
    await writeFile(
      join(policies, 'backups.yaml'),
      JSON.stringify({ version: 1, pitr: { retention: { daily: 0, weekly: 0, monthly: 0, keep_last: 2, wal_window: '1h' } } }),
    );
    expect((await dbops(['local', 'up'], env)).code).toBe(0);
    const state = JSON.parse(await readFile(join(home, 'local', 'cluster.json'), 'utf8'));
    url = `postgresql://postgres:${encodeURIComponent(state.password)}@127.0.0.1:${state.port}/dbops`;
    const enabled = await run('pitr', 'enable');
    expect(enabled.code, enabled.all).toBe(0);
  });
  afterAll(async () => {
    for (const dir of restored) await stopServerAt(dir, silentLogger(), 'immediate');
    await dbops(['local', 'down', '--destroy'], env);
  });

  it('expires a full backup with its incr and the WAL before the kept ones; the window still restores', async () => {
    const sql = (text: string) => queryUrl(url, text);
    const backup = async (type: string) => (await json('pitr', 'backup', '--type', type)).backups[0].label as string;
    await sql('CREATE TABLE marks (id int PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())');
    const a = await backup('full');
    await sql('INSERT INTO marks (id) VALUES (1)');
    await sql('SELECT pg_switch_wal()');
    const aIncr = await backup('incr');
    const b = await backup('full');
    await sql('INSERT INTO marks (id) VALUES (2)');
    // pgBackRest records a backup's stop time in whole seconds: T must be after b's.
    await sleep(1100);
    const t = (await sql(`SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t`))[0]!['t'] as string;
    await sql('INSERT INTO marks (id) VALUES (3)');
    await sql('SELECT pg_switch_wal()');
    const c = await backup('full');
    expect((await run('pitr', 'verify')).code).toBe(0);
    const d = await backup('full');

    const plan = await json('pitr', 'expire', '--dry-run');
    const fulls = plan.repos[0].fulls as Array<{ label: string; keep: boolean; reasons: string[]; dependents: string[] }>;
    expect(fulls.map((f) => [f.label, f.keep, f.reasons[0]])).toEqual([
      [d, true, 'not verified yet, kept 2d'],
      [c, true, 'newest verified'],
      [b, true, 'keep_last 2/2'],
      [a, false, 'not the newest of any kept day/week/month'],
    ]);
    expect(fulls[3]!.dependents).toEqual([aIncr]);
    expect(plan.repos[0].walFrom.label).toBe(b);
    // A dry run changes nothing.
    expect(((await json('pitr', 'list')).backups as Listed[]).map((x) => x.label)).toEqual([a, aIncr, b, c, d]);

    const text = await run('pitr', 'expire');
    expect(text.code, text.all).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`EXPIRED\\s+${a}`));
    expect(text.stdout).toContain(`WAL kept from ${b}`);
    const after = await json('pitr', 'list');
    expect((after.backups as Listed[]).map((x) => x.label)).toEqual([b, c, d]);
    // WAL older than b's start is gone; what b needs to reach the window is there.
    const bWal = (after.backups as Listed[]).find((x) => x.label === b)!.walStart;
    expect(after.archive.min <= bWal).toBe(true);
    expect(after.archive.min.slice(8)).toBe(bWal.slice(8));

    // Again: nothing more to expire.
    const again = await json('pitr', 'expire');
    expect(again.repos[0].expired).toEqual([]);
    expect(again.repos[0].fulls.every((f: { keep: boolean }) => f.keep)).toBe(true);

    // A moment between b and c is still restorable.
    const dir = join(home, 'at-t');
    restored.push(dir);
    const r = await json('pitr', 'restore', '--to', t, '--target-dir', dir);
    const rows = await queryUrl(url.replace(/:\d+\//, `:${r.port}/`), 'SELECT id FROM marks ORDER BY id');
    expect(rows).toEqual([{ id: 1 }, { id: 2 }]);
  });
});
