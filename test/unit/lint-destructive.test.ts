// Destructive statements found in PostgreSQL's AST (libpg-query), with the column types the earlier
// migrations leave behind.
import { describe, expect, it } from 'vitest';
import type { LocalMigration } from '../../pipeline/change/migrations/folder.ts';
import { analyzeMigrations } from '../../pipeline/change/lint/analyze.ts';
import { narrowing } from '../../pipeline/change/lint/destructive.ts';
import { SourceText } from '../../pipeline/change/lint/text.ts';

const history = (files: Record<string, string>): LocalMigration[] =>
  Object.entries(files).map(([name, script]) => ({ name, file: `prisma/migrations/${name}/migration.sql`, script }));

async function hits(files: Record<string, string>, inScope: string) {
  const all = history(files);
  const result = (await analyzeMigrations(all, new Set([inScope]))).get(inScope);
  const source = new SourceText(files[inScope]!);
  return { ...result, hits: (result?.hits ?? []).map((h) => ({ rule: h.rule, ...source.at(h.offset), message: h.message, uncertain: h.uncertain === true })) };
}

const INIT = `-- CreateTable
CREATE TABLE "Organization" (
    "id" UUID NOT NULL,
    "name" VARCHAR(200) NOT NULL,
    "slug" TEXT NOT NULL,
    "legacyErpId" VARCHAR(64),
    "balance" DECIMAL(19,4) NOT NULL,
    "seats" BIGINT NOT NULL,
    "createdAt" TIMESTAMP(6) NOT NULL,
    CONSTRAINT "Organization_pkey" PRIMARY KEY ("id")
);
CREATE TABLE "Note" ("id" SERIAL NOT NULL, "body" TEXT);
`;

describe('destructive statements', () => {
  it('DROP COLUMN, DROP TABLE, DROP SCHEMA and TRUNCATE, at the statement they are in', async () => {
    const { hits: found } = await hits(
      {
        '1_init': INIT,
        '2_drop':
          '-- AlterTable\nALTER TABLE "Organization" DROP COLUMN "legacyErpId",\nDROP COLUMN   IF EXISTS slug;\n\n-- DropTable\nDROP TABLE "Note";\nDROP SCHEMA "archive" CASCADE;\nTRUNCATE TABLE "Organization" CASCADE;\n',
      },
      '2_drop',
    );
    expect(found.map((h) => [h.rule, h.line, h.column])).toEqual([
      ['destructive/drop-column', 2, 28],
      ['destructive/drop-column', 3, 1],
      ['destructive/drop-table', 6, 1],
      ['destructive/drop-schema', 7, 1],
      ['destructive/truncate', 8, 16],
    ]);
    expect(found[0]!.message).toBe('Dropping column "legacyErpId" of "Organization" deletes its data.');
    expect(found[4]!.message).toContain('with CASCADE also every table that references them');
  });

  it('objects created in the same file hold no data and are not reported', async () => {
    const { hits: found } = await hits(
      { '1_tmp': 'CREATE TABLE "Tmp" ("a" INT);\nALTER TABLE "Note" ADD COLUMN "x" TEXT;\nALTER TABLE "Note" DROP COLUMN "x";\nDROP TABLE "Tmp";\n' },
      '1_tmp',
    );
    expect(found).toEqual([]);
  });

  it('type narrowing is judged against the type earlier migrations gave the column', async () => {
    const { hits: found } = await hits(
      {
        '1_init': INIT,
        '2_rename': 'ALTER TABLE "Organization" RENAME COLUMN "name" TO "displayName";',
        '3_types': [
          'ALTER TABLE "Organization" ALTER COLUMN "displayName" SET DATA TYPE VARCHAR(20);', // varchar(200) → varchar(20)
          'ALTER TABLE "Organization" ALTER COLUMN "slug" SET DATA TYPE VARCHAR(80);', // text → varchar(n)
          'ALTER TABLE "Organization" ALTER COLUMN "balance" SET DATA TYPE DECIMAL(10,2);', // numeric scale and precision down
          'ALTER TABLE "Organization" ALTER COLUMN "seats" SET DATA TYPE INTEGER;', // bigint → int
          'ALTER TABLE "Organization" ALTER COLUMN "createdAt" SET DATA TYPE TIMESTAMP(3);', // fractional seconds
          'ALTER TABLE "Organization" ALTER COLUMN "legacyErpId" SET DATA TYPE TEXT;', // widening: fine
          'ALTER TABLE "Note" ALTER COLUMN "id" SET DATA TYPE BIGINT;', // widening: fine
        ].join('\n'),
      },
      '3_types',
    );
    expect(found.map((h) => [h.rule, h.line, h.column, h.uncertain])).toEqual([
      ['destructive/narrow-type', 1, 41, false],
      ['destructive/narrow-type', 2, 41, false],
      ['destructive/narrow-type', 3, 41, false],
      ['destructive/narrow-type', 4, 41, false],
      ['destructive/narrow-type', 5, 41, false],
    ]);
    expect(found[0]!.message).toBe(
      '"Organization"."displayName" narrows from varchar(200) to varchar(20): values longer than 20 characters no longer fit (the statement fails on them, or a USING clause cuts them).',
    );
    expect(found[3]!.message).toContain('from bigint to integer');
  });

  it('the column model follows a table through renames, and skips files that never name it', async () => {
    const { hits: found } = await hits(
      {
        '1_old': 'CREATE TABLE "Legacy" ("code" VARCHAR(100));',
        '2_other': 'CREATE TABLE "Unrelated" ("code" VARCHAR(5));',
        '3_rename': 'ALTER TABLE "Legacy" RENAME TO "Product";',
        '4_narrow': 'ALTER TABLE "Product" ALTER COLUMN "code" TYPE VARCHAR(10);',
      },
      '4_narrow',
    );
    expect(found.map((h) => [h.rule, h.uncertain, h.message.includes('from varchar(100) to varchar(10)')])).toEqual([['destructive/narrow-type', false, true]]);
  });

  it('a type change on a column the migrations never created is only a notice-level guess', async () => {
    const { hits: found } = await hits(
      { '1_alter': 'ALTER TABLE "External" ALTER COLUMN "code" TYPE varchar(3);\nALTER TABLE "External" ALTER COLUMN "note" TYPE text;' },
      '1_alter',
    );
    expect(found.map((h) => [h.rule, h.uncertain])).toEqual([['destructive/narrow-type', true]]);
  });

  it('invalid SQL is reported with its position instead of throwing', async () => {
    const result = await hits({ '1_bad': 'SELECT 1;\nDROP TABL "x";\n' }, '1_bad');
    expect(result.hits).toEqual([]);
    expect(result.parseError?.message).toBe('syntax error at or near "TABL"');
    expect(new SourceText('SELECT 1;\nDROP TABL "x";\n').at(result.parseError!.offset!)).toEqual({ line: 2, column: 6 });
  });

  it('narrowing rules', () => {
    const t = (name: string, ...mods: number[]) => ({ name, mods, array: false });
    expect(narrowing(t('varchar', 50), t('varchar', 20))).toBeDefined();
    expect(narrowing(t('varchar', 20), t('varchar', 50))).toBeUndefined();
    expect(narrowing(t('varchar'), t('varchar', 255))).toBeDefined();
    expect(narrowing(t('bpchar', 3), t('varchar', 3))).toBeUndefined();
    expect(narrowing(t('numeric', 19, 4), t('numeric', 19, 2))).toBeDefined();
    expect(narrowing(t('numeric', 19, 4), t('numeric', 21, 4))).toBeUndefined();
    expect(narrowing(t('numeric'), t('numeric', 12, 2))).toBeDefined();
    expect(narrowing(t('int8'), t('int4'))).toBeDefined();
    expect(narrowing(t('int4'), t('int8'))).toBeUndefined();
    expect(narrowing(t('int8'), t('numeric', 10, 0))).toBeDefined();
    expect(narrowing(t('float8'), t('float4'))).toBeDefined();
    expect(narrowing(t('timestamptz', 6), t('timestamptz', 3))).toBeDefined();
    expect(narrowing(t('text'), t('text'))).toBeUndefined();
  });
});
