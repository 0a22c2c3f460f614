// The relations a migration's statements name (libpg-query), with the lines a finding points at.
import { describe, expect, it } from 'vitest';
import { statementRefs } from '../../pipeline/change/rehearsal/statements.ts';

describe('statementRefs', () => {
  it('finds ALTER TABLE targets, REFERENCES targets, UPDATE … FROM tables, DROP lists and index names, per statement', async () => {
    const sql = [
      '-- AddForeignKey',
      'ALTER TABLE "JournalLine" ADD CONSTRAINT "JournalLine_accountId_fkey"',
      '  FOREIGN KEY ("accountId") REFERENCES "Account"("id");',
      '',
      'UPDATE "JournalEntry" AS je SET "source" = \'INVOICE\' FROM "Invoice" AS i WHERE i."journalEntryId" = je."id";',
      'DROP INDEX "Organization_legacyErpId_key";',
      'DROP TABLE "Old", other."Elsewhere", public."Legacy";',
      'CREATE INDEX CONCURRENTLY "x" ON "AuditEvent"("entityId");',
      'SELECT 1 FROM other."Invoice";',
    ].join('\n');
    const refs = await statementRefs(sql, 'public');
    expect(refs.map((r) => [r.kind, r.line, r.endLine, r.relations.sort()])).toEqual([
      ['AlterTableStmt', 2, 3, ['Account', 'JournalLine']],
      ['UpdateStmt', 5, 5, ['Invoice', 'JournalEntry']],
      ['DropStmt', 6, 6, ['Organization_legacyErpId_key']],
      ['DropStmt', 7, 7, ['Legacy', 'Old']],
      ['IndexStmt', 8, 8, ['AuditEvent']],
      ['SelectStmt', 9, 9, []],
    ]);
  });

  it('is empty for a file the parser rejects (the server reports the error when it runs)', async () => {
    expect(await statementRefs('ALTER TABLE "t" ADD COLUMN;', 'public')).toEqual([]);
  });
});
