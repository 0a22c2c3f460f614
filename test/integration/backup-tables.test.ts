import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { compareTableManifests, computeTableManifest, MANIFEST_SETTINGS } from '../../pipeline/protection/backup/tables.ts';
import { databasePerTest } from '../helpers/db.ts';

const fresh = databasePerTest('backup_tables');

async function manifestOf(url: string, inTransaction: boolean) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    for (const s of MANIFEST_SETTINGS) await c.query(s);
    if (inTransaction) await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    return await computeTableManifest(c);
  } finally {
    await c.end();
  }
}

// Every kind of column the hash treats differently: by value, as text (no extended hash, or a hash of an
// OID: enums, domains, composites), arrays of both.
const DDL = `
  CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
  CREATE DOMAIN positive AS int CHECK (VALUE > 0);
  CREATE TYPE pair AS (a int, m mood);
  CREATE TABLE t (id int, v text, m mood, ms mood[], d positive, p pair, doc json, spot point, flags bit varying, amount numeric, at timestamptz, tags text[], j jsonb);
  CREATE TABLE only_here (x int);
  CREATE TABLE empty_one (doc json)`;
const ROWS = (order: 'asc' | 'desc') => `
  INSERT INTO t SELECT g, 'v' || g, (ARRAY['sad','ok','happy'])[1 + g % 3]::mood, ARRAY['ok', 'sad']::mood[], g, ROW(g, 'happy')::pair,
    json_build_object('g', g), point(g, g), B'101', g / 7.0, '2026-03-29 01:30+00'::timestamptz + g * interval '1 min', ARRAY['a', g::text], jsonb_build_object('g', g)
  FROM generate_series(1, 1000) g ORDER BY g ${order}`;

describe('table manifest', () => {
  it('is the same inside a snapshot transaction and in autocommit, and counts empty tables', async () => {
    const db = await fresh();
    await db.query(DDL);
    await db.query(ROWS('asc'));
    const inTx = await manifestOf(db.url, true);
    expect(await manifestOf(db.url, false)).toEqual(inTx);
    expect(inTx.map((t) => [t.name, t.rows])).toEqual([
      ['empty_one', '0'],
      ['only_here', '0'],
      ['t', '1000'],
    ]);
    expect(inTx.find((t) => t.name === 'empty_one')!.hash).toBe('0');
  });

  it('is equal in another database with other OIDs and row order, and names every table whose rows or content differ', async () => {
    const a = await fresh();
    const b = await fresh();
    // Enum labels get other OIDs in b: a hash of the stored enum value would differ although the data is equal.
    await b.query(`CREATE TYPE pad AS ENUM ('x', 'y', 'z'); CREATE TYPE pad2 AS ENUM ('x')`);
    for (const db of [a, b]) await db.query(DDL);
    await a.query(ROWS('asc'));
    await b.query(ROWS('desc'));
    expect(compareTableManifests(await manifestOf(a.url, true), await manifestOf(b.url, true))).toEqual([]);

    await b.query(
      `UPDATE t SET m = 'sad' WHERE id = 500 AND m <> 'sad'; UPDATE t SET m = 'ok' WHERE id = 501 AND m <> 'ok'; INSERT INTO empty_one VALUES ('{}'); DROP TABLE only_here; CREATE TABLE extra (y int)`,
    );
    const diffs = compareTableManifests(await manifestOf(a.url, true), await manifestOf(b.url, true));
    expect(diffs.map((d) => [d.table, d.problem])).toEqual([
      ['public.empty_one', 'rows'],
      ['public.only_here', 'missing'],
      ['public.t', 'content'],
      ['public.extra', 'unexpected'],
    ]);
  });
});
