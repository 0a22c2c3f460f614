import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inspectRollback } from '../../pipeline/rollbacks/pair.ts';
import { readRollbacksFolder } from '../../pipeline/rollbacks/files.ts';
import { rehearsalRollback } from '../../pipeline/steps/rehearse/rollback.ts';
import { tempDir } from '../helpers/migrations.ts';

/** rollbacks/m.sql of a folder, read as rehearse reads it. */
const readRollback = async (dir: string, name: string) => {
  const file = (await readRollbacksFolder(dir)).files.find((f) => f.name === name);
  return file && rehearsalRollback(file);
};

describe('rehearse reads the irreversible marker as lint does', () => {
  const cases: Array<[string, string]> = [
    ['first line', '-- dbops:irreversible drops data\nALTER TABLE t ADD COLUMN c int;\n'],
    ['after blank lines, CRLF, no space after --', '\r\n\r\n--dbops:irreversible: drops data\r\nALTER TABLE t ADD COLUMN c int;\r\n'],
    ['marker without a reason', '-- dbops:irreversible\nALTER TABLE t ADD COLUMN c int;\n'],
    ['marker on a later line (no effect)', 'ALTER TABLE t ADD COLUMN c int;\n-- dbops:irreversible drops data\n'],
  ];
  it.each(cases)('%s', async (_label, text) => {
    const dir = await tempDir('dbops-rollback-');
    await writeFile(join(dir, 'm.sql'), text);
    const rollback = await readRollback(dir, 'm');
    const { marker } = inspectRollback(text);
    expect(rollback?.irreversible !== undefined).toBe(marker !== undefined);
    if (marker) expect(rollback?.irreversible).toBe(marker.reason ?? 'no reason given');
  });
  it('a later-line marker does not make the rollback irreversible', async () => {
    const dir = await tempDir('dbops-rollback-');
    await writeFile(join(dir, 'm.sql'), cases[3]![1]);
    expect((await readRollback(dir, 'm'))?.irreversible).toBeUndefined();
  });
});
