import type { LocalMigration } from './folder.ts';
import type { MigrationRow } from './history.ts';

/**
 * What a change consists of, computed once for everyone who needs it: the migrations a deploy applies
 * (migrate deploy, the gate, the release engine) and the migrations a rollback undoes (the gate, the engine).
 */

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
  return { names: live.slice(at + 1).map((r) => r.migrationName).reverse(), known: true };
}
