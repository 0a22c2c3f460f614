import type { AuditReview } from '../operations/audit/index.ts';

/** The monthly audit review as a Markdown page: what an auditor reads first, then where each line is. */

const cell = (v: string | number | null) =>
  String(v ?? '—')
    .replaceAll('|', '\\|')
    .replace(/\s+/g, ' ');
const table = (head: string[], rows: Array<Array<string | number | null>>) => [
  `| ${head.join(' | ')} |`,
  `| ${head.map(() => '---').join(' | ')} |`,
  ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
];

export function auditReviewMarkdown(r: AuditReview): string {
  const t = r.totals;
  const out = [
    `# Audit review: ${r.environment}, ${r.month}`,
    '',
    `${r.segments.length} daily segments of the evidence chain, ${t.lines} audit lines: ${t.ddl} DDL statements, ${t.roleChanges} role and privilege changes, ${t.objectAccess} statements on audited tables, ${t.failedLogins} failed logins, ${t.superuserSessions} superuser sessions.`,
    '',
    `## Security events (${r.events.length})`,
    '',
    ...(r.events.length === 0
      ? ['None.']
      : table(
          ['When', 'Kind', 'User', 'What', 'Segment'],
          r.events.map((e) => [e.at, e.kind, e.user, e.message, `#${e.sequence}`]),
        )),
    '',
    '## Role and privilege changes',
    '',
    ...(r.roleChanges.length === 0
      ? ['None.']
      : table(
          ['When', 'By', 'Command', 'Object', 'Segment'],
          r.roleChanges.map((c) => [c.at, c.user, c.command, c.object, `#${c.sequence}`]),
        )),
    '',
    '## DDL by user',
    '',
    ...(r.ddlByUser.length === 0
      ? ['None.']
      : table(
          ['User', 'Statements'],
          r.ddlByUser.map((d) => [d.user, d.count]),
        )),
    '',
    '## Audited tables',
    '',
    ...(r.objectAccess.length === 0
      ? ['None.']
      : table(
          ['Object', 'Command', 'Statements'],
          r.objectAccess.map((o) => [o.object, o.command, o.count]),
        )),
    '',
    '## Failed logins',
    '',
    ...(r.failedLogins.length === 0
      ? ['None.']
      : table(
          ['User', 'Attempts', 'From'],
          r.failedLogins.map((f) => [f.user, f.count, f.hosts.join(', ') || null]),
        )),
    '',
    '## Drift checks',
    '',
    ...(r.drift.checks.length === 0
      ? ['None recorded (`dbops drift --environment <name> --record`, drift.yml).']
      : table(
          ['Day', 'Bundle', 'Verdict', 'Objects changed outside the pipeline', 'Migrations outside the pipeline', 'SHA-256'],
          r.drift.checks.map((c) => [c.day, `#${c.sequence}`, c.verdict, c.objects, c.outside, `\`${c.sha256}\``]),
        )),
    '',
    r.drift.daysWithout.length === 0 ? 'Every day of the month was checked for drift.' : `Days without a drift check: ${r.drift.daysWithout.join(', ')}.`,
    '',
    '## Segments (to sample)',
    '',
    ...table(
      ['Day', 'Bundle', 'Lines', 'SHA-256'],
      r.segments.map((s) => [s.day, `#${s.sequence}`, s.lines, `\`${s.sha256}\``]),
    ),
    '',
    r.daysWithout.length === 0
      ? 'Every day of the month has a segment.'
      : `Days without a segment (no audit line that day, or no collection): ${r.daysWithout.join(', ')}.`,
    '',
    'To check a sample: `dbops evidence verify --environment <name>` verifies every segment and the chain; the JSON bundle of a segment holds each line (time, user, database, session, class, command, object, statement with its literals masked).',
  ];
  return `${out.join('\n')}\n`;
}
