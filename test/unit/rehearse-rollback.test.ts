import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readRollbacksFolder } from '../../pipeline/change/rollbacks/files.ts';
import { pairRollbacks } from '../../pipeline/change/rollbacks/pair.ts';
import { rehearsalRollback } from '../../pipeline/change/rehearsal/rollback.ts';
import { tempDir } from '../helpers/migrations.ts';

// Real files in a rollbacks folder, read the way rehearse reads them and the way lint pairs them: both must
// find the same marker, with the reason spelt out here (not recomputed by the code under test).
const FILES: Array<[string, string, string | undefined]> = [
  ['first_line', '-- dbops:irreversible drops data\nALTER TABLE t ADD COLUMN c int;\n', 'drops data'],
  ['blank_lines_crlf_no_space', '\r\n\r\n--dbops:irreversible: drops data\r\nALTER TABLE t ADD COLUMN c int;\r\n', 'drops data'],
  ['bom_before_marker', '\uFEFF-- dbops:irreversible — the rows are gone\nSELECT 1;\n', 'the rows are gone'],
  ['without_reason', '-- dbops:irreversible\nALTER TABLE t ADD COLUMN c int;\n', 'no reason given'],
  ['later_line', 'ALTER TABLE t ADD COLUMN c int;\n-- dbops:irreversible drops data\n', undefined],
  ['plain', 'ALTER TABLE t DROP COLUMN c;\n', undefined],
];

describe('rehearse reads the irreversible marker of real rollback files as lint does', async () => {
  const dir = await tempDir('dbops-rollback-');
  for (const [name, text] of FILES) await writeFile(join(dir, `${name}.sql`), text);
  const folder = await readRollbacksFolder(dir);
  const pairing = pairRollbacks({ migrations: FILES.map(([name]) => name), rollbacks: folder.files, migrationsDir: 'prisma/migrations', rollbacksDir: dir });

  it.each(FILES)('%s', (name, text, reason) => {
    const file = folder.files.find((f) => f.name === name)!;
    expect(rehearsalRollback(file)).toEqual({ path: join(dir, `${name}.sql`), script: text, ...(reason ? { irreversible: reason } : {}) });
    expect(pairing.pairs.find((p) => p.migration === name)?.status).toBe(reason ? 'irreversible' : 'paired');
  });
});
