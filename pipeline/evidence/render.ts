import type { EvidenceBundle } from './bundle.ts';
import { formatBytes, formatMs as ms, noun, oneLine } from '../core/format.ts';
import { code, fence, table as mdTable, text } from '../core/markdown.ts';

/**
 * The Markdown twin of a bundle: the page an auditor reads. Sealing hashes the page body into the bundle
 * (`markdownSha256`), so `dbops evidence verify` checks the stored page against that hash, never against
 * today's renderer. It stays a pure function of the bundle (no clock, no locale) because two things still
 * re-render: restoring a page lost before it was stored (accepted only when it hashes as sealed) and the
 * hint that names the first edited byte. Every value that came from outside (PR titles, comments, error
 * messages) goes through core/markdown's `text`/`code`, like the PR comment: a crafted title can neither
 * break a table, inject HTML, nor @-mention anyone.
 */

type Execution = NonNullable<EvidenceBundle['execution']>;
type Gate = NonNullable<Execution['gate']>;

/** A table cell: escaped like every other value from outside; a dash when there is nothing. */
const cell = (value: string | number | boolean | null | undefined): string =>
  value === null || value === undefined || value === '' ? '—' : text(String(value));

const table = (head: string[], rows: Array<Array<string | number | boolean | null | undefined>>): string[] =>
  mdTable(
    head,
    rows.map((r) => r.map(cell)),
  ).split('\n');

/** A link only for a plain http(s) URL; anything else is shown as escaped text. */
const link = (label: string, url: string | null | undefined): string =>
  url && /^https?:\/\/[^\s<>()[\]]+$/.test(url) ? `[${text(label)}](${url})` : text(label);

const yesNo = (b: boolean | null | undefined): string => (b === null || b === undefined ? '—' : b ? 'yes' : 'no');
const list = (items: readonly string[]): string => (items.length === 0 ? '—' : items.join(', '));

const OUTCOME: Record<Execution['outcome'], string> = {
  succeeded: '✅ succeeded',
  refused: '⛔ refused by the gate',
  'failed-rolled-back': '⚠️ failed, rolled back',
  failed: '❌ failed',
  interrupted: '❌ interrupted',
};

const POLICY_OUTCOME = { applied: '✅ applied', refused: '⛔ refused by the gate', failed: '❌ failed' } as const;

/** The header's one-line outcome, by what the bundle records. */
function outcomeOf(b: PageSource): string {
  if (b.execution) return OUTCOME[b.execution.outcome];
  if (b.kind === 'interrupted') return '❌ interrupted (reconstructed)';
  if (b.drill) return b.drill.passed ? '✅ drill passed: both objectives met' : '❌ drill failed: an objective was missed';
  if (b.settings) return POLICY_OUTCOME[b.settings.outcome];
  if (b.access) return POLICY_OUTCOME[b.access.outcome];
  if (b.queryReview)
    return b.queryReview.verdict === 'pass'
      ? `✅ no regression after deploy #${b.queryReview.deploy.sequence}`
      : `⚠️ findings after deploy #${b.queryReview.deploy.sequence}`;
  if (b.auditLog) return `📜 audit trail of ${b.auditLog.day}: ${b.auditLog.summary.lines} lines`;
  if (b.drift) return b.drift.verdict === 'pass' ? '✅ no drift' : '❌ drift: changes outside the pipeline';
  return '—';
}

function header(b: PageSource): string[] {
  const e = b.execution;
  const outcome = outcomeOf(b);
  const run = b.run ?? e?.gate?.run ?? null;
  const rows: Array<[string, string]> = [
    ['Environment', text(b.environment)],
    ['Sequence', String(b.sequence)],
    ['Kind', b.kind],
    ['Outcome', outcome],
    ['Recorded (UTC)', text(b.createdAt)],
  ];
  if (e) rows.push(['Started – finished', `${text(e.startedAt)} – ${text(e.finishedAt)}`]);
  if (run) {
    rows.push(['Commit deployed', `${code(run.sha)}`]);
    rows.push(['Run', `${link(`${run.repository} run ${run.runId} attempt ${run.runAttempt}`, run.runUrl)} (${text(run.event)})`]);
    rows.push(['Workflow', run.workflowRef ? `${code(run.workflowRef)}${run.workflowSha ? ` @ ${code(run.workflowSha)}` : ''}` : '—']);
    rows.push(['Started by', `${text(run.actor)}${run.triggeringActor !== run.actor ? ` (this attempt: ${text(run.triggeringActor)})` : ''}`]);
  } else {
    rows.push(['Run', 'outside GitHub Actions']);
  }
  if (e?.gate?.database)
    rows.push([
      'Database',
      `${text(e.gate.database.display)} (${text(e.gate.database.name)}, system identifier ${text(e.gate.database.systemIdentifier)}, PostgreSQL ${text(e.gate.database.serverVersion)})`,
    ]);
  rows.push(['dbops', `${text(b.dbops.version)}${b.dbops.commit ? ` (${code(b.dbops.commit.slice(0, 12))})` : ''}`]);
  return ['| | |', '| --- | --- |', ...rows.map(([k, v]) => `| ${k} | ${v} |`)];
}

function breakGlassBanner(b: PageSource): string[] {
  const bg = b.breakGlass ?? b.execution?.gate?.breakGlass ?? null;
  if (!bg) return [];
  return [
    `> 🚨 **BREAK-GLASS CHANGE** — review controls (environment approvals, destructive-statement labels) were replaced by an emergency reason. This change **requires after-the-fact review**.`,
    `>`,
    `> - Reason: ${text(bg.reason)}`,
    `> - By: ${text(bg.by)} on host ${text(bg.host)}`,
    `> - At: ${text(bg.at)}`,
    '',
  ];
}

function change(g: Gate): string[] {
  const out = ['## Change', ''];
  out.push(
    g.action === 'rollback' ? `Rollback${g.rollbackTo ? ` down to ${code(g.rollbackTo)} (it stays applied)` : ''}, newest first:` : 'Migrations, oldest first:',
    '',
  );
  if (g.migrations.length === 0) out.push('No migration was pending.');
  else {
    out.push(
      ...table(
        ['Migration', 'SHA-256 of migration.sql', 'Rollback', 'SHA-256 of rollback', 'Rollback status'],
        g.migrations.map((m) => [
          m.name,
          m.sha256,
          m.rollback.path,
          m.rollback.sha256,
          m.rollback.reason ? `${m.rollback.status}: ${m.rollback.reason}` : m.rollback.status,
        ]),
      ),
    );
  }
  if (g.outsideWindow) out.push('', `**Outside the change window** (${text(g.outsideWindow.window)}): ${text(g.outsideWindow.reason)}`);
  return [...out, ''];
}

function pulls(g: Pick<Gate, 'pulls' | 'provenance'>): string[] {
  const out = ['## Pull requests and reviews', ''];
  if (g.pulls.length === 0) out.push('No pull request is recorded for these migrations.', '');
  for (const p of g.pulls) {
    out.push(
      `### ${link(`#${p.number} ${p.title}`, p.url)}`,
      '',
      `Author ${text(p.author)}; merged by ${text(p.mergedBy ?? '—')} at ${text(p.mergedAt ?? '—')}${p.mergeCommit ? ` as ${code(p.mergeCommit)}` : ''}.${p.labels.length ? ` Labels: ${p.labels.map((l) => text(l)).join(', ')}.` : ''}`,
      '',
    );
    if (p.reviews.length === 0) out.push('No reviews.', '');
    else
      out.push(
        ...table(
          ['Reviewer', 'State', 'Submitted', 'On commit'],
          p.reviews.map((r) => [r.user, r.state, r.submittedAt, r.commitId]),
        ),
        '',
      );
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

function approvals(g: Pick<Gate, 'approvals' | 'environmentSettings' | 'fourEyes'>): string[] {
  const out = ['## Environment approvals and four-eyes', ''];
  if (g.approvals.length === 0) out.push('No environment approval was given for this run.', '');
  else
    out.push(
      ...table(
        ['Approver', 'State', 'Comment', 'Environments'],
        g.approvals.map((a) => [a.user, a.state, a.comment, list(a.environments)]),
      ),
      '',
    );
  const e = g.environmentSettings;
  if (e) {
    const yes = (v: boolean | null, on: string, off: string) => (v === null ? 'not set' : v ? on : off);
    const branches = e.deploymentBranchPolicy
      ? e.deploymentBranchPolicy.protectedBranches
        ? 'protected branches only'
        : 'selected branches only'
      : 'any branch';
    out.push(
      `GitHub environment ${code(e.name)} when the gate ran: required reviewers ${text(list(e.reviewers))}; prevent self-review ${yes(e.preventSelfReview, 'on', 'OFF')}; administrators ${yes(e.canAdminsBypass, 'MAY bypass', 'may not bypass')}; wait timer ${e.waitTimerMinutes === null ? 'none' : `${e.waitTimerMinutes} min`}; deployments from ${branches}.`,
      '',
    );
  }
  const f = g.fourEyes;
  if (!f) {
    out.push('Four-eyes was not evaluated (no approvals required, or outside GitHub Actions).', '');
    return out;
  }
  out.push(
    `**Four-eyes: ${f.ok ? 'passed' : 'FAILED'}** — GitHub environment ${code(f.environment)}, ${f.required} ${noun(f.required, 'approval')} required, counted: ${text(list(f.counted))}.`,
    '',
    `Excluded as approvers: PR authors ${text(list(f.excluded.prAuthors))}; committers ${text(list(f.excluded.committers))}; triggering actor ${text(f.excluded.triggeringActor ?? '—')}.`,
    '',
  );
  if (f.refused.length > 0)
    out.push(
      'Approvals that do not count:',
      '',
      ...table(
        ['User', 'Rule', 'Why'],
        f.refused.map((r) => [r.user || '(none)', r.rule, r.message]),
      ),
      '',
    );
  return out;
}

function testing(g: Gate): string[] {
  const t = g.testing;
  const out = ['## Testing', ''];
  if (t.lint) {
    out.push(`**Lint:** ${text(t.lint.verdict)} — ${t.lint.errors} errors, ${t.lint.warnings} warnings, ${t.lint.notices} notices.`, '');
    if (t.lint.findings.length > 0)
      out.push(
        ...table(
          ['Rule', 'Severity', 'Migration', 'Message'],
          t.lint.findings.map((x) => [x.rule, x.severity, x.migration, x.message]),
        ),
        '',
      );
  } else out.push('**Lint:** not recorded.', '');
  if (t.rehearsal) {
    out.push(
      `**Rehearsal:** ${text(t.rehearsal.verdict)}, finished ${text(t.rehearsal.finishedAt)}${t.rehearsal.commit ? ` on ${code(t.rehearsal.commit)}` : ''}.`,
      '',
    );
    const snap = t.rehearsal.snapshot;
    if (snap) {
      const m = snap.masked;
      out.push(
        m
          ? `Rehearsed on: the masked snapshot ${code(m.database)} (backup ${code(m.backupId)}, masked at ${text(m.maskedAt)}, masking policy sha256 ${code(m.policySha256)}).`
          : `Rehearsed on: ${text(snap.label)} (${text(snap.source)}; not a masked snapshot).`,
        '',
      );
    }
    if (t.rehearsal.migrations.length > 0)
      out.push(
        ...table(
          ['Migration', 'Status', 'Duration', 'Rollback proof'],
          t.rehearsal.migrations.map((m) => [m.name, m.status, ms(m.durationMs), m.rollback]),
        ),
        '',
      );
  } else out.push('**Rehearsal:** not recorded.', '');
  if (t.staging) {
    out.push(
      `**Staging first** (${code(t.staging.environment)}):`,
      '',
      ...table(
        ['Migration', 'Checksum on staging', 'Applied on staging'],
        t.staging.migrations.map((m) => [m.name, m.checksum, m.finishedAt]),
      ),
      '',
    );
  } else out.push('**Staging first:** not required for this environment.', '');
  return out;
}

function backup(g: Gate): string[] {
  const b = g.backup;
  const p = g.pitr;
  if (p)
    return [
      '## Backup',
      '',
      'Point-in-time recovery (backup.mode pitr): a healthy WAL archive and a verified full physical backup instead of a fresh logical dump.',
      '',
      ...table(
        ['Stanza', 'Full backup', 'Finished', 'Age at the gate', 'Verified', 'Last archived WAL', 'RPO exposure', 'RPO objective'],
        [
          [
            p.stanza,
            p.fullBackup?.label,
            p.fullBackup?.stoppedAt,
            p.fullBackup ? ms(p.fullBackup.ageMs) : null,
            p.fullBackup?.verifiedAt ?? 'no',
            p.lastArchivedWal,
            ms(p.exposureMs),
            ms(p.rpoMs),
          ],
        ],
      ),
      '',
    ];
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
    `Location: ${code(b.location)}`,
    '',
    b.lastRestoreTest
      ? `Last restore test of this database: ${text(b.lastRestoreTest.backupId)} at ${text(b.lastRestoreTest.at)}, ${b.lastRestoreTest.ok ? 'passed' : 'FAILED'}${b.lastRestoreTest.restoreMs !== null ? ` (restore took ${ms(b.lastRestoreTest.restoreMs)})` : ''}.`
      : 'Last restore test of this database: none recorded on this target.',
    '',
  ];
}

function gate(g: Pick<Gate, 'decision' | 'at' | 'checks'> & { action: string }): string[] {
  const out = [
    '## Gate',
    '',
    `**Decision: ${g.decision === 'allowed' ? 'allowed' : 'REFUSED'}** at ${text(g.at)} (${g.action}).`,
    '',
    ...table(
      ['Check', 'Status', 'Summary'],
      g.checks.map((c) => [c.name, c.status, c.summary]),
    ),
    '',
  ];
  const reasons = g.checks.flatMap((c) => c.reasons.map((r) => [c.name, r.rule, r.message, r.hint] as const));
  if (reasons.length > 0)
    out.push(
      'Reasons:',
      '',
      ...table(
        ['Check', 'Rule', 'Reason', 'Fix'],
        reasons.map((r) => [...r]),
      ),
      '',
    );
  return out;
}

function execution(e: Execution): string[] {
  const out = ['## Execution', ''];
  if (e.restorePoint)
    out.push(`Restore point before the first migration: ${code(e.restorePoint.name)} at LSN ${code(e.restorePoint.lsn)} (${text(e.restorePoint.at)}).`, '');
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
  if (e.smoke.length > 0)
    out.push(
      '### Smoke queries',
      '',
      ...table(
        ['Query', 'Result', 'Rows', 'Duration', 'Error'],
        e.smoke.map((s) => [s.name, s.ok ? 'ok' : 'FAILED', s.rows, ms(s.durationMs), s.error]),
      ),
      '',
    );
  if (e.replicas && e.replicas.length > 0)
    out.push(
      '### Replicas',
      '',
      `Each replica's replay of the deploy: pg_last_wal_replay_lsn() reaching the primary's LSN after the last migration.`,
      '',
      ...table(
        ['Replica', 'Role', 'Deploy LSN', 'Replayed LSN', 'Caught up in', 'Lag at timeout', 'Problem'],
        e.replicas.map((r) => [
          r.name,
          r.role,
          r.lsn,
          r.replayLsn,
          r.caughtUpMs === null ? 'NOT caught up' : ms(r.caughtUpMs),
          r.caughtUpMs === null ? formatBytes(r.lagBytes) : null,
          r.problem,
        ]),
      ),
      '',
    );
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
  if (f.diff) out.push('Schema difference to the pre-deploy state:', '', fence(f.diff, 'diff'), '');
  if (e.restoreCommand)
    out.push('## Restore command', '', 'The database is not back to a known state. Restore the pre-deploy backup with:', '', fence(e.restoreCommand, 'sh'), '');
  return out;
}

function interrupted(b: PageSource): string[] {
  const i = b.interrupted;
  if (!i) return [];
  return [
    '## Interrupted deploy',
    '',
    `A ${i.action} started at ${text(i.startedAt)} by ${text(i.by)} never finished (killed, or its runner was lost). Reconstructed from its in-flight marker and the database:`,
    '',
    ...table(
      ['Migration', 'State now', 'Detail'],
      i.state.map((s) => [s.migration, s.state, s.detail]),
    ),
    '',
    `Planned: ${text(list(i.planned))}.`,
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

/** A DR drill: the disaster, the recovery's phases, and RPO and RTO against the objectives (auditors' "quarterly DR drills"). */
function drill(b: PageSource): string[] {
  const d = b.drill;
  if (!d) return [];
  const met = (ok: boolean) => (ok ? '✅ met' : '❌ missed');
  return [
    '## Disaster-recovery drill',
    '',
    ...table(
      ['', ''],
      [
        ['Scenario', d.scenario],
        ['Source', d.source],
        ['Disaster caused, UTC', d.disasterAt],
        ['Recovered and writable, UTC', d.readyAt ?? 'never'],
        [
          'Recovery',
          `${d.recovery.type}${d.recovery.target ? ` ${code(d.recovery.target)}` : ''}${d.recovery.backup ? ` from backup ${code(d.recovery.backup)}` : ''}`,
        ],
        [
          'Ledger rows',
          d.rows
            ? `${d.rows.restored ?? '—'} of ${d.rows.expected} expected ${d.rows.ok ? '✅' : '❌'}`
            : 'not counted: an environment is judged by its heartbeat',
        ],
      ],
    ),
    '',
    '### Phases',
    '',
    ...table(
      ['Phase', 'Duration', 'Result'],
      d.phases.map((p) => [p.name, ms(p.durationMs), `${p.ok ? '✅' : '❌'} ${p.message}`]),
    ),
    '',
    '### Objectives',
    '',
    ...table(
      ['Objective', 'Target', 'Achieved', 'Result'],
      [
        [
          'RPO: newest heartbeat on the source before the disaster − newest in the recovered cluster',
          ms(d.rpo.objectiveMs),
          d.rpo.achievedMs === null ? 'not measured (no heartbeat)' : ms(d.rpo.achievedMs),
          met(d.rpo.met),
        ],
        ['RTO: disaster caused → first write on the recovered cluster', ms(d.rto.objectiveMs), ms(d.rto.achievedMs), met(d.rto.met)],
      ],
    ),
    '',
  ];
}

/** A settings change: the policy file applied, each setting before and after, then its gate like a deploy's. */
function settingsChange(b: PageSource): string[] {
  const st = b.settings;
  if (!st) return [];
  const out = [
    '## Server settings change',
    '',
    `Database ${text(st.database)}; ${code(st.policy.path)} SHA-256 ${code(st.policy.sha256)}; the change is the commits to it ${st.since ? `after ${text(st.since)} (the previous applied settings change)` : 'in its whole history (no earlier applied settings change)'}.`,
    '',
  ];
  if (st.changes.length === 0) out.push('No setting differed from the policy.', '');
  else
    out.push(
      ...table(
        ['Setting', 'Wanted', 'Before', 'After', 'Status', 'Source'],
        st.changes.map((c) => [c.name, c.wanted, c.before, c.after, c.status, c.source]),
      ),
      '',
    );
  if (st.needsRestart.length > 0) out.push(`**Waiting for a restart** (dbops does not restart a server): ${text(list(st.needsRestart))}.`, '');
  if (st.actions.length > 0) out.push(`Actions: ${text(st.actions.join('; '))}.`, '');
  if (st.error) out.push(`Error: ${text(st.error)}`, '');
  if (st.outsideWindow) out.push(`**Outside the change window** (${text(st.outsideWindow.window)}): ${text(st.outsideWindow.reason)}`, '');
  out.push(...pulls(st), ...approvals({ ...st, environmentSettings: null }), ...gate({ ...st, at: b.createdAt, action: 'settings' }));
  return out;
}

/** An access change: the policy file applied, the audit's findings before, the statements run and what still differs, then its gate. */
function accessChange(b: PageSource): string[] {
  const ac = b.access;
  if (!ac) return [];
  const out = [
    '## Access change',
    '',
    `Database ${text(ac.database)}; ${code(ac.policy.path)} SHA-256 ${code(ac.policy.sha256)}; the change is the commits to it ${ac.since ? `after ${text(ac.since)} (the previous applied access change)` : 'in its whole history (no earlier applied access change)'}. Roles the policy does not name: ${ac.prune ? 'acted on (--prune)' : 'left alone'}.`,
    '',
    '### Before: what differed from the policy',
    '',
  ];
  if (ac.before.length === 0) out.push('Nothing differed from the policy.', '');
  else
    out.push(
      ...table(
        ['Kind', 'Subject', 'Finding'],
        ac.before.map((f) => [f.kind, f.subject, f.message]),
      ),
      '',
    );
  out.push('### Statements run (one transaction)', '');
  if (ac.statements.length === 0) out.push(ac.outcome === 'applied' ? 'None: nothing to change.' : 'None: nothing was changed.', '');
  else out.push(...fence(ac.statements.join('\n'), 'sql').split('\n'), '');
  out.push('### After: what still differs', '');
  if (ac.outcome !== 'applied' && ac.remaining.length === 0 && ac.statements.length === 0) out.push('Not audited again: nothing was changed.', '');
  else if (ac.remaining.length === 0) out.push('Nothing: the audit after the change finds no drift.', '');
  else
    out.push(
      ...table(
        ['Kind', 'Subject', 'Finding'],
        ac.remaining.map((f) => [f.kind, f.subject, f.message]),
      ),
      '',
    );
  if (ac.error) out.push(`Error: ${text(ac.error)}`, '');
  if (ac.outsideWindow) out.push(`**Outside the change window** (${text(ac.outsideWindow.window)}): ${text(ac.outsideWindow.reason)}`, '');
  out.push(...pulls(ac), ...approvals({ ...ac, environmentSettings: null }), ...gate({ ...ac, at: b.createdAt, action: 'access' }));
  return out;
}

const clipQuery = (q: string): string => oneLine(q, 200);

/** A query review: the deploy it judges (sequence and hash), the two snapshots by hash, regressions and slow statements. */
function queryReview(b: PageSource): string[] {
  const q = b.queryReview;
  if (!q) return [];
  const out = [
    '## Query review after a deploy',
    '',
    `Database ${text(q.database)}; deploy bundle #${q.deploy.sequence} (SHA-256 ${code(q.deploy.sha256)}, outcome ${text(q.deploy.outcome ?? '—')}, migrations ${text(list(q.deploy.migrations))}).`,
    '',
    ...table(
      ['Snapshot', 'Taken (server clock)', 'Key', 'SHA-256'],
      [
        ['before the deploy', q.before.at, q.before.key, q.before.sha256],
        ['after', q.after.at, q.after.key, q.after.sha256],
      ],
    ),
    '',
    `Between them: ${q.totals.statements} statements, ${q.totals.calls} calls, ${q.totals.totalMs} ms; ${q.newStatements} new statements.`,
    '',
  ];
  for (const k of q.breaks) out.push(`**Counter break** (${text(k.kind)}): ${text(k.message)}`, '');
  if (q.regressions.length === 0) out.push('No regression.', '');
  else
    out.push(
      '### Regressions',
      '',
      ...table(
        ['queryid', 'Statement (normalized)', 'Mean before (ms)', 'Calls before', 'Mean after (ms)', 'Calls after', 'Ratio', '+ms'],
        q.regressions.map((r) => [
          r.queryid,
          clipQuery(r.query),
          String(r.before.meanMs),
          String(r.before.calls),
          String(r.after.meanMs),
          String(r.after.calls),
          String(r.ratio ?? '—'),
          String(r.increaseMs),
        ]),
      ),
      '',
    );
  if (q.slow.length > 0)
    out.push(
      '### Slow statements',
      '',
      ...table(
        ['queryid', 'Statement (normalized)', 'Mean (ms)', 'Calls', 'Newly slow'],
        q.slow.map((r) => [r.queryid, clipQuery(r.query), String(r.meanMs), String(r.calls), yesNo(r.newlySlow)]),
      ),
      '',
    );
  if (q.indexFindings.length > 0) out.push('### Index usage', '', ...q.indexFindings.map((f) => `- ${text(f.kind)}: ${text(f.message)}`), '');
  return out;
}

/** An audit segment: where it was read, its summary, and as many of its lines as a page can show. */
function auditLog(b: PageSource): string[] {
  const a = b.auditLog;
  if (!a) return [];
  const s = a.summary;
  const out = [
    `## Audit trail of ${text(a.day)} (UTC)`,
    '',
    `Database ${text(a.database)}; ${s.lines} lines read from ${text(a.source.logDir)}: ${a.source.files.map((f) => `${code(f.file)} bytes ${f.from}–${f.to}`).join(', ')}. The next collection continues at ${code(a.position.file)} byte ${a.position.offset}.`,
    '',
  ];
  if (s.roleChanges.length > 0)
    out.push(
      '### Role and privilege changes',
      '',
      ...table(
        ['When', 'By', 'Command', 'Object'],
        s.roleChanges.map((r) => [r.at, r.user, r.command, r.object]),
      ),
      '',
    );
  if (s.ddl.length > 0)
    out.push(
      '### DDL by user',
      '',
      ...table(
        ['User', 'Statements'],
        s.ddl.map((d) => [d.user, d.count]),
      ),
      '',
    );
  if (s.objectAccess.length > 0)
    out.push(
      '### Audited objects',
      '',
      ...table(
        ['Object', 'Command', 'Statements'],
        s.objectAccess.map((o) => [o.object, o.command, o.count]),
      ),
      '',
    );
  out.push(
    '### Failed logins',
    '',
    ...(s.failedLogins.length === 0
      ? ['None.']
      : table(
          ['User', 'Attempts', 'From'],
          s.failedLogins.map((f) => [f.user, f.count, list(f.hosts)]),
        )),
    '',
    '### Superuser sessions',
    '',
    ...(s.superuserSessions.length === 0
      ? ['None.']
      : table(
          ['When', 'User', 'Database', 'From'],
          s.superuserSessions.map((x) => [x.at, x.user, x.database, x.host]),
        )),
    '',
    `Every line (time, user, database, session, class, command, object, statement with its literals masked) is in the JSON bundle beside this page.`,
    '',
  );
  return out;
}

const AUDIT_LOG_CONTROLS = [
  '## Controls',
  '',
  '| Control | Where in this bundle |',
  '| --- | --- |',
  '| PCI DSS 10.2 (audit logs of privileged actions, access to cardholder data, invalid access attempts) | Role and privilege changes, DDL, audited objects, failed logins, superuser sessions |',
  '| PCI DSS 10.5.1 (audit log retention, 12 months; integrity) | Chain (hash-linked, kept per evidence.retention) |',
  '| SOC 2 CC7.2 (monitoring of system components) | The summary tables |',
  '| SOX IT general controls (privileged access) | Superuser sessions, role changes |',
  '',
];

const QUERY_REVIEW_CONTROLS = [
  '## Controls',
  '',
  '| Control | Where in this bundle |',
  '| --- | --- |',
  '| SOC 2 CC8.1 (change management: the change works as intended) | Query review after a deploy: regressions and slow statements, the deploy by hash |',
  '| SOC 2 CC7.1 (monitoring of system components) | Slow statements, index usage |',
  '| PCI DSS 10.5.1 (retention, integrity) | Chain (hash-linked, kept per evidence.retention) |',
  '',
];

const SETTINGS_CONTROLS = [
  '## Controls',
  '',
  '| Control | Where in this bundle |',
  '| --- | --- |',
  '| SOC 2 CC8.1 (change management) | Server settings change, Gate |',
  '| PCI DSS 6.5 (change control procedures) | Server settings change: policy file, before and after; Environment approvals and four-eyes |',
  '| PCI DSS 10.5.1 (retention, integrity) | Chain (hash-linked, kept per evidence.retention) |',
  '| SOX segregation of duties | Four-eyes result; break-glass banner for emergency changes |',
  '',
];

const ACCESS_CONTROLS = [
  '## Controls',
  '',
  '| Control | Where in this bundle |',
  '| --- | --- |',
  '| SOC 2 CC6.1 (logical access: roles and privileges as declared) | Access change: policy file by hash, before, statements, after |',
  '| SOC 2 CC6.2 (access granted and removed through an approved request) | Access change: statements; Environment approvals and four-eyes |',
  '| SOC 2 CC6.3 (role-based access, least privilege) | Access change: before and after, against the declared roles |',
  '| SOC 2 CC8.1 (change management) | Access change, Gate |',
  '| PCI DSS 7.2 (least privilege, access by role) | Access change: privileges before and after |',
  '| PCI DSS 6.5 (change control procedures) | Access change: policy file, statements; Environment approvals and four-eyes |',
  '| PCI DSS 10.5.1 (retention, integrity) | Chain (hash-linked, kept per evidence.retention) |',
  '| SOX segregation of duties | Four-eyes result; break-glass banner for emergency changes |',
  '',
];

const DRILL_CONTROLS = [
  '## Controls',
  '',
  '| Control | Where in this bundle |',
  '| --- | --- |',
  '| Quarterly DR drill of the recovery strategy (RPO 15 min, RTO 4 h) | Disaster-recovery drill: scenario, phases, objectives |',
  '| SOC 2 A1.3 (recovery plan testing) | Phases and objectives, for the database tier |',
  '| PCI DSS 10.5.1 (retention, integrity) | Chain (hash-linked, kept per evidence.retention) |',
  '',
];

const DRIFT_CONTROLS = [
  '## Controls',
  '',
  '| Control | Where in this bundle |',
  '| --- | --- |',
  '| SOC 2 CC8.1 (change management: unauthorized changes are detected) | Drift check: objects changed outside the pipeline, migrations applied outside it |',
  '| PCI DSS 6.5 (change control procedures) | Drift check: schema.prisma, the migrations and the live schema agree |',
  '| PCI DSS 10.5.1 (retention, integrity) | Chain (hash-linked, kept per evidence.retention) |',
  '| SOX program change (changes only through the approved process) | Drift check: every day checked, each finding with the statements that restore it |',
  '',
];

/** A drift check: what was compared, and each object changed outside the pipeline with its restoring statements. */
function driftCheck(b: PageSource): string[] {
  const d = b.drift;
  if (!d) return [];
  const out = [
    '## Drift check',
    '',
    `Database ${text(d.database)} (schema ${text(d.schema)}): ${d.applied} applied migrations; schema.prisma ${d.prismaSchema.agrees ? 'agrees with the migrations' : `differs from the migrations (${text(list(d.prismaSchema.models))})`}; evidence chain ${d.chainOk ? 'verified' : 'BROKEN'}.`,
    '',
  ];
  if (d.unknown.length > 0) out.push(`Applied migrations the repository does not have: ${text(list(d.unknown))}.`, '');
  if (d.objects.length === 0)
    out.push(`The live schema is the one its migrations build${d.ignored > 0 ? ` (${d.ignored} objects ignored by drift.ignore)` : ''}.`, '');
  else
    out.push(
      ...table(
        ['Object', 'Change', 'Restore with'],
        d.objects.map((o) => [o.key, o.change, o.restore.join(' ') || 'by hand']),
      ),
      '',
    );
  if (d.outside.length > 0)
    out.push(
      'Changes of _prisma_migrations no bundle explains:',
      '',
      ...table(
        ['Migration', 'Event', 'At'],
        d.outside.map((o) => [o.migration, o.event, o.at]),
      ),
      '',
    );
  return out;
}

/** The controls table of the bundle's kind. */
function controlsOf(b: PageSource): string[] {
  if (b.drift) return DRIFT_CONTROLS;
  if (b.drill) return DRILL_CONTROLS;
  if (b.settings) return SETTINGS_CONTROLS;
  if (b.access) return ACCESS_CONTROLS;
  if (b.queryReview) return QUERY_REVIEW_CONTROLS;
  if (b.auditLog) return AUDIT_LOG_CONTROLS;
  return CONTROLS;
}

/** A bundle as the page body sees it: everything but the two hashes sealing computes. */
export type PageSource = Omit<EvidenceBundle, 'sha256' | 'markdownSha256'>;

/** The body of a bundle's page (hashed into `markdownSha256` when the bundle is sealed); ends with one newline. */
export function renderBundleBody(b: PageSource): string {
  const out: string[] = [`# Evidence: ${text(b.environment)} #${b.sequence} — ${b.kind}`, ''];
  out.push(...breakGlassBanner(b), ...header(b), '');
  const e = b.execution;
  const g = e?.gate ?? null;
  if (g) out.push(...change(g), ...pulls(g), ...approvals(g), ...testing(g), ...backup(g), ...gate(g));
  else if (e) out.push('The gate could not run (the database was unreachable); nothing was changed by this action.', '');
  if (e) out.push(...execution(e));
  out.push(...interrupted(b), ...drill(b), ...settingsChange(b), ...accessChange(b), ...queryReview(b), ...auditLog(b), ...driftCheck(b));
  out.push(
    '## Chain',
    '',
    `- Previous bundle: ${b.previous ? `#${b.previous.sequence}, SHA-256 \`${b.previous.sha256}\`` : 'none (first bundle of this environment)'}`,
    '',
    'This page is rendered from the JSON bundle beside it, which records the SHA-256 of everything above the line at the end; `dbops evidence verify` checks the JSON, this page and the chain.',
    '',
    ...controlsOf(b),
  );
  return `${out.join('\n').replace(/\n+$/, '')}\n`;
}

/** The page's last lines: the bundle's own hash, which the body cannot contain (it covers the body's hash). Frozen format. */
export const markdownTrailer = (sha256: string): string =>
  `\n---\n\nSHA-256 of this bundle (the canonical JSON beside this page, without its sha256 field): \`${sha256}\`\n`;

/** The Markdown page of a sealed bundle: body, then the trailer naming its hash. */
export const renderBundleMarkdown = (b: EvidenceBundle): string => `${renderBundleBody(b)}${markdownTrailer(b.sha256)}`;
