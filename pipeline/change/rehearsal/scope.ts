import { ConfigError } from '../../core/errors.ts';
import type { Shell } from '../../core/shell.ts';
import { gitPath, showFile } from '../../infra/git/base.ts';
import { changeScope, type ChangeFlags, type LocalMigration } from '../migrations/index.ts';

export interface ScopedMigration {
  name: string;
  /** migration.sql as shown in messages. */
  file: string;
  script: string;
}

export interface Scope {
  /** The base ref as given (e.g. origin/main); null with --last and --all. */
  ref: string | null;
  /** Applied to the snapshot first: the state the change starts from. */
  base: ScopedMigration[];
  /** Rehearsed one by one, in order. */
  pending: ScopedMigration[];
}

function withScript(m: LocalMigration): ScopedMigration {
  if (m.script === undefined) {
    throw new ConfigError(`P3015: Could not find the migration file at ${m.file}.`, { code: 'P3015', hint: 'Restore migration.sql or delete the folder.' });
  }
  return { name: m.name, file: m.file, script: m.script };
}

/**
 * The change as a rehearsal applies it (the change itself is change/migrations' changeScope). `--last N`:
 * the newest N local migrations, on top of all the others. `--all`: every local migration, on an empty
 * database. Otherwise the base ref's migrations are the base state and every local migration the base ref
 * does not have is pending (files edited since are lint's business; the base state uses the base ref's
 * version of a file only when it is gone locally).
 */
export async function resolveScope(input: ChangeFlags & { migrationsDir: string }, local: LocalMigration[], defaultBase: string, sh: Shell): Promise<Scope> {
  const change = await changeScope(input, local, input.migrationsDir, defaultBase, sh);
  if (change.kind !== 'changed') {
    const inChange = new Set(change.migrations.map((m) => m.name));
    return { ref: null, base: local.filter((m) => !inChange.has(m.name)).map(withScript), pending: change.migrations.map(withScript) };
  }
  const { ref, sha } = change;
  const byName = new Map(local.map((m) => [m.name, m]));
  const base: ScopedMigration[] = [];
  for (const name of change.onBase) {
    const here = byName.get(name);
    if (here?.script !== undefined) {
      base.push(withScript(here));
      continue;
    }
    const file = `${gitPath(input.migrationsDir)}/${name}/migration.sql`;
    const script = await showFile(sh, sha, file);
    if (script === undefined) throw new ConfigError(`${file} exists neither in the work tree nor on ${ref}.`);
    base.push({ name, file: `${file} (${ref})`, script });
  }
  return { ref, base, pending: change.added.map(withScript) };
}
