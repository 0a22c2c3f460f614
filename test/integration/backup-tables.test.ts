import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { compareTableManifests, computeTableManifest, MANIFEST_SETTINGS } from '../../pipeline/backup/tables.ts';
import { databasePerTest } from '../helpers/db.ts';

const fresh = databasePerTest('backup_tables');

async function manifestOf(url: string, inTransaction: boolean) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    for (const s of MANIFEST_SETTINGS) await c.query(s);
    if (inTransaction) await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const tables = await computeTableManifest(c);
    // The fallback must not have aborted the snapshot transaction.
    if (inTransaction) expect((await c.query('SELECT 1 AS ok')).rows[0]).toEqual({ ok: 1 });
    return tables;
  } finally {
    await c.end();
  }
}

describe('table manifest', () => {
  it('hashes stored values, falls back to row text for types without an extended hash, inside or outside a transaction', async () => {
    const db = await fresh();
    await db.query(`CREATE TABLE fast (id int PRIMARY KEY, note text, amount numeric, at timestamptz, tags text[], doc jsonb)`);
    await db.query(`CREATE TABLE slow (id int, doc json, spot point, flags bit varying)`);
    await db.query(`INSERT INTO fast SELECT g, 'n' || g, g / 7.0, '2026-03-29 01:30+00'::timestamptz + g * interval '1 min', ARRAY['a', g::text], jsonb_build_object('g', g) FROM generate_series(1, 500) g`);
    await db.query(`INSERT INTO slow SELECT g, json_build_object('g', g), point(g, g), B'101' FROM generate_series(1, 300) g`);
    await db.query(`CREATE TABLE empty_one (doc json)`);

    const inTx = await manifestOf(db.url, true);
    const autocommit = await manifestOf(db.url, false);
    expect(autocommit).toEqual(inTx);
    const byName = Object.fromEntries(inTx.map((t) => [t.name, t]));
    expect(byName['fast']).toMatchObject({ schema: 'public', rows: '500', hash: expect.stringMatching(/^rec:-?\d+$/) });
    expect(byName['slow']).toMatchObject({ rows: '300', hash: expect.stringMatching(/^txt:-?\d+$/) });
    expect(byName['empty_one']).toMatchObject({ rows: '0', hash: 'rec:0' });
  });

  it('does not depend on row order, and names every table whose rows or content differ', async () => {
    const a = await fresh();
    const b = await fresh();
    for (const db of [a, b]) await db.query(`CREATE TABLE t (id int, v text); CREATE TABLE j (doc json); CREATE TABLE only_here (x int)`);
    await a.query(`INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 1000) g; INSERT INTO j SELECT json_build_object('g', g) FROM generate_series(1, 50) g`);
    await b.query(`INSERT INTO t SELECT g, 'v' || g FROM generate_series(1000, 1, -1) g; INSERT INTO j SELECT json_build_object('g', g) FROM generate_series(50, 1, -1) g`);
    expect(compareTableManifests(await manifestOf(a.url, true), await manifestOf(b.url, true))).toEqual([]);

    await b.query(`UPDATE t SET v = 'changed' WHERE id = 500; INSERT INTO j VALUES ('{"g": 51}'); DROP TABLE only_here; CREATE TABLE extra (y int)`);
    const diffs = compareTableManifests(await manifestOf(a.url, true), await manifestOf(b.url, true));
    expect(diffs.map((d) => [d.table, d.problem])).toEqual([
      ['public.j', 'rows'],
      ['public.only_here', 'missing'],
      ['public.t', 'content'],
      ['public.extra', 'unexpected'],
    ]);
  });
});
