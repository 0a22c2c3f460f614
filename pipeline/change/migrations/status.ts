import { formatMs, noun } from '../../core/format.ts';
import type { Finding, StepResult } from '../../core/result.ts';
import type { Runtime } from '../../core/runtime.ts';
import type { DbTarget } from '../../infra/db/url.ts';
import { scriptMatches } from './checksum.ts';
import type { MigrationsFolder } from './folder.ts';
import { isFailed, loadRows, migrationsTableExists, openSession, type MigrationRow } from './history.ts';
import { datasourceLine, foundLine } from './messages.ts';

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
export function diagnose(
  local: Array<{ name: string; script: string | undefined }>,
  rows: MigrationRow[],
  hasTable: boolean,
): Omit<StatusData, 'datasource' | 'migrationsDir'> {
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
    migrations.push({
      name,
      state: isFailed(row) ? 'failed' : 'missing-locally',
      modified: false,
      fileMissing: true,
      startedAt: row.startedAt,
      finishedAt: row.finishedAt,
      durationMs: durationOf(row),
      rows: rows.filter((r) => r.migrationName === name).length,
    });
  }
  const unapplied = migrations.filter((m) => m.state === 'pending' || m.state === 'rolled-back');
  const firstUnapplied = local.findIndex((m) => unapplied.some((u) => u.name === m.name));
  const history: StatusData['history'] =
    local.length === 0 && !hasTable
      ? 'not-managed'
      : unapplied.length > 0 && missing.length > 0
        ? 'histories-diverge'
        : unapplied.length > 0
          ? 'database-is-behind'
          : missing.length > 0
            ? 'migrations-directory-is-behind'
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

/** `migrate status` (and demo): where the folder and `_prisma_migrations` stand, as Prisma would say it. */
export async function migrationStatus(
  input: { migrationsDir: string; folder: MigrationsFolder; target: DbTarget },
  ctx: Runtime,
): Promise<StepResult<StatusData>> {
  const { folder, target } = input;
  // Read-only: no advisory lock, no table or schema creation.
  const s = await openSession(target, ctx.log, 'dbops migrate status');
  let rows: MigrationRow[];
  let hasTable: boolean;
  try {
    hasTable = await migrationsTableExists(s);
    rows = hasTable ? await loadRows(s) : [];
  } finally {
    await s.close();
  }
  const data: StatusData = { datasource: datasourceOf(target), migrationsDir: input.migrationsDir, ...diagnose(folder.migrations, rows, hasTable) };
  const findings: Finding[] = [];
  for (const m of data.migrations) {
    if (m.modified)
      findings.push({
        rule: 'migrate/modified-after-apply',
        severity: 'warning',
        message: `${m.name} was modified after it was applied (its checksum no longer matches _prisma_migrations).`,
        file: `${input.migrationsDir}/${m.name}/migration.sql`,
        help: 'Restore the applied version from git; a change to the schema belongs in a new migration.',
      });
    if (m.state === 'missing-locally')
      findings.push({
        rule: 'migrate/missing-locally',
        severity: 'warning',
        message: `${m.name} is applied to the database but has no folder in ${input.migrationsDir}.`,
        help: 'Restore the folder from git, or check that you are on the right branch.',
      });
    if (m.fileMissing && m.state !== 'missing-locally' && m.state !== 'failed')
      findings.push({
        rule: 'migrate/missing-file',
        severity: 'warning',
        message: `${input.migrationsDir}/${m.name}/ has no migration.sql.`,
        help: 'Restore the file or delete the empty folder.',
      });
  }
  const refused = data.history !== 'up-to-date' && data.history !== 'migrations-directory-is-behind' ? true : data.counts.failed > 0;
  return { verdict: refused ? 'fail' : findings.length > 0 ? 'warn' : 'pass', findings, data };
}

const STATE_LABEL: Record<MigrationState, string> = {
  applied: 'applied',
  pending: 'pending',
  failed: 'FAILED',
  'rolled-back': 'rolled back',
  'missing-locally': 'not local',
};

const shortTime = (iso: string | null) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, '') : '');

export function renderStatus(result: StepResult<StatusData>): string {
  const d = result.data;
  let out = `${datasourceLine(d.datasource)}\n\n${foundLine(d.migrations.filter((m) => m.state !== 'missing-locally').length, d.migrationsDir)}\n`;
  if (d.migrations.length > 0) {
    const width = Math.max(9, ...d.migrations.map((m) => m.name.length));
    out += `\n  ${'STATE'.padEnd(12)}${'MIGRATION'.padEnd(width + 2)}${'APPLIED AT (UTC)'.padEnd(21)}DURATION\n`;
    for (const m of d.migrations) {
      const notes = [
        m.modified ? 'modified after apply' : '',
        m.state === 'rolled-back' ? 'will be re-applied' : '',
        m.fileMissing && m.state !== 'missing-locally' ? 'no migration.sql' : '',
      ].filter(Boolean);
      out += `  ${STATE_LABEL[m.state].padEnd(12)}${m.name.padEnd(width + 2)}${shortTime(m.finishedAt ?? m.startedAt).padEnd(21)}${m.durationMs === null ? '' : formatMs(m.durationMs)}${notes.length ? `  (${notes.join(', ')})` : ''}\n`;
    }
  }
  const pending = d.migrations.filter((m) => m.state === 'pending' || m.state === 'rolled-back').map((m) => m.name);
  const failed = d.migrations.filter((m) => m.state === 'failed').map((m) => m.name);
  const missing = d.migrations.filter((m) => m.state === 'missing-locally').map((m) => m.name);
  out += '\n';
  switch (d.history) {
    case 'not-managed':
      return `${out}The current database is not managed by Prisma Migrate.\n\nRead more about how to baseline an existing production database:\nhttps://pris.ly/d/migrate-baseline\n`;
    case 'database-is-behind':
      return `${out}Following ${noun(pending.length, 'migration')} have not yet been applied:\n${pending.join('\n')}\n\nTo apply migrations in production run dbops migrate deploy.\n`;
    case 'histories-diverge':
      return `${out}Your local migration history and the migrations table from your database are different:\n\nThe last common migration is: ${d.lastCommonMigration ?? 'null'}\n\nThe migration(s) have not yet been applied:\n${pending.join('\n')}\n\nThe migration(s) from the database are not found locally in ${d.migrationsDir}:\n${missing.join('\n')}\n`;
    default:
      break;
  }
  if (failed.length > 0) {
    return `${out}Following migration(s) have failed:\n${failed.join('\n')}\n\nThe failed migration(s) can be marked as rolled back or applied:\n\n- If you rolled back the migration(s) manually:\ndbops migrate resolve --rolled-back "${failed[0]}"\n\n- If you fixed the database manually (hotfix):\ndbops migrate resolve --applied "${failed[0]}"\n\nRead more about how to resolve migration issues in a production database:\nhttps://pris.ly/d/migrate-resolve\n`;
  }
  const warnings = result.findings.map((f) => `Warning: ${f.message}${f.help ? ` ${f.help}` : ''}`).join('\n');
  return `${out}${warnings ? `${warnings}\n\n` : ''}Database schema is up to date!\n`;
}
