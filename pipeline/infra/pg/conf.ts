import { readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { replaceFileIfChanged } from '../../core/fs.ts';
import type { RunAs } from '../../core/shell.ts';

/**
 * The server configuration files dbops owns: include files beside postgresql.conf (`dbops-pitr.conf` for WAL
 * archiving, `dbops-settings.conf` for policies/postgresql.yaml), each included once from postgresql.conf
 * with include_if_exists, after everything else, so they win over the file's own lines. Never ALTER SYSTEM:
 * postgresql.auto.conf would win over every file and hide from review what the server runs with.
 */

/** `name = 'value'` lines, quoted as postgresql.conf quotes strings. */
export function renderSettingsFile(header: string, settings: Record<string, string>): string {
  const lines = Object.entries(settings).map(([k, v]) => `${k} = '${v.replace(/'/g, "''")}'`);
  return `${header
    .split('\n')
    .map((l) => `# ${l}`)
    .join('\n')}\n${lines.join('\n')}\n`;
}

/** Writes a file dbops owns beside postgresql.conf, keeping the mode an existing one has (postgresql.conf is often 0600). */
export async function writeServerFile(path: string, text: string, runAs: RunAs | undefined): Promise<boolean> {
  const mode = (await stat(path).catch(() => undefined))?.mode;
  return replaceFileIfChanged(path, text, { mode: mode === undefined ? 0o644 : mode & 0o777, owner: runAs });
}

export const includeFilePath = (configFile: string, name: string): string => join(dirname(configFile), name);

/** Appends `include_if_exists = '<name>'` to postgresql.conf unless it is there; true when it was added. */
export async function ensureInclude(configFile: string, name: string, comment: string, runAs: RunAs | undefined): Promise<boolean> {
  const conf = await readFile(configFile, 'utf8');
  if (conf.split('\n').some((l) => l.trim().startsWith(`include_if_exists = '${name}'`))) return false;
  await writeServerFile(configFile, `${conf.endsWith('\n') ? conf : `${conf}\n`}include_if_exists = '${name}'\t# ${comment}\n`, runAs);
  return true;
}
