import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../pipeline/core/errors.ts';
import { planExecution, type ExecutionPlan } from '../../pipeline/change/migrations/plan.ts';

const split = (plan: ExecutionPlan) => {
  if (plan.mode !== 'split') throw new Error(`expected a split plan, got ${plan.mode}`);
  return plan;
};

describe('planExecution', () => {
  it('keeps ordinary files atomic, including words like "concurrently" in strings, comments and $$ bodies', async () => {
    expect(await planExecution('CREATE TABLE t(c int);\nCREATE INDEX i ON t(c);\n', 'f')).toEqual({ mode: 'atomic' });
    const tricky = `-- we do not use CREATE INDEX CONCURRENTLY here\nCREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM 1; COMMIT; RETURN NEW; END $$;\nSELECT 'vacuum; begin';\n`;
    expect(await planExecution(tricky, 'f')).toEqual({ mode: 'atomic' });
  });

  it('leaves invalid SQL atomic so the server reports the error with its position', async () => {
    expect(await planExecution('CREATE INDEX CONCURRENTLY i ON;', 'f')).toEqual({ mode: 'atomic' });
  });

  it('isolates CREATE INDEX CONCURRENTLY and keeps the statements around it grouped', async () => {
    const sql =
      'CREATE TABLE t(c int);\nALTER TABLE t ADD COLUMN d int;\n\n-- the index\nCREATE INDEX CONCURRENTLY "t_c_idx" ON t(c);\nCREATE TABLE u(c int);\n';
    const plan = split(await planExecution(sql, 'f'));
    expect(plan.reasons).toEqual([{ line: 5, statement: 'CREATE INDEX CONCURRENTLY', why: 'CREATE INDEX CONCURRENTLY cannot run inside a transaction block' }]);
    expect(plan.segments.map((s) => [s.label, s.line, s.concurrent, s.concurrentIndex])).toEqual([
      ['2 statements', 1, false, undefined],
      ['CREATE INDEX CONCURRENTLY', 5, true, 't_c_idx'],
      ['CREATE TABLE', 6, false, undefined],
    ]);
    // Each segment is the file's own text, comments and line breaks between its statements included.
    expect(plan.segments.map((s) => s.sql)).toEqual([
      'CREATE TABLE t(c int);\nALTER TABLE t ADD COLUMN d int',
      'CREATE INDEX CONCURRENTLY "t_c_idx" ON t(c)',
      'CREATE TABLE u(c int)',
    ]);
    expect(plan.segments.map((s) => sql.split('\n')[s.line - 1]!.startsWith(s.sql.split('\n')[0]!))).toEqual([true, true, true]);
  });

  it('slices by bytes, so multi-byte characters before a split point do not shift statements', async () => {
    const plan = split(await planExecution("COMMENT ON SCHEMA public IS 'Straße — 日本';\nDROP INDEX CONCURRENTLY i;\n", 'f'));
    expect(plan.segments.map((s) => s.sql.trim())).toEqual(["COMMENT ON SCHEMA public IS 'Straße — 日本'", 'DROP INDEX CONCURRENTLY i']);
  });

  it.each([
    ['VACUUM t', 'VACUUM'],
    ['REINDEX INDEX CONCURRENTLY i', 'REINDEX CONCURRENTLY'],
    ['REINDEX DATABASE d', 'REINDEX DATABASE/SYSTEM'],
    ['ALTER TABLE p DETACH PARTITION c CONCURRENTLY', 'DETACH PARTITION CONCURRENTLY'],
    ['CREATE DATABASE x', 'CREATE DATABASE'],
  ])('%s runs outside a transaction', async (sql, statement) => {
    expect(split(await planExecution(`SELECT 1;\n${sql};\n`, 'f')).reasons[0]).toMatchObject({ line: 2, statement });
  });

  it('ANALYZE and ALTER TYPE … ADD VALUE without later use stay atomic', async () => {
    expect(await planExecution('ANALYZE t;', 'f')).toEqual({ mode: 'atomic' });
    expect(await planExecution(`ALTER TYPE "S" ADD VALUE 'X';\nALTER TYPE "S" ADD VALUE 'Y';\n`, 'f')).toEqual({ mode: 'atomic' });
  });

  it('commits ALTER TYPE … ADD VALUE before a statement that uses the new value', async () => {
    const sql = `ALTER TYPE "Status" ADD VALUE 'ARCHIVED';\nCREATE TABLE x(id int);\nUPDATE "Doc" SET status = 'ARCHIVED' WHERE old;\n`;
    const plan = split(await planExecution(sql, 'f'));
    expect(plan.reasons[0]).toMatchObject({ line: 1, statement: 'ALTER TYPE … ADD VALUE' });
    expect(plan.reasons[0]!.why).toContain('line 3');
    expect(plan.segments.map((s) => s.label)).toEqual(['ALTER TYPE … ADD VALUE', '2 statements']);
  });

  it('runs files with their own BEGIN/COMMIT statement by statement; a retry restarts at the enclosing BEGIN', async () => {
    const sql =
      'BEGIN;\nCREATE TYPE "E_new" AS ENUM (\'A\');\nALTER TABLE t ALTER COLUMN e TYPE "E_new" USING (e::text::"E_new");\nCOMMIT;\nCREATE INDEX CONCURRENTLY i ON t(e);\n';
    const plan = split(await planExecution(sql, 'f'));
    expect(plan.segments.map((s) => [s.label, s.retryFrom])).toEqual([
      ['BEGIN', 0],
      ['CREATE TYPE', 0],
      ['ALTER TABLE', 0],
      ['COMMIT', 0],
      ['CREATE INDEX CONCURRENTLY', 4],
    ]);
  });

  it('refuses a BEGIN that is never committed', async () => {
    await expect(planExecution('BEGIN;\nCREATE TABLE t(c int);\n', 'prisma/migrations/x/migration.sql')).rejects.toThrow(ConfigError);
    await expect(planExecution('BEGIN;\nCREATE TABLE t(c int);\n', 'prisma/migrations/x/migration.sql')).rejects.toThrow(
      /x\/migration.sql opens a transaction/,
    );
  });
});
