import type { BundleDraft } from '../../pipeline/evidence/bundle.ts';
import type { ExecutionData, GateData, RunIdentity } from '../../pipeline/evidence/records.ts';

/**
 * Valid gate, execution and bundle-draft objects for tests of the evidence store and of the reports that
 * embed them. Every field is filled (nothing left null that a renderer could skip) unless overridden.
 */

const hex = (c: string) => c.repeat(64);

export function runIdentity(over: Partial<RunIdentity> = {}): RunIdentity {
  return {
    repository: 'astrofinance/db',
    runId: '9001',
    runAttempt: 1,
    runUrl: 'https://github.com/astrofinance/db/actions/runs/9001',
    workflowRef: 'astrofinance/db/.github/workflows/deploy-production.yml@refs/heads/main',
    workflowSha: 'a'.repeat(40),
    event: 'workflow_dispatch',
    ref: 'refs/heads/main',
    sha: 'b'.repeat(40),
    actor: 'release-manager',
    triggeringActor: 'release-manager',
    ...over,
  };
}

export function gateData(over: Partial<GateData> = {}): GateData {
  const environment = over.environment ?? 'production';
  return {
    environment,
    action: 'deploy',
    decision: 'allowed',
    at: '2026-04-21T08:29:00.000Z',
    database: { display: 'postgresql://app:***@db.internal:5432/astro', name: 'astro', systemIdentifier: '7361234567890123456', serverVersion: '15.8' },
    migrations: [
      {
        name: '20260421083000_invoices_due_date',
        sha256: hex('1'),
        rollback: { path: 'rollbacks/20260421083000_invoices_due_date.sql', sha256: hex('2'), status: 'paired' },
      },
      {
        name: '20260422090000_drop_legacy | table <b>',
        sha256: hex('3'),
        rollback: { path: 'rollbacks/20260422090000_drop_legacy.sql', sha256: null, status: 'irreversible', reason: 'data is gone\nforward-fix only' },
      },
    ],
    rollbackTo: null,
    checks: [
      { name: 'backup', status: 'pass', summary: 'backup 20260421T080000Z-pre-deploy-3f9a, 29 min old, verified', reasons: [] },
      { name: 'approval', status: 'pass', summary: '1 of 1 approvals', reasons: [] },
      {
        name: 'window',
        status: 'waived',
        summary: 'outside the window',
        reasons: [{ rule: 'window/closed', message: 'Friday 14:00 Europe/Berlin is outside every window', hint: 'pass --outside-window' }],
      },
    ],
    breakGlass: null,
    outsideWindow: null,
    backup: {
      id: '20260421T080000Z-pre-deploy-3f9a',
      tier: 'pre-deploy',
      target: 'server',
      location: '/srv/backups',
      database: 'astro',
      systemIdentifier: '7361234567890123456',
      finishedAt: '2026-04-21T08:00:00.000Z',
      ageMs: 29 * 60_000,
      sha256: hex('4'),
      status: 'verified',
      verification: { level: 'read', at: '2026-04-21T08:05:00.000Z', ok: true },
      taken: true,
      lastRestoreTest: { backupId: '20260420T020000Z-daily-1c2d', at: '2026-04-20T05:12:00.000Z', ok: true, restoreMs: 95_000 },
    },
    run: runIdentity(),
    approvals: [
      { user: 'reviewer-1', state: 'approved', comment: 'LGTM | ship it', environments: [environment] },
      { user: 'dev-author', state: 'approved', comment: '', environments: [environment] },
    ],
    environmentSettings: {
      name: environment,
      canAdminsBypass: false,
      preventSelfReview: true,
      reviewers: ['team:db-owners', 'reviewer-1'],
      waitTimerMinutes: null,
      deploymentBranchPolicy: { protectedBranches: true, customBranchPolicies: false },
    },
    fourEyes: {
      environment,
      required: 1,
      ok: true,
      counted: ['reviewer-1'],
      refused: [{ user: 'dev-author', rule: 'pr-author', message: 'dev-author wrote PR #42' }],
      excluded: { prAuthors: ['dev-author'], committers: ['dev-author'], triggeringActor: 'release-manager' },
    },
    pulls: [
      {
        number: 42,
        title: 'Invoices: due date <script>alert(1)</script> | cc @astrofinance/dba',
        labels: ['allow-destructive'],
        url: 'https://github.com/astrofinance/db/pull/42',
        author: 'dev-author',
        mergedBy: 'maintainer',
        mergedAt: '2026-04-20T16:00:00Z',
        mergeCommit: 'c'.repeat(40),
        reviews: [{ user: 'reviewer-1', state: 'APPROVED', submittedAt: '2026-04-20T15:00:00Z', commitId: 'd'.repeat(40) }],
      },
    ],
    provenance: [
      {
        migration: '20260421083000_invoices_due_date',
        path: 'prisma/migrations/20260421083000_invoices_due_date/migration.sql',
        commits: [{ sha: 'e'.repeat(40), author: 'dev-author', committer: 'dev-author' }],
        pulls: [42],
      },
    ],
    testing: {
      lint: {
        verdict: 'pass',
        errors: 0,
        warnings: 1,
        notices: 0,
        findings: [{ rule: 'prefer-robust-stmts', severity: 'warning', message: 'use IF NOT EXISTS', migration: '20260421083000_invoices_due_date' }],
      },
      rehearsal: {
        verdict: 'pass',
        finishedAt: '2026-04-20T15:30:00Z',
        commit: 'd'.repeat(40),
        migrations: [{ name: '20260421083000_invoices_due_date', status: 'passed', durationMs: 1234, rollback: 'proven' }],
      },
      staging: { environment: 'staging', migrations: [{ name: '20260421083000_invoices_due_date', checksum: hex('1'), finishedAt: '2026-04-20T17:00:00Z' }] },
    },
    interrupted: null,
    ...over,
  };
}

export function executionData(over: Partial<ExecutionData> = {}): ExecutionData {
  const environment = over.environment ?? 'production';
  return {
    environment,
    action: 'deploy',
    outcome: 'succeeded',
    startedAt: '2026-04-21T08:29:30.000Z',
    finishedAt: '2026-04-21T08:30:10.000Z',
    gate: gateData({ environment }),
    steps: [
      {
        name: '20260421083000_invoices_due_date',
        action: 'apply',
        outcome: 'applied',
        mode: 'atomic',
        startedAt: '2026-04-21T08:29:31.000Z',
        durationMs: 820,
        lockRetries: 0,
      },
      {
        name: '20260422090000_drop_legacy | table <b>',
        action: 'apply',
        outcome: 'applied',
        mode: 'split',
        startedAt: '2026-04-21T08:29:32.000Z',
        durationMs: 35_000,
        lockRetries: 1,
      },
    ],
    smoke: [{ name: 'ledger readable', ok: true, rows: 1, durationMs: 4 }],
    finalState: {
      applied: ['20260421083000_invoices_due_date', '20260422090000_drop_legacy | table <b>'],
      pending: [],
      failed: [],
      fingerprintBefore: hex('5'),
      fingerprintAfter: hex('6'),
      equalsBefore: null,
    },
    restoreCommand: null,
    evidence: null,
    ...over,
  };
}

/** A deploy bundle draft; `breakGlass: true` fills a break-glass record. */
export function bundleDraft(
  over: Partial<Omit<BundleDraft, 'breakGlass'>> & { environment?: string; breakGlass?: BundleDraft['breakGlass'] | true } = {},
): BundleDraft {
  const { environment = 'production', breakGlass, ...rest } = over;
  const bg =
    breakGlass === true
      ? { reason: 'incident INC-7: ledger writes failing', by: 'oncall (git: On Call <oncall@example.com>)', host: 'laptop-17', at: '2026-04-21T08:28:00.000Z' }
      : (breakGlass ?? null);
  return {
    kind: 'deploy',
    breakGlass: bg,
    execution: executionData({ environment, ...(bg ? { gate: gateData({ environment, breakGlass: bg, run: null, approvals: [], fourEyes: null }) } : {}) }),
    interrupted: null,
    run: bg ? null : runIdentity(),
    ...rest,
  };
}
