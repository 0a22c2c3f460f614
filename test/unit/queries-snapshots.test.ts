// Where query snapshots are kept: listed oldest first by their names, pruned to snapshots.keep without ever
// removing the snapshot a deploy took (a later --since-deploy needs it).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listSnapshots, localSnapshots, pruneSnapshots } from '../../pipeline/operations/queries/snapshot.ts';

describe('pruneSnapshots', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('keeps the newest `keep`, and every deploy snapshot whatever its age', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dbops-snapshots-'));
    dirs.push(dir);
    const store = await localSnapshots(dir, 'ledger');
    const names = [
      '20261101T000000.000Z-report.json',
      '20261102T000000.000Z-deploy-000007.json',
      '20261103T000000.000Z-report.json',
      '20261104T000000.000Z-snapshot.json',
      '20261105T000000.000Z-report.json',
    ];
    for (const n of names) await store.storage.put(`${store.folder}${n}`, '{}\n');
    await store.storage.put(`${store.folder}notes.txt`, 'not a snapshot');
    const gone = await pruneSnapshots(store, 3);
    expect(gone).toEqual([`${store.folder}20261101T000000.000Z-report.json`, `${store.folder}20261103T000000.000Z-report.json`]);
    expect((await listSnapshots(store)).map((e) => e.label)).toEqual(['deploy-000007', 'snapshot', 'report']);
    expect(await pruneSnapshots(store, 3)).toEqual([]);
  });
});
