// The audit trail's pure parts: a jsonlog line as an audit line (pgaudit's CSV message, connections, failed
// logins, the collector's own session), the day summary, and the monthly review's security events.
import { describe, expect, it } from 'vitest';
import { auditLineOf, reviewAudit, summarize, type AuditLine } from '../../pipeline/operations/audit/index.ts';
import type { EvidenceBundle } from '../../pipeline/evidence/index.ts';
import { AuditPolicy } from '../../pipeline/policy/audit.ts';

const base = { timestamp: '2026-11-03 10:00:00.123 UTC', user: 'alice', dbname: 'ledger', session_id: 's1', remote_host: '10.0.0.5' };

describe('auditLineOf', () => {
  it('reads pgaudit’s CSV message, with a quoted statement, and masks its literals; the parameter field is never kept', () => {
    const line = auditLineOf({
      ...base,
      message: `AUDIT: OBJECT,3,1,READ,SELECT,TABLE,public.cards,"SELECT * FROM cards WHERE pan = '4111', note = ""x""",4111`,
    });
    expect(line).toEqual({
      at: '2026-11-03T10:00:00.123Z',
      user: 'alice',
      database: 'ledger',
      session: 's1',
      host: '10.0.0.5',
      kind: 'audit',
      audit: {
        type: 'OBJECT',
        class: 'READ',
        command: 'SELECT',
        objectType: 'TABLE',
        object: 'public.cards',
        statement: `SELECT * FROM cards WHERE pan = '…', note = "x"`,
      },
    });
    expect(JSON.stringify(line)).not.toContain('4111');
  });

  it('keeps connections and failed logins (28P01, 28000), and nothing else', () => {
    expect(auditLineOf({ ...base, message: 'connection authorized: user=alice database=ledger application_name=psql' })?.kind).toBe('connection');
    expect(auditLineOf({ ...base, state_code: '28P01', message: 'password authentication failed for user "alice"' })).toMatchObject({
      kind: 'failed-login',
      sqlstate: '28P01',
    });
    expect(auditLineOf({ ...base, state_code: '28000', message: 'no pg_hba.conf entry for host' })?.kind).toBe('failed-login');
    expect(auditLineOf({ ...base, message: 'checkpoint complete: wrote 3 buffers' })).toBeUndefined();
    expect(auditLineOf({ ...base, state_code: '42P01', message: 'relation "x" does not exist' })).toBeUndefined();
  });

  it('leaves out the collector’s own session, whose name is only in the message of its connection line', () => {
    expect(auditLineOf({ ...base, message: 'connection authorized: user=postgres database=ledger application_name=dbops audit collect' })).toBeUndefined();
    expect(
      auditLineOf({
        ...base,
        application_name: 'dbops audit collect',
        message: 'AUDIT: SESSION,1,1,DDL,CREATE TABLE,TABLE,public.t,CREATE TABLE t (),<not logged>',
      }),
    ).toBeUndefined();
  });
});

const line = (over: Partial<AuditLine>): AuditLine => ({
  at: '2026-11-03T10:00:00.000Z',
  user: 'alice',
  database: 'ledger',
  session: 's',
  host: null,
  kind: 'audit',
  ...over,
});
const ddl = (user: string) =>
  line({ user, audit: { type: 'SESSION', class: 'DDL', command: 'CREATE TABLE', objectType: 'TABLE', object: 'public.t', statement: null } });
const roleChange = (user: string, at = '2026-11-03T10:00:00.000Z') =>
  line({ user, at, audit: { type: 'SESSION', class: 'ROLE', command: 'GRANT', objectType: null, object: null, statement: 'GRANT x TO y' } });
const failed = (at: string, user = 'mallory') =>
  line({ user, at, kind: 'failed-login', sqlstate: '28P01', host: '203.0.113.9', message: `password authentication failed for user "${user}"` });

function segment(sequence: number, day: string, lines: AuditLine[], superusers: string[] = []): EvidenceBundle {
  return {
    sequence,
    kind: 'audit-log',
    sha256: String(sequence).repeat(64).slice(0, 64),
    auditLog: {
      database: 'ledger',
      day,
      source: { logDir: '/log', files: [] },
      position: { file: 'f', offset: 0 },
      lines,
      summary: summarize(lines, new Set(superusers)),
    },
  } as unknown as EvidenceBundle;
}

describe('summarize', () => {
  it('DDL by user, role changes, failed logins by user and host, superuser sessions', () => {
    const s = summarize(
      [
        ddl('alice'),
        ddl('alice'),
        ddl('bob'),
        roleChange('bob'),
        failed('2026-11-03T10:00:00Z'),
        line({ kind: 'connection', user: 'postgres' }),
        line({ kind: 'connection', user: 'app' }),
      ],
      new Set(['postgres']),
    );
    expect(s.ddl).toEqual([
      { user: 'alice', count: 2 },
      { user: 'bob', count: 1 },
    ]);
    expect(s.roleChanges.map((r) => [r.user, r.command])).toEqual([['bob', 'GRANT']]);
    expect(s.failedLogins).toEqual([{ user: 'mallory', count: 1, hosts: ['203.0.113.9'] }]);
    expect(s.superuserSessions.map((x) => x.user)).toEqual(['postgres']);
    expect(s.lines).toBe(7);
  });
});

describe('reviewAudit', () => {
  const policy = AuditPolicy.parse({ version: 1, failed_login_burst: { count: 3, within: '10min' } });

  it('adds up the month’s segments only, and names the days without one', () => {
    const r = reviewAudit(
      [segment(1, '2026-10-31', [ddl('x')]), segment(2, '2026-11-01', [ddl('alice')]), segment(3, '2026-11-30', [ddl('alice'), ddl('bob')])],
      '2026-11',
      'production',
      policy,
    );
    expect(r.segments.map((s) => s.sequence)).toEqual([2, 3]);
    expect(r.totals.ddl).toBe(3);
    expect(r.ddlByUser).toEqual([
      { user: 'alice', count: 2 },
      { user: 'bob', count: 1 },
    ]);
    expect(r.daysWithout).toHaveLength(28);
    expect(r.daysWithout[0]).toBe('2026-11-02');
  });

  it('a role change by a pipeline role is no event; by anyone else it is', () => {
    const r = reviewAudit([segment(1, '2026-11-03', [roleChange('migrator'), roleChange('alice')])], '2026-11', 'production', policy);
    expect(r.events.map((e) => [e.kind, e.user])).toEqual([['role-change-outside-pipeline', 'alice']]);
  });

  it('a burst is count failed logins within the window: exactly at the window is one, one millisecond wider is none', () => {
    const at = (ms: number) => new Date(Date.parse('2026-11-03T10:00:00Z') + ms).toISOString();
    const inside = reviewAudit([segment(1, '2026-11-03', [failed(at(0)), failed(at(300_000)), failed(at(600_000))])], '2026-11', 'p', policy);
    expect(inside.events.map((e) => e.kind)).toEqual(['failed-login-burst']);
    expect(inside.events[0]!.message).toContain('3 failed logins of mallory within 10min');
    const outside = reviewAudit([segment(1, '2026-11-03', [failed(at(0)), failed(at(300_000)), failed(at(600_001))])], '2026-11', 'p', policy);
    expect(outside.events).toEqual([]);
    // Bursts across two segments (midnight) count together.
    const split = reviewAudit(
      [segment(1, '2026-11-03', [failed('2026-11-03T23:59:00Z'), failed('2026-11-03T23:59:30Z')]), segment(2, '2026-11-04', [failed('2026-11-04T00:00:10Z')])],
      '2026-11',
      'p',
      policy,
    );
    expect(split.events.map((e) => [e.kind, e.sequence])).toEqual([['failed-login-burst', 1]]);
    expect(split.totals.failedLogins).toBe(3);
  });

  it('each superuser session is an event', () => {
    const r = reviewAudit([segment(1, '2026-11-03', [line({ kind: 'connection', user: 'postgres' })], ['postgres'])], '2026-11', 'p', policy);
    expect(r.events.map((e) => e.kind)).toEqual(['superuser-session']);
  });
});
