// History integrity rules as pure functions: git's changes classified, findings against the base ref
// and against the rows of _prisma_migrations (compared with the executor's checksum).
import { describe, expect, it } from 'vitest';
import { checksum } from '../../pipeline/change/migrations/checksum.ts';
import type { LocalMigration } from '../../pipeline/change/migrations/folder.ts';
import type { MigrationRow } from '../../pipeline/change/migrations/history.ts';
import { appliedHistoryFindings, baseHistoryFindings, classifyChanges, mergeHistory } from '../../pipeline/change/lint/history.ts';

const m = (name: string, script: string | undefined = `-- ${name}\nSELECT 1;\n`): LocalMigration => ({
  name,
  file: `prisma/migrations/${name}/migration.sql`,
  script,
});
const row = (name: string, script: string, extra: Partial<MigrationRow> = {}): MigrationRow => ({
  id: name,
  checksum: checksum(script),
  finishedAt: '2026-01-01T00:00:00.000000Z',
  migrationName: name,
  logs: null,
  rolledBackAt: null,
  startedAt: '2026-01-01T00:00:00.000000Z',
  appliedStepsCount: 1,
  ...extra,
});

describe('classifyChanges', () => {
  it('keeps migration scripts and rollback files, with renames and their old names', () => {
    const out = classifyChanges(
      [
        { status: 'added', path: 'prisma/migrations/3_new/migration.sql' },
        { status: 'modified', path: 'prisma/migrations/1_init/migration.sql' },
        { status: 'renamed', path: 'prisma/migrations/2_b2/migration.sql', oldPath: 'prisma/migrations/2_b/migration.sql' },
        { status: 'deleted', path: 'prisma/migrations/0_old/migration.sql' },
        { status: 'modified', path: 'prisma/migrations/migration_lock.toml' },
        { status: 'added', path: 'prisma/migrations/3_new/README.md' },
        { status: 'added', path: 'rollbacks/3_new.sql' },
        { status: 'added', path: 'rollbacks/README.md' },
      ],
      'prisma/migrations',
      'rollbacks',
    );
    expect(out.migrations).toEqual([
      { name: '3_new', status: 'added', oldName: undefined },
      { name: '1_init', status: 'modified', oldName: undefined },
      { name: '2_b2', status: 'renamed', oldName: '2_b' },
      { name: '0_old', status: 'deleted', oldName: undefined },
    ]);
    expect(out.rollbacks).toEqual([{ name: '3_new', status: 'added', oldName: undefined }]);
  });
});

describe('history against the base ref', () => {
  const base = { ref: 'origin/main', migrations: ['1_a', '2_b', '3_c'], contents: new Map([['2_b', 'SELECT 1;\nSELECT 2;\n']]) };
  const local = new Map([m('1_a'), m('2_b', 'SELECT 1;\nSELECT 3;\n'), m('3_c'), m('0_new'), m('4_new')].map((x) => [x.name, x]));

  it('edited (pointing at the first changed line), renamed, deleted and out of order are errors; a later addition is fine', () => {
    const findings = baseHistoryFindings(
      base,
      [
        { name: '2_b', status: 'modified' },
        { name: '3_c2', status: 'renamed', oldName: '3_c' },
        { name: '1_a', status: 'deleted' },
        { name: '0_new', status: 'added' },
        { name: '4_new', status: 'added' },
      ],
      local,
      'prisma/migrations',
    );
    expect(findings.map((f) => [f.rule, f.migration, f.line])).toEqual([
      ['history/edited', '2_b', 2],
      ['history/renamed', '3_c2', undefined],
      ['history/deleted', '1_a', undefined],
      ['history/out-of-order', '0_new', undefined],
    ]);
    expect(findings[3]!.message).toContain('0_new sorts before 3_c, which is already on origin/main');
  });

  it('a change of line endings only is not an edit, as for the executor checksum', () => {
    const crlf = new Map([['2_b', m('2_b', 'SELECT 1;\r\nSELECT 2;\r\n')]]);
    expect(baseHistoryFindings(base, [{ name: '2_b', status: 'modified' }], crlf, 'prisma/migrations')).toEqual([]);
  });
});

describe('history against a database', () => {
  const where = 'database "app" on db:5432';

  it('applied and edited, applied and deleted, applied and renamed, pending before an applied one', () => {
    const local = [m('1_a', 'SELECT 1; -- edited'), m('2_b_renamed', 'SELECT 2;'), m('3_c', 'SELECT 3;'), m('4_d', 'SELECT 4;')];
    const rows = [
      row('1_a', 'SELECT 1;'),
      row('2_b', 'SELECT 2;'),
      row('5_gone', 'SELECT 5;'),
      row('3_c', 'SELECT 3;', { rolledBackAt: '2026-01-02T00:00:00.000000Z' }),
    ];
    const findings = appliedHistoryFindings(local, rows, where, 'prisma/migrations');
    expect(findings.map((f) => [f.rule, f.migration])).toEqual([
      ['history/edited', '1_a'],
      ['history/renamed', '2_b_renamed'],
      ['history/deleted', '5_gone'],
      ['history/out-of-order', '3_c'],
      ['history/out-of-order', '4_d'],
    ]);
    expect(findings[0]!.message).toBe(`1_a was applied to ${where} and has been edited since (its checksum differs).`);
  });

  it('failed attempts and line-ending changes do not count as edits', () => {
    const findings = appliedHistoryFindings(
      [m('1_a', 'SELECT 1;\r\n'), m('2_b', 'fixed')],
      [row('1_a', 'SELECT 1;\n'), row('2_b', 'broken', { finishedAt: null })],
      where,
      'prisma/migrations',
    );
    expect(findings).toEqual([]);
  });

  it('one finding per rule and migration when the base ref and the database agree', () => {
    const merged = mergeHistory(
      [{ rule: 'history/edited', severity: 'error', migration: '1_a', message: '1_a is already on origin/main and has been edited.' }],
      [
        { rule: 'history/edited', severity: 'error', migration: '1_a', message: 'x' },
        { rule: 'history/deleted', severity: 'error', migration: '0_z', message: 'y' },
      ],
      where,
    );
    expect(merged.map((f) => f.message)).toEqual([`1_a is already on origin/main and has been edited. The same holds on ${where}.`, 'y']);
  });
});
