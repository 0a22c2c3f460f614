import { parseDuration } from '../../core/duration.ts';
import type { AuditLog, EvidenceBundle } from '../../evidence/index.ts';
import type { AuditPolicy } from '../../policy/audit.ts';

/**
 * The monthly review an auditor samples (`dbops audit review --month YYYY-MM`): the month's audit segments of
 * one environment's chain, added up, and the security events among them: role and privilege changes outside
 * the pipeline's roles, bursts of failed logins, superuser sessions, drift checks that found the schema changed
 * outside the pipeline. Pure: bundles and policy in.
 */

export type SecurityEventKind = 'role-change-outside-pipeline' | 'failed-login-burst' | 'superuser-session' | 'schema-drift';

export interface SecurityEvent {
  kind: SecurityEventKind;
  at: string;
  user: string;
  message: string;
  /** The segment (bundle) it was found in: what an auditor opens to see the lines. */
  sequence: number;
}

export interface AuditReview {
  month: string;
  environment: string;
  /** Each segment of the month: its day, bundle and hash, so a sample is found and verified. */
  segments: Array<{ day: string; sequence: number; sha256: string; database: string; lines: number }>;
  /** Days of the month with no segment: no audit line that day, or no collection (the workflow runs daily). */
  daysWithout: string[];
  totals: { lines: number; ddl: number; roleChanges: number; objectAccess: number; failedLogins: number; superuserSessions: number };
  ddlByUser: Array<{ user: string; count: number }>;
  roleChanges: Array<AuditLog['summary']['roleChanges'][number] & { sequence: number }>;
  objectAccess: Array<{ object: string; command: string; count: number }>;
  failedLogins: Array<{ user: string; count: number; hosts: string[] }>;
  /** The month's daily drift checks (`dbops drift --record`, drift.yml): each by bundle and hash, and the days none ran. */
  drift: {
    checks: Array<{ day: string; sequence: number; sha256: string; verdict: 'pass' | 'fail'; objects: number; outside: number }>;
    daysWithout: string[];
  };
  events: SecurityEvent[];
}

const daysOf = (month: string): string[] => {
  const [y, m] = month.split('-').map(Number) as [number, number];
  const n = new Date(Date.UTC(y, m, 0)).getUTCDate();
  return Array.from({ length: n }, (_, i) => `${month}-${String(i + 1).padStart(2, '0')}`);
};

function add<T extends { count: number }>(into: Map<string, T>, key: string, item: T): void {
  const had = into.get(key);
  if (had) had.count += item.count;
  else into.set(key, { ...item });
}

/** The review of `month` from the environment's bundles (any kind; only audit-log segments of that month count). */
export function reviewAudit(bundles: EvidenceBundle[], month: string, environment: string, policy: AuditPolicy): AuditReview {
  const segments = bundles
    .filter((b) => b.kind === 'audit-log' && b.auditLog && b.auditLog.day.startsWith(`${month}-`))
    .sort((a, b) => a.sequence - b.sequence);
  const ddl = new Map<string, { user: string; count: number }>();
  const access = new Map<string, { object: string; command: string; count: number }>();
  const failed = new Map<string, { user: string; count: number; hosts: string[] }>();
  const roleChanges: AuditReview['roleChanges'] = [];
  const events: SecurityEvent[] = [];
  const pipeline = new Set(policy.pipeline_roles);
  const burst = policy.failed_login_burst;
  const window = parseDuration(burst.within) ?? 600_000;
  const failedAt = new Map<string, Array<{ at: number; sequence: number }>>();
  let lines = 0;
  let superuserSessions = 0;
  for (const b of segments) {
    const a = b.auditLog!;
    const s = a.summary;
    lines += s.lines;
    for (const d of s.ddl) add(ddl, d.user, d);
    for (const o of s.objectAccess) add(access, `${o.object}\0${o.command}`, o);
    for (const f of s.failedLogins) {
      const had = failed.get(f.user);
      if (had) ((had.count += f.count), (had.hosts = [...new Set([...had.hosts, ...f.hosts])].sort()));
      else failed.set(f.user, { ...f, hosts: [...f.hosts] });
    }
    for (const r of s.roleChanges) {
      roleChanges.push({ ...r, sequence: b.sequence });
      if (!pipeline.has(r.user))
        events.push({
          kind: 'role-change-outside-pipeline',
          at: r.at,
          user: r.user,
          sequence: b.sequence,
          message: `${r.user} ran ${r.command}${r.object ? ` on ${r.object}` : ''} outside the pipeline's roles (${[...pipeline].join(', ')})`,
        });
    }
    for (const x of s.superuserSessions) {
      superuserSessions++;
      events.push({
        kind: 'superuser-session',
        at: x.at,
        user: x.user,
        sequence: b.sequence,
        message: `superuser session of ${x.user}${x.database ? ` on ${x.database}` : ''}${x.host ? ` from ${x.host}` : ''}`,
      });
    }
    for (const l of a.lines.filter((l) => l.kind === 'failed-login')) {
      const user = l.user ?? /user "([^"]+)"/.exec(l.message ?? '')?.[1] ?? '(unknown)';
      failedAt.set(user, [...(failedAt.get(user) ?? []), { at: Date.parse(l.at), sequence: b.sequence }]);
    }
  }
  // A burst: `count` failed logins of one user within `within`, reported once from its first attempt.
  for (const [user, attempts] of failedAt) {
    attempts.sort((x, y) => x.at - y.at);
    for (let i = 0; i + burst.count - 1 < attempts.length;) {
      const last = attempts[i + burst.count - 1]!;
      if (last.at - attempts[i]!.at <= window) {
        let j = i + burst.count;
        while (j < attempts.length && attempts[j]!.at - attempts[i]!.at <= window) j++;
        events.push({
          kind: 'failed-login-burst',
          at: new Date(attempts[i]!.at).toISOString(),
          user,
          sequence: attempts[i]!.sequence,
          message: `${j - i} failed logins of ${user} within ${burst.within} (from ${new Date(attempts[i]!.at).toISOString()})`,
        });
        i = j;
      } else i++;
    }
  }
  // The daily drift checks: a failing one is a security event (the schema was changed outside the pipeline).
  const checks = bundles.filter((b) => b.kind === 'drift' && b.drift && b.createdAt.startsWith(`${month}-`)).sort((a, b) => a.sequence - b.sequence);
  for (const b of checks.filter((x) => x.drift!.verdict === 'fail')) {
    const d = b.drift!;
    const what = [
      ...d.objects.map((o) => `${o.key} ${o.change}`),
      ...d.outside.map((o) => `${o.migration} ${o.event} outside the pipeline`),
      ...(d.prismaSchema.agrees ? [] : [`schema.prisma differs from the migrations (${d.prismaSchema.models.join(', ')})`]),
      ...(d.unknown.length > 0 ? [`unknown migrations applied: ${d.unknown.join(', ')}`] : []),
    ];
    events.push({
      kind: 'schema-drift',
      at: b.createdAt,
      user: d.database,
      sequence: b.sequence,
      message: `drift check of ${d.database}: ${what.join('; ') || 'the evidence chain did not verify'}`,
    });
  }
  const checkedDays = new Set(checks.map((b) => b.createdAt.slice(0, 10)));
  const covered = new Set(segments.map((b) => b.auditLog!.day));
  return {
    month,
    environment,
    segments: segments.map((b) => ({
      day: b.auditLog!.day,
      sequence: b.sequence,
      sha256: b.sha256,
      database: b.auditLog!.database,
      lines: b.auditLog!.summary.lines,
    })),
    daysWithout: daysOf(month).filter((d) => !covered.has(d)),
    totals: {
      lines,
      ddl: [...ddl.values()].reduce((n, d) => n + d.count, 0),
      roleChanges: roleChanges.length,
      objectAccess: [...access.values()].reduce((n, o) => n + o.count, 0),
      failedLogins: [...failed.values()].reduce((n, f) => n + f.count, 0),
      superuserSessions,
    },
    ddlByUser: [...ddl.values()].sort((a, b) => b.count - a.count),
    roleChanges,
    objectAccess: [...access.values()].sort((a, b) => b.count - a.count),
    failedLogins: [...failed.values()].sort((a, b) => b.count - a.count),
    drift: {
      checks: checks.map((b) => ({
        day: b.createdAt.slice(0, 10),
        sequence: b.sequence,
        sha256: b.sha256,
        verdict: b.drift!.verdict,
        objects: b.drift!.objects.length,
        outside: b.drift!.outside.length,
      })),
      daysWithout: daysOf(month).filter((d) => !checkedDays.has(d)),
    },
    events: events.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0)),
  };
}
