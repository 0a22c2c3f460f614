import type { DbTarget } from '../../infra/db/url.ts';
import { scriptMatches } from './checksum.ts';
import { isFailed, type MigrationRow } from './history.ts';

/** Where local migrations and `_prisma_migrations` stand against each other, as `prisma migrate status` judges it. */

export interface Datasource {
  database: string;
  schema: string;
  host: string;
  port: number;
}

export const datasourceOf = (t: DbTarget): Datasource => ({ database: t.database, schema: t.schema, host: t.host, port: t.port });

export type MigrationState = 'applied' | 'pending' | 'failed' | 'rolled-back' | 'missing-locally';

export interface MigrationStatus {
  name: string;
  state: MigrationState;
  /** The applied file changed since (checksum differs, line endings aside). */
  modified: boolean;
  /** The folder exists but has no readable migration.sql. */
  fileMissing: boolean;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  /** Rows in _prisma_migrations for this name (rolled-back attempts included). */
  rows: number;
}

export interface StatusData {
  datasource: Datasource;
  migrationsDir: string;
  hasMigrationsTable: boolean;
  migrations: MigrationStatus[];
  /** Prisma's history diagnostic. */
  history: 'up-to-date' | 'database-is-behind' | 'migrations-directory-is-behind' | 'histories-diverge' | 'not-managed';
  lastCommonMigration: string | null;
  counts: Record<MigrationState | 'modified', number>;
}

const durationOf = (r: MigrationRow | undefined) => (r?.finishedAt ? Date.parse(r.finishedAt) - Date.parse(r.startedAt) : null);

/**
 * Prisma's diagnoseMigrationHistory (spec §6.1, Prisma ≥ 7.10: rolled-back rows are ignored, so a
 * migration whose attempts were all rolled back is pending again and is re-applied by deploy).
 */
export function diagnose(local: Array<{ name: string; script: string | undefined }>, rows: MigrationRow[], hasTable: boolean): Omit<StatusData, 'datasource' | 'migrationsDir'> {
  const live = rows.filter((r) => r.rolledBackAt === null);
  const localNames = new Set(local.map((m) => m.name));
  const migrations: MigrationStatus[] = local.map((m) => {
    const row = live.find((r) => r.migrationName === m.name);
    const all = rows.filter((r) => r.migrationName === m.name);
    const state: MigrationState = !row ? (all.length > 0 ? 'rolled-back' : 'pending') : isFailed(row) ? 'failed' : 'applied';
    return {
      name: m.name,
      state,
      modified: row !== undefined && m.script !== undefined && !scriptMatches(m.script, row.checksum),
      fileMissing: m.script === undefined,
      startedAt: row?.startedAt ?? null,
      finishedAt: row?.finishedAt ?? null,
      durationMs: durationOf(row),
      rows: all.length,
    };
  });
  const missing = [...new Set(live.filter((r) => !localNames.has(r.migrationName)).map((r) => r.migrationName))];
  for (const name of missing) {
    const row = live.find((r) => r.migrationName === name)!;
    migrations.push({ name, state: isFailed(row) ? 'failed' : 'missing-locally', modified: false, fileMissing: true, startedAt: row.startedAt, finishedAt: row.finishedAt, durationMs: durationOf(row), rows: rows.filter((r) => r.migrationName === name).length });
  }
  const unapplied = migrations.filter((m) => m.state === 'pending' || m.state === 'rolled-back');
  const firstUnapplied = local.findIndex((m) => unapplied.some((u) => u.name === m.name));
  const history: StatusData['history'] =
    local.length === 0 && !hasTable ? 'not-managed'
    : unapplied.length > 0 && missing.length > 0 ? 'histories-diverge'
    : unapplied.length > 0 ? 'database-is-behind'
    : missing.length > 0 ? 'migrations-directory-is-behind'
    : 'up-to-date';
  const counts = { applied: 0, pending: 0, failed: 0, 'rolled-back': 0, 'missing-locally': 0, modified: 0 };
  for (const m of migrations) {
    counts[m.state]++;
    if (m.modified) counts.modified++;
  }
  return {
    hasMigrationsTable: hasTable,
    migrations,
    history,
    lastCommonMigration: history === 'histories-diverge' && firstUnapplied > 0 ? local[firstUnapplied - 1]!.name : null,
    counts,
  };
}
