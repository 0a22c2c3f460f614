// The primary/replica harness: a real streaming replica that replays the primary's writes, accepts
// read-only queries, and keeps statistics of its own (an index scanned on the replica only counts there).
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryUrl } from '../helpers/db.ts';
import { startReplicaPair, type ReplicaPair } from '../helpers/replica.ts';
import { waitFor } from '../helpers/wait.ts';

describe('replica harness', () => {
  let pair: ReplicaPair;

  beforeAll(async () => {
    pair = await startReplicaPair('harness');
  });
  afterAll(async () => {
    await pair?.stop();
  });

  it('replays the primary, is read-only, and counts index scans per node', async () => {
    await queryUrl(pair.primaryUrl('postgres'), 'CREATE DATABASE shop');
    const primary = (sql: string) => queryUrl(pair.primaryUrl('shop'), sql);
    await primary('CREATE TABLE orders (id bigint, code text NOT NULL)');
    await primary("INSERT INTO orders SELECT g, 'c' || g FROM generate_series(1, 1000) g");
    await primary('CREATE INDEX orders_code_idx ON orders (code)');
    await pair.caughtUp();

    const replicaUrl = pair.replicaUrl('shop');
    expect(await queryUrl(replicaUrl, 'SELECT pg_is_in_recovery() AS r')).toEqual([{ r: true }]);
    expect(await queryUrl(replicaUrl, 'SELECT count(*)::int AS n FROM orders')).toEqual([{ n: 1000 }]);
    await expect(queryUrl(replicaUrl, 'INSERT INTO orders VALUES (0, $1)', ['x'])).rejects.toThrow(/read-only transaction/);

    // One connection, so the SET holds for the query; closing it flushes its statistics.
    const client = new pg.Client({ connectionString: replicaUrl });
    await client.connect();
    try {
      await client.query('SET enable_seqscan = off');
      expect((await client.query("SELECT id::text FROM orders WHERE code = 'c42'")).rows).toEqual([{ id: '42' }]);
    } finally {
      await client.end();
    }

    const idxScan = async (url: string) =>
      Number((await queryUrl<{ n: string }>(url, "SELECT idx_scan::text AS n FROM pg_stat_user_indexes WHERE indexrelname = 'orders_code_idx'"))[0]?.n ?? -1);
    expect(await waitFor('the replica to count the index scan', async () => (await idxScan(replicaUrl)) > 0, 10_000)).toBe(true);
    expect(await idxScan(pair.primaryUrl('shop'))).toBe(0);
  });
});
