import { readFileSync } from 'node:fs';
import type { CommandSummary } from './contract.ts';

/**
 * The commands as help and dispatch see them: plain data (cli/describe.ts derives it from the zod specs).
 * Running from the bundle it is read from the commands.json built beside it, so `dbops --help` and every
 * parse before a command's own code starts cost no zod; running from the sources it is derived live.
 */

/** The name of the file the bundle carries (pipeline/bin/bundle.js writes it). */
export const CATALOG_FILE = 'commands.json';

export async function commandCatalog(): Promise<CommandSummary[]> {
  if (!import.meta.url.endsWith('.ts')) {
    try {
      return JSON.parse(readFileSync(new URL(`./${CATALOG_FILE}`, import.meta.url), 'utf8')) as CommandSummary[];
    } catch {
      // A bundle without its catalog (built by hand): derive it, as the sources do.
    }
  }
  const { describeCommands } = await import('./describe.ts');
  return describeCommands();
}
