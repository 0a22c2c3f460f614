import { join } from 'node:path';
import type { ChangedPath } from '../../infra/git/base.ts';
import { checksum, scriptMatches, type LocalMigration, type MigrationRow } from '../migrations/index.ts';
import type { Finding } from '../../core/result.ts';
import { gitPath } from '../../infra/git/base.ts';

/**
 * History integrity: a migration that is already on the base ref, or applied to a database, is
 * immutable. Editing, renaming or deleting it makes Prisma (and dbops) refuse or silently diverge on
 * every database that has it; a new migration that sorts before one already merged is applied out of
 * order on those databases (two pull requests racing).
 */

export type Change = 'added' | 'modified' | 'renamed';

export interface FileChange {
  name: string;
  status: ChangedPath['status'];
  /** Renames: the name on the base ref. */
  oldName?: string | undefined;
}

export interface ClassifiedChanges {
  migrations: FileChange[];
  rollbacks: FileChange[];
}

function nameIn(path: string, dir: string, kind: 'migration' | 'rollback'): string | undefined {
  const prefix = dir === '.' ? '' : `${dir}/`;
  if (!path.startsWith(prefix)) return undefined;
  const rest = path.slice(prefix.length).split('/');
  if (kind === 'migration') return rest.length === 2 && rest[1] === 'migration.sql' ? rest[0] : undefined;
  return rest.length === 1 && rest[0]!.endsWith('.sql') ? rest[0]!.slice(0, -'.sql'.length) : undefined;
}

/** Migration scripts and rollback files among git's changes; other files (lock file, READMEs) do not matter here. */
export function classifyChanges(changes: ChangedPath[], migrationsDir: string, rollbacksDir: string): ClassifiedChanges {
  const out: ClassifiedChanges = { migrations: [], rollbacks: [] };
  const mDir = gitPath(migrationsDir);
  const rDir = gitPath(rollbacksDir);
  for (const c of changes) {
    for (const [kind, dir, list] of [
      ['migration', mDir, out.migrations],
      ['rollback', rDir, out.rollbacks],
    ] as const) {
      const name = nameIn(c.path, dir, kind);
      const oldName = c.oldPath === undefined ? undefined : nameIn(c.oldPath, dir, kind);
      if (name === undefined && oldName === undefined) continue;
      if (c.status === 'renamed' && name !== undefined && oldName === undefined)
        list.push({ name, status: 'added' }); // moved in from elsewhere
      else if (c.status === 'renamed' && name === undefined)
        list.push({ name: oldName!, status: 'deleted' }); // moved out
      else list.push({ name: name!, status: c.status, oldName });
    }
  }
  return out;
}

const firstDifferentLine = (a: string, b: string): number => {
  const x = a.split('\n');
  const y = b.split('\n');
  let i = 0;
  while (i < x.length && i < y.length && x[i]!.replace(/\r$/, '') === y[i]!.replace(/\r$/, '')) i++;
  return i + 1;
};

export interface BaseHistory {
  ref: string;
  /** Migration names on the merge base, sorted as Prisma sorts them. */
  migrations: string[];
  /** Base content of the migrations the change modifies (to ignore line-ending-only changes and point at the first edited line). */
  contents: Map<string, string>;
}

const IMMUTABLE =
  'A migration that is on the base branch may already run in staging or production: Prisma and dbops compare checksums and refuse, or silently skip, what changed.';

/** Findings about the change against the base ref: edited, renamed, deleted, out of order. */
export function baseHistoryFindings(base: BaseHistory, migrations: FileChange[], local: Map<string, LocalMigration>, migrationsDir: string): Finding[] {
  const findings: Finding[] = [];
  const onBase = new Set(base.migrations);
  const newest = base.migrations.at(-1);
  const file = (name: string) => join(migrationsDir, name, 'migration.sql');
  for (const c of migrations) {
    if (c.status === 'modified' && onBase.has(c.name)) {
      const before = base.contents.get(c.name);
      const script = local.get(c.name)?.script;
      if (before !== undefined && script !== undefined && scriptMatches(script, checksum(before))) continue; // line endings only, as the executor's checksum treats them
      findings.push({
        rule: 'history/edited',
        severity: 'error',
        migration: c.name,
        file: file(c.name),
        ...(before !== undefined && script !== undefined ? { line: firstDifferentLine(before, script), column: 1 } : {}),
        message: `${c.name} is already on ${base.ref} and has been edited.`,
        help: `${IMMUTABLE} Revert the edit (git checkout ${base.ref} -- ${file(c.name)}) and put the change in a new migration (prisma migrate dev --create-only).`,
      });
    } else if (c.status === 'deleted' && onBase.has(c.name)) {
      findings.push({
        rule: 'history/deleted',
        severity: 'error',
        migration: c.name,
        file: file(c.name),
        message: `${c.name} is on ${base.ref} and has been deleted.`,
        help: `${IMMUTABLE} Restore it (git checkout ${base.ref} -- ${join(migrationsDir, c.name)}) and undo its effect with a new migration instead.`,
      });
    } else if (c.status === 'renamed' && c.oldName !== undefined && onBase.has(c.oldName)) {
      findings.push({
        rule: 'history/renamed',
        severity: 'error',
        migration: c.name,
        file: file(c.name),
        message: `${c.oldName} is on ${base.ref} and has been renamed to ${c.name}.`,
        help: `${IMMUTABLE} A renamed migration is a new one to Prisma: databases that have ${c.oldName} would apply it a second time. Restore the old name.`,
      });
    }
    const added = c.status === 'added' || (c.status === 'renamed' && !(c.oldName !== undefined && onBase.has(c.oldName))); // a renamed base migration is reported as renamed
    if (added && newest !== undefined && !onBase.has(c.name) && c.name.localeCompare(newest) < 0) {
      findings.push({
        rule: 'history/out-of-order',
        severity: 'error',
        migration: c.name,
        file: file(c.name),
        message: `${c.name} sorts before ${newest}, which is already on ${base.ref}: databases that have ${newest} would apply ${c.name} after it, in another order than a fresh database.`,
        help: `Another pull request merged a newer migration first. Merge ${base.ref} into this branch and give the migration a later timestamp (rename the folder and its rollback, or regenerate it with prisma migrate dev).`,
      });
    }
  }
  return findings;
}

/** Findings against what a database has applied (`_prisma_migrations`), compared with the executor's checksum. */
export function appliedHistoryFindings(local: LocalMigration[], rows: MigrationRow[], where: string, migrationsDir: string): Finding[] {
  const findings: Finding[] = [];
  const applied = rows.filter((r) => r.rolledBackAt === null && r.finishedAt !== null);
  const appliedNames = new Set(applied.map((r) => r.migrationName));
  const byName = new Map(local.map((m) => [m.name, m]));
  const file = (name: string) => join(migrationsDir, name, 'migration.sql');
  const help = `Migrations applied to ${where} are immutable: dbops and Prisma compare their checksums. Revert the change and write a new migration instead.`;
  for (const row of applied) {
    const m = byName.get(row.migrationName);
    if (m?.script !== undefined) {
      if (!scriptMatches(m.script, row.checksum)) {
        findings.push({
          rule: 'history/edited',
          severity: 'error',
          migration: m.name,
          file: file(m.name),
          message: `${m.name} was applied to ${where} and has been edited since (its checksum differs).`,
          help,
        });
      }
      continue;
    }
    if (m) continue; // folder without migration.sql: reported on its own
    const renamedTo = local.find((l) => !appliedNames.has(l.name) && l.script !== undefined && scriptMatches(l.script, row.checksum));
    if (renamedTo) {
      findings.push({
        rule: 'history/renamed',
        severity: 'error',
        migration: renamedTo.name,
        file: file(renamedTo.name),
        message: `${renamedTo.name} is ${row.migrationName}, applied to ${where}, under a new name: it would be applied a second time.`,
        help,
      });
    } else {
      findings.push({
        rule: 'history/deleted',
        severity: 'error',
        migration: row.migrationName,
        file: file(row.migrationName),
        message: `${row.migrationName} was applied to ${where} but no longer exists in ${migrationsDir}.`,
        help,
      });
    }
  }
  const newest = [...appliedNames].sort((a, b) => a.localeCompare(b)).at(-1);
  for (const m of local) {
    if (newest === undefined || appliedNames.has(m.name) || m.name.localeCompare(newest) >= 0) continue;
    if (applied.some((r) => m.script !== undefined && scriptMatches(m.script, r.checksum))) continue; // reported as renamed
    findings.push({
      rule: 'history/out-of-order',
      severity: 'error',
      migration: m.name,
      file: file(m.name),
      message: `${m.name} is not applied to ${where} but sorts before ${newest}, which is: it would run after newer migrations there.`,
      help: 'Give the migration a timestamp later than every applied one (rename the folder and its rollback).',
    });
  }
  return findings;
}

/** One finding per rule and migration: the database's evidence is added to the base ref's finding. */
export function mergeHistory(fromBase: Finding[], fromDatabase: Finding[], where: string): Finding[] {
  const out = fromBase.map((f) => ({ ...f }));
  for (const f of fromDatabase) {
    const same = out.find((o) => o.rule === f.rule && o.migration === f.migration);
    if (same) same.message = `${same.message} The same holds on ${where}.`;
    else out.push(f);
  }
  return out;
}
