import type { EvidenceBundle } from './bundle.ts';
import { noun } from '../core/format.ts';

/**
 * The Markdown twin of a bundle: the page an auditor reads. A pure function of the bundle (no clock, no
 * locale), because `dbops evidence verify` re-renders it and compares bytes: the stored page can only say
 * what the hashed JSON says. Every value that came from outside (PR titles, comments, error messages) is
 * escaped, so a crafted title can neither break a table nor inject HTML.
 */

type Execution = NonNullable<EvidenceBundle['execution']>;
type Gate = NonNullable<Execution['gate']>;

/** Inline text: HTML-escaped, on one line. */
export function escapeText(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\r\n|\r|\n/g, ' ');
}

/** A table cell: inline text with pipes escaped and line breaks kept as <br>. */
export function escapeCell(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined || value === '') return '—';
  return String(value)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\|/g, '\\|')
    .replace(/\r\n|\r|\n/g, '<br>');
}

const table = (head: string[], rows: Array<Array<string | number | boolean | null | undefined>>): string[] => [
  `| ${head.join(' | ')} |`,
  `| ${head.map(() => '---').join(' | ')} |`,
  ...rows.map((r) => `| ${r.map(escapeCell).join(' | ')} |`),
];

/** A fenced block whose fence is longer than any backtick run inside, so the content cannot close it. */
function codeBlock(text: string, lang = ''): string[] {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  return [`${fence}${lang}`, ...text.replace(/\r\n?/g, '\n').replace(/\n$/, '').split('\n'), fence];
}

/** A link only for a plain http(s) URL; anything else is shown as escaped text. */
const link = (label: string, url: string | null | undefined): string =>
  url && /^https?:\/\/[^\s<>()[\]]+$/.test(url) ? `[${escapeText(label).replace(/[[\]]/g, '\\$&')}](${url})` : escapeText(label);

const ms = (n: number): string => (n < 1000 ? `${Math.round(n)} ms` : n < 120_000 ? `${(n / 1000).toFixed(1)} s` : `${(n / 60_000).toFixed(1)} min`);
const yesNo = (b: boolean | null | undefined): string => (b === null || b === undefined ? '—' : b ? 'yes' : 'no');
const list = (items: readonly string[]): string => (items.length === 0 ? '—' : items.join(', '));

const OUTCOME: Record<Execution['outcome'], string> = {
  succeeded: '✅ succeeded',
  refused: '⛔ refused by the gate',
  'failed-rolled-back': '⚠️ failed, rolled back',
  failed: '❌ failed',
  interrupted: '❌ interrupted',
};

function header(b: PageSource): string[] {
  const e = b.execution;
  const outcome = e ? OUTCOME[e.outcome] : b.kind === 'interrupted' ? '❌ interrupted (reconstructed)' : '—';
  const run = b.run ?? e?.gate?.run ?? null;
  const rows: Array<[string, string]> = [
    ['Environment', escapeText(b.environment)],
    ['Sequence', String(b.sequence)],
    ['Kind', b.kind],
    ['Outcome', outcome],
    ['Recorded (UTC)', escapeText(b.createdAt)],
  ];
  if (e) rows.push(['Started – finished', `${escapeText(e.startedAt)} – ${escapeText(e.finishedAt)}`]);
  if (run) {
    rows.push(['Commit deployed', `\`${escapeText(run.sha)}\``]);
    rows.push(['Run', `${link(`${run.repository} run ${run.runId} attempt ${run.runAttempt}`, run.runUrl)} (${escapeText(run.event)})`]);
    rows.push(['Workflow', run.workflowRef ? `\`${escapeText(run.workflowRef)}\`${run.workflowSha ? ` @ \`${escapeText(run.workflowSha)}\`` : ''}` : '—']);
    rows.push(['Started by', `${escapeText(run.actor)}${run.triggeringActor !== run.actor ? ` (this attempt: ${escapeText(run.triggeringActor)})` : ''}`]);
  } else {
    rows.push(['Run', 'outside GitHub Actions']);
  }
  if (e?.gate?.database) rows.push(['Database', `${escapeText(e.gate.database.display)} (${escapeText(e.gate.database.name)}, system identifier ${escapeText(e.gate.database.systemIdentifier)}, PostgreSQL ${escapeText(e.gate.database.serverVersion)})`]);
  rows.push(['dbops', `${escapeText(b.dbops.version)}${b.dbops.commit ? ` (\`${escapeText(b.dbops.commit.slice(0, 12))}\`)` : ''}`]);
  return ['| | |', '| --- | --- |', ...rows.map(([k, v]) => `| ${k} | ${v.replace(/\|/g, '\\|')} |`)];
}

function breakGlassBanner(b: PageSource): string[] {
  const bg = b.breakGlass ?? b.execution?.gate?.breakGlass ?? null;
  if (!bg) return [];
  return [
    `> 🚨 **BREAK-GLASS CHANGE** — review controls (environment approvals, destructive-statement labels) were replaced by an emergency reason. This change **requires after-the-fact review**.`,
    `>`,
    `> - Reason: ${escapeText(bg.reason)}`,
    `> - By: ${escapeText(bg.by)} on host ${escapeText(bg.host)}`,
    `> - At: ${escapeText(bg.at)}`,
    '',
  ];
}

function change(g: Gate): string[] {
  const out = ['## Change', ''];
  out.push(g.action === 'rollback' ? `Rollback${g.rollbackTo ? ` down to \`${escapeText(g.rollbackTo)}\` (it stays applied)` : ''}, newest first:` : 'Migrations, oldest first:', '');
  if (g.migrations.length === 0) out.push('No migration was pending.');
  else {
    out.push(
      ...table(
        ['Migration', 'SHA-256 of migration.sql', 'Rollback', 'SHA-256 of rollback', 'Rollback status'],
        g.migrations.map((m) => [m.name, m.sha256, m.rollback.path, m.rollback.sha256, m.rollback.reason ? `${m.rollback.status}: ${m.rollback.reason}` : m.rollback.status]),
      ),
    );
  }
  if (g.outsideWindow) out.push('', `**Outside the change window** (${escapeText(g.outsideWindow.window)}): ${escapeText(g.outsideWindow.reason)}`);
  return [...out, ''];
}

function pulls(g: Gate): string[] {
  const out = ['## Pull requests and reviews', ''];
  if (g.pulls.length === 0) out.push('No pull request is recorded for these migrations.', '');
  for (const p of g.pulls) {
    out.push(
      `### ${link(`#${p.number} ${p.title}`, p.url)}`,
      '',
      `Author ${escapeText(p.author)}; merged by ${escapeText(p.mergedBy ?? '—')} at ${escapeText(p.mergedAt ?? '—')}${p.mergeCommit ? ` as \`${escapeText(p.mergeCommit)}\`` : ''}.${p.labels.length ? ` Labels: ${p.labels.map((l) => escapeText(l)).join(', ')}.` : ''}`,
      '',
    );
    if (p.reviews.length === 0) out.push('No reviews.', '');
    else out.push(...table(['Reviewer', 'State', 'Submitted', 'On commit'], p.reviews.map((r) => [r.user, r.state, r.submittedAt, r.commitId])), '');
  }
  if (g.provenance.length > 0) {
    out.push(
      'Who wrote and committed each file:',
      '',
      ...table(
        ['Migration', 'File', 'Authors', 'Committers', 'Pull requests'],
        g.provenance.map((f) => [
          f.migration,
          f.path,
          list([...new Set(f.commits.map((c) => c.author ?? '?'))]),
          list([...new Set(f.commits.map((c) => c.committer ?? '?'))]),
          list(f.pulls.map((n) => `#${n}`)),
        ]),
      ),
      '',
    );
  }
  return out;
}

function approvals(g: Gate): string[] {
  const out = ['## Environment approvals and four-eyes', ''];
  if (g.approvals.length === 0) out.push('No environment approval was given for this run.', '');
  else out.push(...table(['Approver', 'State', 'Comment', 'Environments'], g.approvals.map((a) => [a.user, a.state, a.comment, list(a.environments)])), '');
  const e = g.environmentSettings;
  if (e) {
    const yes = (v: boolean | null, on: string, off: string) => (v === null ? 'not set' : v ? on : off);
    const branches = e.deploymentBranchPolicy ? (e.deploymentBranchPolicy.protectedBranches ? 'protected branches only' : 'selected branches only') : 'any branch';
    out.push(
      `GitHub environment \`${escapeText(e.name)}\` when the gate ran: required reviewers ${escapeText(list(e.reviewers))}; prevent self-review ${yes(e.preventSelfReview, 'on', 'OFF')}; administrators ${yes(e.canAdminsBypass, 'MAY bypass', 'may not bypass')}; wait timer ${e.waitTimerMinutes === null ? 'none' : `${e.waitTimerMinutes} min`}; deployments from ${branches}.`,
      '',
    );
  }
  const f = g.fourEyes;
  if (!f) {
    out.push('Four-eyes was not evaluated (no approvals required, or outside GitHub Actions).', '');
    return out;
  }
  out.push(
    `**Four-eyes: ${f.ok ? 'passed' : 'FAILED'}** — GitHub environment \`${escapeText(f.environment)}\`, ${f.required} ${noun(f.required, 'approval')} required, counted: ${escapeText(list(f.counted))}.`,
    '',
    `Excluded as approvers: PR authors ${escapeText(list(f.excluded.prAuthors))}; committers ${escapeText(list(f.excluded.committers))}; triggering actor ${escapeText(f.excluded.triggeringActor ?? '—')}.`,
    '',
  );
  if (f.refused.length > 0) out.push('Approvals that do not count:', '', ...table(['User', 'Rule', 'Why'], f.refused.map((r) => [r.user || '(none)', r.rule, r.message])), '');
  return out;
}

function testing(g: Gate): string[] {
  const t = g.testing;
  const out = ['## Testing', ''];
  if (t.lint) {
    out.push(`**Lint:** ${escapeText(t.lint.verdict)} — ${t.lint.errors} errors, ${t.lint.warnings} warnings, ${t.lint.notices} notices.`, '');
    if (t.lint.findings.length > 0) out.push(...table(['Rule', 'Severity', 'Migration', 'Message'], t.lint.findings.map((x) => [x.rule, x.severity, x.migration, x.message])), '');
  } else out.push('**Lint:** not recorded.', '');
  if (t.rehearsal) {
    out.push(`**Rehearsal:** ${escapeText(t.rehearsal.verdict)}, finished ${escapeText(t.rehearsal.finishedAt)}${t.rehearsal.commit ? ` on \`${escapeText(t.rehearsal.commit)}\`` : ''}.`, '');
    if (t.rehearsal.migrations.length > 0) out.push(...table(['Migration', 'Status', 'Duration', 'Rollback proof'], t.rehearsal.migrations.map((m) => [m.name, m.status, ms(m.durationMs), m.rollback])), '');
  } else out.push('**Rehearsal:** not recorded.', '');
  if (t.staging) {
    out.push(`**Staging first** (\`${escapeText(t.staging.environment)}\`):`, '', ...table(['Migration', 'Checksum on staging', 'Applied on staging'], t.staging.migrations.map((m) => [m.name, m.checksum, m.finishedAt])), '');
  } else out.push('**Staging first:** not required for this environment.', '');
  return out;
}

function backup(g: Gate): string[] {
  const b = g.backup;
  if (!b) return ['## Backup', '', 'No backup is recorded for this change.', ''];
  return [
    '## Backup',
    '',
    ...table(
      ['Backup', 'Taken by this gate', 'Database', 'Finished', 'Age at the gate', 'SHA-256', 'Status', 'Verification'],
      [
        [
          `${b.id} (${b.tier}) on ${b.target}`,
          yesNo(b.taken),
          `${b.database} (system identifier ${b.systemIdentifier})`,
          b.finishedAt,
          ms(b.ageMs),
          b.sha256,
          b.status,
          b.verification ? `${b.verification.level} at ${b.verification.at}: ${b.verification.ok ? 'ok' : 'FAILED'}` : null,
        ],
      ],
    ),
    '',
    `Location: \`${escapeText(b.location)}\``,
    '',
    b.lastRestoreTest
      ? `Last restore test of this database: ${escapeText(b.lastRestoreTest.backupId)} at ${escapeText(b.lastRestoreTest.at)}, ${b.lastRestoreTest.ok ? 'passed' : 'FAILED'}${b.lastRestoreTest.restoreMs !== null ? ` (restore took ${ms(b.lastRestoreTest.restoreMs)})` : ''}.`
      : 'Last restore test of this database: none recorded on this target.',
    '',
  ];
}

function gate(g: Gate): string[] {
  const out = [
    '## Gate',
    '',
    `**Decision: ${g.decision === 'allowed' ? 'allowed' : 'REFUSED'}** at ${escapeText(g.at)} (${g.action}).`,
    '',
    ...table(['Check', 'Status', 'Summary'], g.checks.map((c) => [c.name, c.status, c.summary])),
    '',
  ];
  const reasons = g.checks.flatMap((c) => c.reasons.map((r) => [c.name, r.rule, r.message, r.hint] as const));
  if (reasons.length > 0) out.push('Reasons:', '', ...table(['Check', 'Rule', 'Reason', 'Fix'], reasons.map((r) => [...r])), '');
  return out;
}

function execution(e: Execution): string[] {
  const out = ['## Execution', ''];
  if (e.steps.length === 0) out.push('No migration ran.', '');
  else {
    out.push(
      ...table(
        ['Migration', 'Action', 'Outcome', 'Mode', 'Started', 'Duration', 'Lock retries', 'Error'],
        e.steps.map((s) => [s.name, s.action, s.outcome, s.mode, s.startedAt, ms(s.durationMs), s.lockRetries, s.error]),
      ),
      '',
    );
  }
  if (e.smoke.length > 0) out.push('### Smoke queries', '', ...table(['Query', 'Result', 'Rows', 'Duration', 'Error'], e.smoke.map((s) => [s.name, s.ok ? 'ok' : 'FAILED', s.rows, ms(s.durationMs), s.error])), '');
  const f = e.finalState;
  out.push(
    '## Final state',
    '',
    ...table(
      ['Applied', 'Pending', 'Failed', 'Schema fingerprint before', 'after', 'Equals before'],
      [[list(f.applied), list(f.pending), list(f.failed), f.fingerprintBefore, f.fingerprintAfter, yesNo(f.equalsBefore)]],
    ),
    '',
  );
  if (f.diff) out.push('Schema difference to the pre-deploy state:', '', ...codeBlock(f.diff, 'diff'), '');
  if (e.restoreCommand) out.push('## Restore command', '', 'The database is not back to a known state. Restore the pre-deploy backup with:', '', ...codeBlock(e.restoreCommand, 'sh'), '');
  return out;
}

function interrupted(b: PageSource): string[] {
  const i = b.interrupted;
  if (!i) return [];
  return [
    '## Interrupted deploy',
    '',
    `A ${i.action} started at ${escapeText(i.startedAt)} by ${escapeText(i.by)} never finished (killed, or its runner was lost). Reconstructed from its in-flight marker and the database:`,
    '',
    ...table(['Migration', 'State now', 'Detail'], i.state.map((s) => [s.migration, s.state, s.detail])),
    '',
    `Planned: ${escapeText(list(i.planned))}.`,
    '',
  ];
}

const CONTROLS = [
  '## Controls',
  '',
  '| Control | Where in this bundle |',
  '| --- | --- |',
  '| SOC 2 CC8.1 (authorized, tested, approved, documented changes) | Change, Pull requests and reviews, Environment approvals, Testing, Gate, Execution |',
  '| PCI DSS 6.5.1 (approval, testing, back-out) | Environment approvals, Testing, Backup, Change (rollback scripts), Restore command |',
  '| PCI DSS 6.5.4 (separation of roles) | Four-eyes result |',
  '| PCI DSS 10.5.1 (retention, integrity) | Chain (hash-linked, kept per evidence.retention) |',
  '| SOX program change | Change, Pull requests and reviews, Gate, Execution, Final state |',
  '| SOX segregation of duties | Four-eyes result; break-glass banner for emergency changes |',
  '',
];

/** A bundle as the page body sees it: everything but the two hashes sealing computes. */
export type PageSource = Omit<EvidenceBundle, 'sha256' | 'markdownSha256'>;

/** The body of a bundle's page (hashed into `markdownSha256` when the bundle is sealed); ends with one newline. */
export function renderBundleBody(b: PageSource): string {
  const out: string[] = [`# Evidence: ${escapeText(b.environment)} #${b.sequence} — ${b.kind}`, ''];
  out.push(...breakGlassBanner(b), ...header(b), '');
  const e = b.execution;
  const g = e?.gate ?? null;
  if (g) out.push(...change(g), ...pulls(g), ...approvals(g), ...testing(g), ...backup(g), ...gate(g));
  else if (e) out.push('The gate could not run (the database was unreachable); nothing was changed by this action.', '');
  if (e) out.push(...execution(e));
  out.push(...interrupted(b));
  out.push(
    '## Chain',
    '',
    `- Previous bundle: ${b.previous ? `#${b.previous.sequence}, SHA-256 \`${b.previous.sha256}\`` : 'none (first bundle of this environment)'}`,
    '',
    'This page is rendered from the JSON bundle beside it, which records the SHA-256 of everything above the line at the end; `dbops evidence verify` checks the JSON, this page and the chain.',
    '',
    ...CONTROLS,
  );
  return `${out.join('\n').replace(/\n+$/, '')}\n`;
}

/** The page's last lines: the bundle's own hash, which the body cannot contain (it covers the body's hash). Frozen format. */
export const markdownTrailer = (sha256: string): string => `\n---\n\nSHA-256 of this bundle (the canonical JSON beside this page, without its sha256 field): \`${sha256}\`\n`;

/** The Markdown page of a sealed bundle: body, then the trailer naming its hash. */
export const renderBundleMarkdown = (b: EvidenceBundle): string => `${renderBundleBody(b)}${markdownTrailer(b.sha256)}`;
