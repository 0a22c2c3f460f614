import { readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeSql } from '../migrations/index.ts';
import type { RollbackFile } from './pair.ts';

export interface RollbacksFolder {
  dir: string;
  exists: boolean;
  files: RollbackFile[];
}

/** Every `<name>.sql` directly in the folder, decoded as migrations are; other files (a README) and sub-folders are not rollbacks. */
export async function readRollbacksFolder(dir: string): Promise<RollbacksFolder> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return undefined;
    throw e;
  });
  if (!entries) return { dir, exists: false, files: [] };
  const sql = entries.filter((e) => e.isFile() && e.name.endsWith('.sql')).map((e) => e.name);
  // Synchronous: for hundreds of small files several times faster than fs.promises (a thread-pool round trip per call).
  const files = sql.map((file): RollbackFile => {
    const { script, fault } = decodeSql(readFileSync(join(dir, file)));
    return { name: file.slice(0, -'.sql'.length), path: join(dir, file), text: script, ...(fault ? { fault } : {}) };
  });
  return { dir, exists: true, files: files.sort((a, b) => a.name.localeCompare(b.name)) };
}
