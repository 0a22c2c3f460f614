import { ConfigError, UsageError } from '../../core/errors.ts';
import type { Shell } from '../../core/shell.ts';
import { migrationsAt, resolveBase, showFile } from '../../infra/git/base.ts';
import type { LocalMigration } from '../migrations/index.ts';
import { noun } from '../../core/format.ts';

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

export interface ScopeInput {
  migrationsDir: string;
  base?: string | undefined;
  all: boolean;
  last?: number | undefined;
}

function withScript(m: LocalMigration): ScopedMigration {
  if (m.script === undefined) {
    throw new ConfigError(`P3015: Could not find the migration file at ${m.file}.`, { code: 'P3015', hint: 'Restore migration.sql or delete the folder.' });
  }
  return { name: m.name, file: m.file, script: m.script };
}

/**
 * What the change is. `--last N`: the newest N local migrations, on top of all the others (no git).
 * `--all`: every local migration, on an empty database. Otherwise the base ref's migrations are the base
 * state and every local migration the base ref does not have is pending (files edited since are lint's
 * business; the base state uses the base ref's version of a file only when it is gone locally).
 */
export async function resolveScope(input: ScopeInput, local: LocalMigration[], defaultBase: string, sh: Shell): Promise<Scope> {
  if (input.all && input.last !== undefined) throw new UsageError('--all and --last cannot be combined: --all rehearses every migration, --last N only the newest N.');
  if (input.last !== undefined) {
    if (input.last > local.length) throw new UsageError(`--last ${input.last}: ${input.migrationsDir} has only ${local.length} ${noun(local.length, 'migration')}.`);
    const cut = local.length - input.last;
    return { ref: null, base: local.slice(0, cut).map(withScript), pending: local.slice(cut).map(withScript) };
  }
  if (input.all) return { ref: null, base: [], pending: local.map(withScript) };

  const ref = input.base ?? defaultBase;
  const { sha } = await resolveBase(sh, ref);
  const names = await migrationsAt(sh, sha, input.migrationsDir);
  const onBase = new Set(names);
  const byName = new Map(local.map((m) => [m.name, m]));
  const base: ScopedMigration[] = [];
  for (const name of names) {
    const here = byName.get(name);
    if (here?.script !== undefined) {
      base.push(withScript(here));
      continue;
    }
    const file = `${input.migrationsDir.replace(/\/+$/, '')}/${name}/migration.sql`;
    const script = await showFile(sh, sha, file);
    if (script === undefined) throw new ConfigError(`${file} exists neither in the work tree nor on ${ref}.`);
    base.push({ name, file: `${file} (${ref})`, script });
  }
  return { ref, base, pending: local.filter((m) => !onBase.has(m.name)).map(withScript) };
}
