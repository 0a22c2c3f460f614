import { resolve } from 'node:path';
import type { MigrateInputs } from '../../flags.ts';
import { checkLockfile, readMigrationsFolder } from '../../../change/migrations/folder.ts';
import { loadRows, migrationsTableExists, openSession, type MigrationRow } from '../../../change/migrations/history.ts';
import { datasourceLine, foundLine } from '../../../change/migrations/messages.ts';
import { formatMs } from '../../../core/format.ts';
import { type Finding, type StepResult } from '../../../core/result.ts';
import { type StepContext } from '../../../cli/contract.ts';
import { datasourceOf } from '../../../change/migrations/status.ts';
import { type MigrationState, type StatusData, diagnose } from '../../../change/migrations/status.ts';

export async function run(input: MigrateInputs, ctx: StepContext): Promise<StepResult<StatusData>> {
  const folder = await readMigrationsFolder(resolve(input.migrationsDir));
  for (const w of folder.warnings) ctx.log.warn(w);
  checkLockfile(folder);
  const target = await ctx.database();
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
    if (m.modified) findings.push({ rule: 'migrate/modified-after-apply', severity: 'warning', message: `${m.name} was modified after it was applied (its checksum no longer matches _prisma_migrations).`, file: `${input.migrationsDir}/${m.name}/migration.sql`, help: 'Restore the applied version from git; a change to the schema belongs in a new migration.' });
    if (m.state === 'missing-locally') findings.push({ rule: 'migrate/missing-locally', severity: 'warning', message: `${m.name} is applied to the database but has no folder in ${input.migrationsDir}.`, help: 'Restore the folder from git, or check that you are on the right branch.' });
    if (m.fileMissing && m.state !== 'missing-locally' && m.state !== 'failed') findings.push({ rule: 'migrate/missing-file', severity: 'warning', message: `${input.migrationsDir}/${m.name}/ has no migration.sql.`, help: 'Restore the file or delete the empty folder.' });
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

export function render(result: StepResult<StatusData>): string {
  const d = result.data;
  let out = `${datasourceLine(d.datasource)}\n\n${foundLine(d.migrations.filter((m) => m.state !== 'missing-locally').length, d.migrationsDir)}\n`;
  if (d.migrations.length > 0) {
    const width = Math.max(9, ...d.migrations.map((m) => m.name.length));
    out += `\n  ${'STATE'.padEnd(12)}${'MIGRATION'.padEnd(width + 2)}${'APPLIED AT (UTC)'.padEnd(21)}DURATION\n`;
    for (const m of d.migrations) {
      const notes = [m.modified ? 'modified after apply' : '', m.state === 'rolled-back' ? 'will be re-applied' : '', m.fileMissing && m.state !== 'missing-locally' ? 'no migration.sql' : ''].filter(Boolean);
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
      return `${out}Following migration${pending.length === 1 ? '' : 's'} have not yet been applied:\n${pending.join('\n')}\n\nTo apply migrations in production run dbops migrate deploy.\n`;
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
