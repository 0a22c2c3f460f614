// Pairing of migrations and rollbacks/<name>.sql (shared by `dbops rollbacks check` and `dbops lint`).
import { readdir, readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { inspectRollback, pairRollbacks, type RollbackFile } from '../../pipeline/change/rollbacks/pair.ts';

const file = (name: string, text: string): RollbackFile => ({ name, path: `rollbacks/${name}.sql`, text });
const pair = (migrations: string[], rollbacks: RollbackFile[]) =>
  pairRollbacks({ migrations, rollbacks, migrationsDir: 'prisma/migrations', rollbacksDir: 'rollbacks' });

describe('inspectRollback', () => {
  it('counts a file of comments, whitespace and semicolons as empty, nested block comments included', () => {
    expect(inspectRollback('').empty).toBe(true);
    expect(inspectRollback('\uFEFF-- nothing to undo\r\n\n  ;\n/* outer /* inner */ still a comment */\n').empty).toBe(true);
    expect(inspectRollback('-- DropTable\nDROP TABLE "A";\n').empty).toBe(false);
    expect(inspectRollback("/* c */ SELECT '--';").empty).toBe(false);
  });

  it('reads the irreversible marker and its reason from the first non-blank line only', () => {
    expect(inspectRollback('\n-- dbops:irreversible drops legacyErpId with its data\nALTER TABLE x ADD COLUMN y int;').marker).toEqual({
      line: 2,
      reason: 'drops legacyErpId with its data',
    });
    expect(inspectRollback('--dbops:irreversible: rows deleted\nSELECT 1;').marker).toEqual({ line: 1, reason: 'rows deleted' });
    expect(inspectRollback('-- dbops:irreversible   \nSELECT 1;').marker).toEqual({ line: 1, reason: null });
    const late = inspectRollback('-- Rollback of x\n-- dbops:irreversible too late\nSELECT 1;');
    expect(late.marker).toBeUndefined();
    expect(late.misplaced).toEqual([2]);
  });
});

describe('pairRollbacks', () => {
  it('reports missing, orphaned and empty rollbacks as errors with the file to fix', () => {
    const { pairs, findings } = pair(
      ['20260101000000_a', '20260102000000_b', '20260103000000_c'],
      [file('20260101000000_a', 'DROP TABLE "A";'), file('20260103000000_c', '-- TODO\n'), file('20251231000000_gone', 'DROP TABLE "G";')],
    );
    expect(pairs).toEqual([
      { migration: '20260101000000_a', rollback: 'rollbacks/20260101000000_a.sql', status: 'paired' },
      { migration: '20260102000000_b', rollback: null, status: 'missing', reason: 'expected rollbacks/20260102000000_b.sql' },
      { migration: '20260103000000_c', rollback: 'rollbacks/20260103000000_c.sql', status: 'empty', reason: 'only comments or whitespace' },
      {
        migration: null,
        rollback: 'rollbacks/20251231000000_gone.sql',
        status: 'orphan',
        reason: 'no migration folder prisma/migrations/20251231000000_gone/',
      },
    ]);
    expect(findings.map((f) => [f.rule, f.severity, f.file])).toEqual([
      ['rollbacks/missing', 'error', 'prisma/migrations/20260102000000_b/migration.sql'],
      ['rollbacks/empty', 'error', 'rollbacks/20260103000000_c.sql'],
      ['rollbacks/orphan', 'error', 'rollbacks/20251231000000_gone.sql'],
    ]);
    expect(findings[0]!.help).toContain('rollbacks/20260102000000_b.sql');
  });

  it('an irreversible rollback is a notice with its reason; a marker without reason is an error', () => {
    const { pairs, findings } = pair(
      ['a', 'b', 'c'],
      [
        file('a', '-- dbops:irreversible drops "Organization"."legacyErpId" with its data\nALTER TABLE "Organization" ADD COLUMN "legacyErpId" TEXT;\n'),
        file('b', '-- dbops:irreversible\nALTER TABLE "T" ADD COLUMN "c" TEXT;\n'),
        // Only the marker: the author says there is nothing to undo (e.g. rows deleted), which is not "empty".
        file('c', '-- dbops:irreversible deletes expired sessions; nothing to restore\n'),
      ],
    );
    expect(pairs.map((p) => [p.migration, p.status, p.reason])).toEqual([
      ['a', 'irreversible', 'drops "Organization"."legacyErpId" with its data'],
      ['b', 'irreversible', undefined],
      ['c', 'irreversible', 'deletes expired sessions; nothing to restore'],
    ]);
    expect(findings.map((f) => [f.rule, f.severity, f.line])).toEqual([
      ['rollbacks/irreversible', 'notice', 1],
      ['rollbacks/irreversible-without-reason', 'error', 1],
      ['rollbacks/irreversible', 'notice', 1],
    ]);
  });

  it('the repository itself: every migration paired, one irreversible rollback', async () => {
    const root = new URL('../../', import.meta.url);
    const migrations = (await readdir(new URL('prisma/migrations/', root), { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
    const names = (await readdir(new URL('rollbacks/', root))).filter((n) => n.endsWith('.sql'));
    const rollbacks = await Promise.all(names.map(async (n) => file(n.slice(0, -4), await readFile(new URL(`rollbacks/${n}`, root), 'utf8'))));
    const { pairs, findings } = pair(migrations, rollbacks);
    expect(pairs).toHaveLength(9);
    expect(pairs.filter((p) => p.status === 'paired')).toHaveLength(8);
    expect(pairs.filter((p) => p.status === 'irreversible').map((p) => p.migration)).toEqual(['20261020091500_drop_organization_legacy_erp_id']);
    expect(findings.map((f) => f.rule)).toEqual(['rollbacks/irreversible']);
  });
});
