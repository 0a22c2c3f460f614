import { readFileSync } from 'node:fs';
import { headCommit } from '../infra/git/base.ts';
import type { Shell } from './shell.ts';

/** dbops's own version (package.json), recorded in reports, manifests, verification records and SARIF. */
export const DBOPS_VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** dbops version and git commit, as manifests, verification records and evidence record them. */
export async function dbopsBuild(sh: Shell): Promise<{ version: string; commit: string | null }> {
  return { version: DBOPS_VERSION, commit: await headCommit(sh) };
}
