import { oneLine } from '../../core/format.ts';
import type { Runtime } from '../../core/runtime.ts';
import { announceNews, type NewsAnnouncement } from '../../infra/notify/webhook.ts';
import type { QueriesPolicy } from '../../policy/queries.ts';
import type { QueriesReview } from './review.ts';

export type QueriesNotification = NewsAnnouncement;

const clip = (q: string) => oneLine(q, 120);

/** The Slack-compatible message: what became slow and what regressed, each with its normalized text (no values). */
export function reviewMessage(review: QueriesReview): { text: string } {
  const s = review.statements;
  const newlySlow = s.slow.filter((x) => x.newlySlow);
  const where = `${review.database}${review.environment ? ` (${review.environment})` : ''}`;
  const lines = [
    `dbops queries report, ${where}${review.sinceDeploy !== null ? ` after deploy #${review.sinceDeploy}` : ''}: ${s.regressions.length} regressed, ${newlySlow.length} newly slow.`,
    ...s.regressions.map(
      (r) => `• regression ${r.queryid}: mean ${r.meanMs} ms over ${r.calls} calls, was ${r.before.meanMs} ms (×${r.ratio}) — ${clip(r.query)}`,
    ),
    ...newlySlow.map((r) => `• slow ${r.queryid}: mean ${r.meanMs} ms over ${r.calls} calls — ${clip(r.query)}`),
  ];
  return { text: lines.join('\n') };
}

/** Posts the message when statements regressed or became slow; nothing otherwise. Never throws: a failed delivery is the result. */
export async function notifyReview(review: QueriesReview, policy: QueriesPolicy, rt: Pick<Runtime, 'env' | 'log' | 'signal'>): Promise<QueriesNotification> {
  const s = review.statements;
  const news = s.regressions.length > 0 || s.slow.some((x) => x.newlySlow);
  return announceNews(rt.env, policy.notifications.webhook_env, news ? null : 'no regression and no newly slow statement', () => reviewMessage(review), {
    signal: rt.signal,
    log: rt.log,
    userAgent: 'dbops-queries-report',
  });
}
