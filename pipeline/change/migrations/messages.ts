import { isPgError } from '../../infra/db/client.ts';
import type { MigrationRow } from './history.ts';
import { noun } from '../../core/format.ts';

const RESOLVE_DOC = 'Read more about how to resolve migration issues in a production database: https://pris.ly/d/migrate-resolve';

export const datasourceLine = (t: { database: string; schema: string; host: string; port: number }): string =>
  `Datasource "db": PostgreSQL database "${t.database}", schema "${t.schema}" at "${t.host}:${t.port}"`;

export const foundLine = (count: number, dir: string): string =>
  count === 0 ? `No migration found in ${dir}` : `${count} ${noun(count, 'migration')} found in ${dir}`;

/** chrono's Display for a UTC time: fraction trimmed to 3, 6 or 9 digits, none when zero (spec §4.5). */
export function chronoUtc(isoMicros: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.(\d+))?Z$/.exec(isoMicros);
  if (!m) return isoMicros;
  const micros = (m[3] ?? '').padEnd(6, '0').slice(0, 6);
  const fraction = Number(micros) === 0 ? '' : micros.endsWith('000') ? `.${micros.slice(0, 3)}` : `.${micros}`;
  return `${m[1]} ${m[2]}${fraction} UTC`;
}

export function p3009Message(failed: MigrationRow[]): string {
  const lines = failed.map((r) => `The \`${r.migrationName}\` migration started at ${chronoUtc(r.startedAt)} failed`);
  return `migrate found failed migrations in the target database, new migrations will not be applied. ${RESOLVE_DOC}\n${lines.join('\n')}`;
}

export function p3009Hint(failed: MigrationRow[]): string {
  const name = failed[0]?.migrationName ?? 'NAME';
  const recorded = failed[0]?.logs ? `\nRecorded error of \`${name}\`: ${firstDatabaseErrorLine(failed[0].logs)}` : '';
  return (
    `Find out what \`${name}\` left behind, then either\n` +
    `  - undo it (an ordinary migration run by dbops is atomic, so a failure left nothing behind), fix the file and run \`dbops migrate resolve --rolled-back ${name}\`, then deploy again; or\n` +
    `  - finish it by hand and run \`dbops migrate resolve --applied ${name}\`.${recorded}`
  );
}

/** The server's own error line from a `logs` value, whoever wrote it (dbops, Prisma's CLI, Prisma's driver-adapter engine). */
function firstDatabaseErrorLine(logs: string): string {
  const serverLine = /(?:^|\s)((?:ERROR|FATAL): .*)$/m.exec(logs);
  if (serverLine) return serverLine[1]!.trim();
  return (
    logs
      .split('\n')
      .find((l) => l.trim() !== '')
      ?.trim()
      .slice(0, 300) ?? ''
  );
}

/** Numbered lines of the file around an error position (server positions are 1-based characters of the text sent). */
function positionBlock(script: string, sent: string, position: number, sentStartLine: number): string {
  const lineInSent = sent.slice(0, Math.max(0, position - 1)).split('\n').length;
  const fileLine = sentStartLine + lineInSent - 1;
  const lines = script.split('\n');
  const from = Math.max(1, fileLine - 5);
  const width = String(fileLine).length;
  const shown = [];
  for (let n = from; n <= fileLine && n <= lines.length; n++) shown.push(`${String(n).padStart(width)}${n === fileLine ? ' > ' : '   '}${lines[n - 1]}`);
  return `\n\nPosition:\n${shown.join('\n')}`;
}

export interface DatabaseErrorContext {
  script: string;
  /** The text that was sent when the error happened (the whole file, or one segment). */
  sent: string;
  /** File line where `sent` starts. */
  sentStartLine: number;
}

export const sqlState = (e: unknown): string | null => (isPgError(e) ? (e.code ?? null) : null);

/** "ERROR: …", DETAIL/HINT lines and the file position, as Prisma's P3018 shows a database error. */
export function databaseErrorText(e: unknown, ctx?: DatabaseErrorContext): string {
  if (!isPgError(e)) return e instanceof Error ? e.message : String(e);
  let text = `${e.severity ?? 'ERROR'}: ${e.message}`;
  if (e.detail) text += `\nDETAIL: ${e.detail}`;
  if (e.hint) text += `\nHINT: ${e.hint}`;
  if (e.where) text += `\nCONTEXT: ${e.where}`;
  if (ctx && e.position) text += positionBlock(ctx.script, ctx.sent, Number(e.position), ctx.sentStartLine);
  return text;
}

export function p3018Message(name: string, e: unknown, ctx?: DatabaseErrorContext): string {
  return (
    `A migration failed to apply. New migrations cannot be applied before the error is recovered from. ${RESOLVE_DOC}\n\n` +
    `Migration name: ${name}\n\nDatabase error code: ${sqlState(e) ?? 'none'}\n\nDatabase error:\n${databaseErrorText(e, ctx)}`
  );
}
