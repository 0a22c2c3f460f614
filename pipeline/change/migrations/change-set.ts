import { UsageError } from '../../core/errors.ts';
import { noun } from '../../core/format.ts';
import type { Shell } from '../../core/shell.ts';
import { gitPath, migrationsAt, resolveBase } from '../../infra/git/base.ts';
import type { LocalMigration } from './folder.ts';
import type { MigrationRow } from './history.ts';

/**
 * What a change consists of, computed once for everyone who needs it: the migrations a pull request adds
 * (lint, rehearse), the migrations a deploy applies (migrate deploy, the gate, the release engine) and the
 * migrations a rollback undoes (the gate, the engine).
 */

/** How a change is named on the command line; lint and rehearse take the same flags. */
export interface ChangeFlags {
  /** The git ref the change is compared with (default: lint.base of the policy). */
  base?: string | undefined;
  /** Every local migration. */
  all?: boolean | undefined;
  /** The newest N local migrations (no git). */
  last?: number | undefined;
  /** Exactly these migrations, comma-separated (no git): how the gate lints the pending set. */
  only?: string | undefined;
}

/**
 * The change. `all`, `last` and `only` name its migrations without git; `changed` compares the work tree
 * with the merge base of a ref: `onBase` are the migration folders there (Prisma's order), `added` the local
 * migrations the base does not have. What else changed (edited or deleted files) is lint's business.
 */
export type ChangeScope =
  { kind: 'all' | 'last' | 'only'; migrations: LocalMigration[] } | { kind: 'changed'; ref: string; sha: string; onBase: string[]; added: LocalMigration[] };

/** The flags that name the whole change exclude each other: checked before anything is loaded. */
export function checkChangeFlags(flags: ChangeFlags): void {
  const given = (['all', 'last', 'only'] as const).filter((k) => flags[k] !== undefined && flags[k] !== false).map((k) => `--${k}`);
  if (given.length > 1)
    throw new UsageError(`${given.join(' and ')} cannot be combined.`, {
      hint: 'Use --all for every migration, --last N for the newest N, or --only NAME,… for exactly those.',
    });
}

export async function changeScope(flags: ChangeFlags, local: LocalMigration[], migrationsDir: string, defaultBase: string, sh: Shell): Promise<ChangeScope> {
  checkChangeFlags(flags);
  if (flags.all) return { kind: 'all', migrations: local };
  if (flags.last !== undefined) {
    if (flags.last > local.length)
      throw new UsageError(`--last ${flags.last}: ${migrationsDir} has only ${local.length} ${noun(local.length, 'migration')}.`, {
        hint: local.length ? `Pass --last ${local.length} or less, or --all.` : 'Create a migration first.',
      });
    return { kind: 'last', migrations: local.slice(local.length - flags.last) };
  }
  if (flags.only !== undefined) {
    const names = flags.only
      .split(',')
      .map((n) => n.trim())
      .filter(Boolean);
    const byName = new Map(local.map((m) => [m.name, m]));
    const unknown = names.filter((n) => !byName.has(n));
    if (unknown.length > 0) {
      throw new UsageError(
        `--only names ${unknown.map((n) => `"${n}"`).join(', ')}, which ${unknown.length === 1 ? 'is not a migration' : 'are not migrations'} of ${migrationsDir}.`,
        {
          hint: 'Pass migration folder names (comma-separated), e.g. --only 20260112093000_init.',
        },
      );
    }
    return { kind: 'only', migrations: names.map((n) => byName.get(n)!) };
  }
  const ref = flags.base ?? defaultBase;
  const { sha } = await resolveBase(sh, ref);
  const onBase = await migrationsAt(sh, sha, gitPath(migrationsDir));
  const there = new Set(onBase);
  return { kind: 'changed', ref, sha, onBase, added: local.filter((m) => !there.has(m.name)) };
}

/** Prisma's pending set: local migrations with no row that is not rolled back (spec §4.2 step 6). */
export const pendingMigrations = (local: LocalMigration[], rows: MigrationRow[]): LocalMigration[] => {
  const done = new Set(rows.filter((r) => r.rolledBackAt === null).map((r) => r.migrationName));
  return local.filter((m) => !done.has(m.name));
};

/** The applied migrations newer than `to` (in the order they were applied), newest first: what `dbops rollback --to` undoes; `known` is false when `to` is not applied. */
export function rollbackSet(rows: MigrationRow[], to: string): { names: string[]; known: boolean } {
  const live = rows.filter((r) => r.finishedAt !== null && r.rolledBackAt === null);
  const at = live.findIndex((r) => r.migrationName === to);
  if (at === -1) return { names: [], known: false };
  return {
    names: live
      .slice(at + 1)
      .map((r) => r.migrationName)
      .reverse(),
    known: true,
  };
}
