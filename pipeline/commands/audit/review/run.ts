import { join } from 'node:path';
import type { StepContext } from '../../../cli/contract.ts';
import { writeFileAtomic } from '../../../core/fs.ts';
import { plural } from '../../../core/format.ts';
import type { Finding, StepResult } from '../../../core/result.ts';
import { announce, type Announcement } from '../../../infra/notify/webhook.ts';
import { reviewAudit, type AuditReview } from '../../../operations/audit/index.ts';
import { auditReviewMarkdown } from '../../../report/index.ts';
import type { AuditReviewInputs } from './spec.ts';

export type AuditReviewData = AuditReview & { markdown: string; notification: Announcement | null };

/** The month before `now` (UTC), YYYY-MM. */
const previousMonth = (now: Date): string => {
  const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1));
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
};

/** `dbops audit review`: exit 0; each security event is a warning. */
export async function run(input: AuditReviewInputs, ctx: StepContext): Promise<StepResult<AuditReviewData>> {
  const { audit, backups, environments } = await ctx.policies('audit', 'backups', 'environments');
  const evidence = await import('../../../evidence/index.ts');
  // Only the evidence: the review reads the chain, never the database.
  const policies = { backups: backups.value, environments: environments.value };
  if (input.environment !== undefined) {
    // A misspelt environment must not review an empty chain and pass.
    evidence.checkEnvironmentName(input.environment);
    const root = evidence.openEvidenceRoot(policies, ctx.env, ctx.log);
    evidence.assertKnownEnvironment(
      input.environment,
      Object.keys(environments.value.environments),
      await evidence.evidenceEnvironments(root.storage, root.prefix),
      `${root.storage.location} ${root.prefix}`,
    );
  }
  const store = await evidence.openEvidenceOf(policies, input.environment, ctx.env, ctx.log);
  const files = await evidence.readFolder(store);
  const bundles = [...files.entries()]
    .filter(([name]) => name.endsWith('-audit-log.json') || name.endsWith('-drift.json'))
    .map(([, bytes]) => evidence.EvidenceBundle.safeParse(JSON.parse(bytes.toString('utf8'))))
    .flatMap((p) => (p.success ? [p.data] : []));
  const month = input.month ?? previousMonth(new Date());
  const review = reviewAudit(bundles, month, store.environment, audit.value);
  const markdown = join(input.reportsDir, `audit-review-${month}.md`);
  await writeFileAtomic(markdown, auditReviewMarkdown(review));
  const notification =
    input.notify && review.events.length > 0
      ? await announce(
          ctx.env,
          audit.value.notifications.webhook_env,
          {
            text: [
              `dbops audit review ${store.environment} ${month}: ${plural(review.events.length, 'security event')}`,
              ...review.events.map((e) => `• ${e.at} ${e.kind}: ${e.message}`),
            ].join('\n'),
          },
          { signal: ctx.signal, log: ctx.log, userAgent: 'dbops-audit-review' },
        )
      : null;
  if (notification?.status === 'failed') ctx.log.warn({ host: notification.host }, `the audit notification was not delivered: ${notification.reason}`);
  const findings: Finding[] = review.events.map((e) => ({
    rule: `audit/${e.kind}`,
    severity: 'warning',
    message: `${e.at}: ${e.message} (segment #${e.sequence}).`,
  }));
  return { verdict: findings.length > 0 ? 'warn' : 'pass', findings, data: { ...review, markdown, notification } };
}

export function render(result: StepResult<AuditReviewData>): string {
  const r = result.data;
  const t = r.totals;
  const lines = [
    `Audit review of ${r.environment}, ${r.month}: ${plural(r.segments.length, 'segment')}, ${t.lines} lines; ${t.ddl} DDL, ${t.roleChanges} role changes, ${t.objectAccess} on audited tables, ${t.failedLogins} failed logins, ${t.superuserSessions} superuser sessions.`,
    r.events.length === 0 ? 'No security event.' : `${plural(r.events.length, 'security event')}:`,
    ...r.events.map((e) => `  ${e.at} ${e.kind}: ${e.message} (segment #${e.sequence})`),
    r.daysWithout.length > 0 ? `Days without a segment: ${r.daysWithout.join(', ')}.` : 'Every day of the month has a segment.',
    `Drift checks: ${r.drift.checks.length} (${r.drift.checks.filter((c) => c.verdict === 'fail').length} found drift)${r.drift.daysWithout.length > 0 ? `; days without one: ${r.drift.daysWithout.length}` : ''}.`,
    `The review: ${r.markdown}`,
  ];
  if (r.notification) lines.push(`Notification: ${r.notification.status}${r.notification.reason ? ` (${r.notification.reason})` : ''}.`);
  return `${lines.join('\n')}\n`;
}
