import { parse as parseCsv } from 'csv-parse/sync';
import { EnvError } from '../../core/errors.ts';
import { maskLiterals } from '../../core/redact.ts';
import type { LogSource } from './log-source.ts';

/**
 * The server log as the audit trail reads it: jsonlog files (one JSON object per line) in name order, from
 * the position the previous collection stopped at, complete lines only. Kept: pgaudit's lines, connections
 * and failed logins; everything else in the log (errors, checkpoints, slow statements) is not audit. Every
 * literal of an audited statement is masked, and pgaudit's parameter field is never kept.
 */

export interface AuditLine {
  /** The server's timestamp, ISO 8601 UTC. */
  at: string;
  user: string | null;
  database: string | null;
  session: string | null;
  host: string | null;
  kind: 'audit' | 'connection' | 'failed-login';
  /** pgaudit: SESSION or OBJECT, its class (DDL, ROLE, READ, WRITE…), command, object type and name. */
  audit?: { type: string; class: string; command: string; objectType: string | null; object: string | null; statement: string | null };
  /** Failed login: SQLSTATE and the server's message (which names the user, never the password). */
  sqlstate?: string;
  message?: string;
}

/** Where the next collection continues: a log file by name and the byte after the last line read. */
export interface LogPosition {
  file: string;
  offset: number;
}

export interface ReadLine {
  line: AuditLine;
  /** The position right after this line: what a segment ending with it records. */
  after: LogPosition;
}

/** pgaudit's message: `AUDIT: SESSION,1,1,DDL,CREATE TABLE,TABLE,public.t,<statement>,<parameter>` (CSV after the prefix). */
function auditOf(message: string): AuditLine['audit'] | undefined {
  if (!message.startsWith('AUDIT: ')) return undefined;
  let fields: string[];
  try {
    fields = (parseCsv(message.slice(7), { relax_column_count: true, relax_quotes: true }) as string[][])[0] ?? [];
  } catch {
    return undefined;
  }
  const [type, , , cls, command, objectType, object, statement] = fields;
  if (!type || !cls || !command) return undefined;
  const empty = (v: string | undefined) => (v === undefined || v === '' ? null : v);
  return {
    type,
    class: cls,
    command,
    objectType: empty(objectType),
    object: empty(object),
    statement: statement === undefined || statement === '<not logged>' ? null : maskLiterals(statement),
  };
}

/** The application name of the collector's own session: its connection is the collection itself, not audit. */
export const COLLECTOR_APPLICATION = 'dbops audit collect';

/** One log record (jsonlog's fields; csvlog's named alike) as an audit line, or undefined when it is not audit or security (or the collector's own). */
export function auditLineOf(json: Record<string, unknown>): AuditLine | undefined {
  const message = typeof json['message'] === 'string' ? json['message'] : '';
  const text = (k: string) => (typeof json[k] === 'string' ? (json[k] as string) : null);
  // The session's application_name is not yet in the jsonlog field of its "connection authorized" line, only in its message.
  if (text('application_name') === COLLECTOR_APPLICATION || message.endsWith(`application_name=${COLLECTOR_APPLICATION}`)) return undefined;
  const at = text('timestamp');
  if (!at) return undefined;
  // jsonlog writes `2026-12-07 17:24:28.123 UTC`; a zone abbreviation other than UTC/GMT is ambiguous (IST, CST…).
  const instant = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?) (UTC|GMT)$/.exec(at);
  if (!instant)
    throw new EnvError(`The server log stamps its lines as "${at}": the audit trail reads UTC only.`, {
      hint: "Set log_timezone = 'UTC' (policies/postgresql.yaml settings, then `dbops settings apply`); `dbops audit check` checks it.",
    });
  const base = {
    at: new Date(`${instant[1]}T${instant[2]}Z`).toISOString(),
    user: text('user'),
    database: text('dbname'),
    session: text('session_id'),
    host: text('remote_host'),
  };
  const audit = auditOf(message);
  if (audit) return { ...base, kind: 'audit', audit };
  if (message.startsWith('connection authorized:')) return { ...base, kind: 'connection', message: message.replace(/\s+/g, ' ') };
  const state = text('state_code');
  // 28P01 invalid password; 28000 invalid authorization (no pg_hba.conf entry, role cannot log in).
  if (state === '28P01' || state === '28000') return { ...base, kind: 'failed-login', sqlstate: state, message };
  return undefined;
}

/** Bytes read per request: a day of a busy server's log is never held whole. */
const CHUNK = 8 * 1024 * 1024;

export type LogFormat = 'jsonlog' | 'csvlog';

/** The file names of each format: the collector writes `.json` for jsonlog and `.csv` for csvlog. */
export const LOG_FILES: Record<LogFormat, RegExp> = { jsonlog: /\.json$/, csvlog: /\.csv$/ };

// csvlog's columns (PostgreSQL 14+), named as jsonlog names the same fields.
const CSV_COLUMNS = [
  'timestamp',
  'user',
  'dbname',
  'pid',
  'connection_from',
  'session_id',
  'line_num',
  'ps',
  'session_start',
  'vxid',
  'txid',
  'error_severity',
  'state_code',
  'message',
  'detail',
  'hint',
  'internal_query',
  'internal_position',
  'context',
  'statement',
  'cursor_position',
  'location',
  'application_name',
  'backend_type',
  'leader_pid',
  'query_id',
];

interface LogRecord {
  fields: Record<string, unknown>;
  /** Offset within the buffer right after the record. */
  end: number;
}

/** The complete records at the start of `data`: jsonlog one per line; csvlog records may span lines (a quoted newline). */
function recordsOf(data: Buffer, format: LogFormat): { records: LogRecord[]; consumed: number } {
  const records: LogRecord[] = [];
  if (format === 'jsonlog') {
    const cut = data.lastIndexOf(0x0a) + 1;
    let offset = 0;
    for (const raw of data.subarray(0, cut).toString('utf8').split('\n').slice(0, -1)) {
      offset += Buffer.byteLength(raw) + 1;
      if (raw.trim() === '') continue;
      try {
        records.push({ fields: JSON.parse(raw) as Record<string, unknown>, end: offset });
      } catch {
        // Not a JSON line (a truncated file reused on rotation): not audit.
      }
    }
    return { records, consumed: cut };
  }
  // A record ends at a newline outside quotes: quotes inside a field are doubled, so the parity of the quotes
  // seen so far tells inside from outside. The last such newline is where the complete records end.
  let quotes = 0;
  let cut = 0;
  for (let i = 0; i < data.length; i++) {
    if (data[i] === 0x22) quotes++;
    else if (data[i] === 0x0a && quotes % 2 === 0) cut = i + 1;
  }
  if (cut === 0) return { records, consumed: 0 };
  const rows = parseCsv(data.subarray(0, cut), { relax_column_count: true, info: true, skip_empty_lines: true }) as Array<{
    record: string[];
    info: { bytes: number };
  }>;
  for (const { record, info } of rows) {
    const fields: Record<string, unknown> = {};
    record.forEach((v, k) => {
      if (CSV_COLUMNS[k] && v !== '') fields[CSV_COLUMNS[k]!] = v;
    });
    // csvlog writes host:port where jsonlog has remote_host and remote_port.
    const from = typeof fields['connection_from'] === 'string' ? (fields['connection_from'] as string) : '';
    if (from) fields['remote_host'] = from.replace(/:\d+$/, '');
    records.push({ fields, end: info.bytes });
  }
  return { records, consumed: cut };
}

/**
 * Every audit line after `from`, in order, each with the position after it. A file whose size is below the
 * stored offset was truncated and reused on rotation (log_truncate_on_rotation): it is read from its start.
 * A line the server is still writing ends without a newline: it waits for the next collection.
 */
export async function readAuditLines(
  source: LogSource,
  from: LogPosition | null,
  format: LogFormat = 'jsonlog',
): Promise<{ lines: ReadLine[]; end: LogPosition | null; read: Array<{ file: string; from: number; to: number }> }> {
  const lines: ReadLine[] = [];
  const read: Array<{ file: string; from: number; to: number }> = [];
  let end = from;
  for (const { name: file, size } of await source.list(LOG_FILES[format])) {
    if (from && file < from.file) continue;
    let start = from && file === from.file ? from.offset : 0;
    if (start > size) start = 0;
    if (start >= size) continue;
    let next = start;
    let complete = start;
    let carry: Buffer = Buffer.alloc(0);
    while (next < size) {
      const chunk = await source.read(file, next, Math.min(CHUNK, size - next));
      if (chunk.length === 0) break;
      next += chunk.length;
      const data = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
      const base = next - data.length;
      const { records, consumed } = recordsOf(data, format);
      for (const r of records) {
        const line = auditLineOf(r.fields);
        if (line) lines.push({ line, after: { file, offset: base + r.end } });
      }
      complete = base + consumed;
      carry = data.subarray(consumed);
    }
    if (complete > start) {
      read.push({ file, from: start, to: complete });
      end = { file, offset: complete };
    }
  }
  return { lines, end, read };
}
