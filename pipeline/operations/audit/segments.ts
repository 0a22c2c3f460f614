import type { Runtime } from '../../core/runtime.ts';
import type { AuditLog, EvidenceStore, StoredBundle } from '../../evidence/index.ts';
import { withClient } from '../../infra/db/client.ts';
import { acquireOperationLock } from '../../infra/db/locks.ts';
import type { DbTarget } from '../../infra/db/url.ts';
import { COLLECTOR_APPLICATION, readAuditLines, type AuditLine, type LogFormat, type LogPosition, type ReadLine } from './collect.ts';
import { folderSource, serverSource } from './log-source.ts';

/**
 * `dbops audit collect`: the lines since the previous collection, one segment per day (UTC), each appended to
 * the evidence chain under the deploy lock (the chain has one writer). Each segment records the position after
 * its own last line, so a collection killed between two segments resumes after the last stored one: a line is
 * never stored twice, and none is skipped.
 */

/** How long a collection waits for a deploy or a policy change that holds the chain. */
const COLLECT_LOCK_WAIT_MS = 10 * 60_000;

export interface CollectResult {
  database: string;
  logDir: string;
  /** Where this collection started (null: the first collection, from the oldest log file). */
  from: LogPosition | null;
  segments: Array<{ day: string; lines: number; sequence: number; key: string; summary: AuditLog['summary'] }>;
  /** Where the next collection continues. */
  position: LogPosition | null;
}

const count = <K extends string>(items: Array<Record<K, string>>, keys: K[]): Array<Record<K, string> & { count: number }> => {
  const by = new Map<string, Record<K, string> & { count: number }>();
  for (const item of items) {
    const id = keys.map((k) => item[k]).join('\0');
    const entry = by.get(id) ?? ({ ...Object.fromEntries(keys.map((k) => [k, item[k]])), count: 0 } as Record<K, string> & { count: number });
    entry.count++;
    by.set(id, entry);
  }
  return [...by.values()];
};

/** What an auditor samples first: DDL by whom, role changes, audited objects, failed logins, superuser sessions. */
export function summarize(lines: AuditLine[], superusers: ReadonlySet<string>): AuditLog['summary'] {
  const audit = lines.filter((l) => l.kind === 'audit' && l.audit);
  const failed = lines.filter((l) => l.kind === 'failed-login');
  const failedBy = new Map<string, { user: string; count: number; hosts: Set<string> }>();
  for (const f of failed) {
    const user = f.user ?? /user "([^"]+)"/.exec(f.message ?? '')?.[1] ?? '(unknown)';
    const entry = failedBy.get(user) ?? { user, count: 0, hosts: new Set<string>() };
    entry.count++;
    if (f.host) entry.hosts.add(f.host);
    failedBy.set(user, entry);
  }
  return {
    lines: lines.length,
    ddl: count(
      audit.filter((l) => l.audit!.class === 'DDL').map((l) => ({ user: l.user ?? '(unknown)' })),
      ['user'],
    ),
    roleChanges: audit
      .filter((l) => l.audit!.class === 'ROLE')
      .map((l) => ({ at: l.at, user: l.user ?? '(unknown)', command: l.audit!.command, object: l.audit!.object })),
    objectAccess: count(
      audit.filter((l) => l.audit!.type === 'OBJECT' && l.audit!.object).map((l) => ({ object: l.audit!.object!, command: l.audit!.command })),
      ['object', 'command'],
    ),
    failedLogins: [...failedBy.values()].map((f) => ({ user: f.user, count: f.count, hosts: [...f.hosts].sort() })),
    superuserSessions: lines
      .filter((l) => l.kind === 'connection' && l.user !== null && superusers.has(l.user))
      .map((l) => ({ at: l.at, user: l.user!, database: l.database, host: l.host })),
  };
}

/** Lines grouped by the UTC day of their timestamp, days in order (the log is written in time order). */
function byDay(lines: ReadLine[]): Array<{ day: string; lines: ReadLine[] }> {
  const days: Array<{ day: string; lines: ReadLine[] }> = [];
  for (const l of lines) {
    const day = l.line.at.slice(0, 10);
    const last = days.at(-1);
    if (last && last.day === day) last.lines.push(l);
    else days.push({ day, lines: [l] });
  }
  return days;
}

/** `logDir`: the server's log folder on this machine; undefined: read through the server (pg_ls_logdir, pg_read_binary_file). */
export async function collectAudit(
  target: DbTarget,
  store: EvidenceStore,
  logDir: string | undefined,
  rt: Pick<Runtime, 'log' | 'signal' | 'progress'>,
  format: LogFormat = 'jsonlog',
): Promise<CollectResult> {
  const { appendBundle, newestBundle } = await import('../../evidence/index.ts');
  return withClient(target, { log: rt.log, applicationName: COLLECTOR_APPLICATION }, async (c) => {
    // A running deploy writes the chain too: the collection waits for it (the lines wait in the log meanwhile).
    await acquireOperationLock(c, 'deploy', {
      what: 'An audit collection',
      waitMs: COLLECT_LOCK_WAIT_MS,
      signal: rt.signal,
      onWait: (holder) => rt.progress(`waiting for ${holder} to release the deploy lock (up to ${COLLECT_LOCK_WAIT_MS / 60_000} min)`),
    });
    const database = (await c.query<{ db: string }>('SELECT current_database() AS db')).rows[0]!.db;
    const superusers = new Set((await c.query<{ name: string }>('SELECT rolname AS name FROM pg_roles WHERE rolsuper')).rows.map((r) => r.name));
    const previous = await newestBundle(store, 'audit-log', (b) => b.auditLog?.database === database);
    const from = previous?.auditLog?.position ?? null;
    const source = logDir !== undefined ? folderSource(logDir) : await serverSource(c);
    const { lines, end } = await readAuditLines(source, from, format);
    const segments: CollectResult['segments'] = [];
    let start = from;
    for (const { day, lines: dayLines } of byDay(lines)) {
      const position = dayLines.at(-1)!.after;
      const files = [...new Set(dayLines.map((l) => l.after.file))].map((file) => ({
        file,
        from: start && start.file === file ? start.offset : 0,
        to: Math.max(...dayLines.filter((l) => l.after.file === file).map((l) => l.after.offset)),
      }));
      const items = dayLines.map((l) => l.line);
      const auditLog: AuditLog = {
        database,
        day,
        source: { logDir: source.description, files },
        position,
        lines: items,
        summary: summarize(items, superusers),
      };
      const stored: StoredBundle = await appendBundle(store, { kind: 'audit-log', breakGlass: null, execution: null, interrupted: null, run: null, auditLog });
      segments.push({ day, lines: items.length, sequence: stored.bundle.sequence, key: stored.key, summary: auditLog.summary });
      rt.progress(`  ${day}: ${items.length} lines → bundle #${stored.bundle.sequence}`);
      start = position;
    }
    return { database, logDir: source.description, from, segments, position: segments.length > 0 ? start : (end ?? from) };
  });
}
