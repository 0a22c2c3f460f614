// What a snapshot sends to pg_stat_statements on each PostgreSQL version (its columns were renamed in 13 and
// 17, toplevel came in 14), and the masking of literals that utility statements keep.
import { describe, expect, it } from 'vitest';
import { maskLiterals } from '../../pipeline/core/redact.ts';
import { statementsQuery } from '../../pipeline/operations/queries/facts.ts';

const COMMON = ['userid', 'dbid', 'queryid', 'query', 'calls', 'rows', 'shared_blks_hit', 'shared_blks_read', 'temp_blks_written'];
const V13 = [...COMMON, 'total_exec_time', 'min_exec_time', 'max_exec_time', 'blk_read_time'];
const V14 = [...V13, 'toplevel'];
const V17 = [...COMMON, 'toplevel', 'total_exec_time', 'min_exec_time', 'max_exec_time', 'shared_blk_read_time', 'stats_since'];
const V12 = [...COMMON, 'total_time', 'min_time', 'max_time', 'blk_read_time'];

const select = (columns: string[]) => statementsQuery('public', new Set(columns));

describe('statementsQuery', () => {
  it('PostgreSQL 13: total_exec_time, blk_read_time, and every entry top-level (no toplevel column)', () => {
    const sql = select(V13);
    expect(sql).toContain('total_exec_time::float8 AS total');
    expect(sql).toContain('blk_read_time::float8 AS read_time');
    expect(sql).toContain('true AS toplevel');
  });

  it('PostgreSQL 14–16: the toplevel column', () => {
    const sql = select(V14);
    expect(sql).toMatch(/, toplevel, /);
    expect(sql).not.toContain('true AS toplevel');
  });

  it('PostgreSQL 17: shared_blk_read_time instead of blk_read_time', () => {
    const sql = select(V17);
    expect(sql).toContain('shared_blk_read_time::float8 AS read_time');
    expect(sql).not.toMatch(/[^_]blk_read_time/);
  });

  it('before 13: total_time, min_time, max_time', () => {
    const sql = select(V12);
    expect(sql).toContain('total_time::float8 AS total');
    expect(sql).toContain('min_time::float8 AS min');
    expect(sql).toContain('max_time::float8 AS max');
  });

  it('reads only this database and statements with a queryid', () => {
    expect(select(V14)).toMatch(
      /FROM public\.pg_stat_statements\s+WHERE dbid = \(SELECT oid FROM pg_database WHERE datname = current_database\(\)\) AND queryid IS NOT NULL/,
    );
  });

  it('an unknown version is an error, not a wrong number', () => {
    expect(() => select(COMMON)).toThrow(/neither total_exec_time nor total_time/);
  });
});

describe('maskLiterals', () => {
  it.each([
    ["ALTER ROLE app PASSWORD 'sec''ret'", "ALTER ROLE app PASSWORD '…'"],
    ["CREATE USER MAPPING FOR app SERVER s OPTIONS (user 'u', password 'p')", "CREATE USER MAPPING FOR app SERVER s OPTIONS (user '…', password '…')"],
    ["select E'abc\\n', x'ff', U&'d\\0061t'", "select '…', '…', '…'"],
    ['DO $$ BEGIN PERFORM 1; END $$', 'DO $$…$$'],
    ['CREATE FUNCTION f() RETURNS int AS $body$ select 1 $body$ LANGUAGE sql', 'CREATE FUNCTION f() RETURNS int AS $$…$$ LANGUAGE sql'],
  ])('%s', (query, masked) => expect(maskLiterals(query)).toBe(masked));

  it('leaves normalized parameters alone', () => {
    expect(maskLiterals('SELECT * FROM t WHERE a = $1 AND b = $2 LIMIT $3')).toBe('SELECT * FROM t WHERE a = $1 AND b = $2 LIMIT $3');
  });
});
