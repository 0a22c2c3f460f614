import type { StepContext } from '../../../cli/contract.ts';
import { UsageError } from '../../../core/errors.ts';
import type { Finding, StepResult } from '../../../core/result.ts';
import { runIdentity } from '../../../infra/github/approvals.ts';
import { notifyReview, recordQueryReview, reviewQueries, reviewVerdict, type QueriesReportData } from '../../../operations/queries/index.ts';
import { queriesFindings, queriesLines } from '../../../report/index.ts';
import { queriesTarget } from '../../flags.ts';
import type { QueriesReportInputs } from './spec.ts';

/** `dbops queries report`: a review is information; its findings are warnings and it exits 0. */
export async function run(input: QueriesReportInputs, ctx: StepContext): Promise<StepResult<QueriesReportData>> {
  if (input.sinceDeploy !== undefined && input.environment === undefined)
    throw new UsageError('--since-deploy needs --environment: the deploy and its snapshot are in that environment’s evidence.', {
      hint: 'dbops queries report --environment production --since-deploy 42',
    });
  const { queries } = await ctx.policies('queries');
  const target = await queriesTarget(input, ctx);
  const review = await reviewQueries(target, queries.value, { sinceDeploy: input.sinceDeploy }, ctx);
  let evidence: QueriesReportData['evidence'] = null;
  if (input.sinceDeploy !== undefined) {
    const { backups, environments } = await ctx.policies('backups', 'environments');
    const stored = await recordQueryReview(target, review, { backups: backups.value, environments: environments.value }, runIdentity(ctx.env), ctx);
    evidence = { sequence: stored.bundle.sequence, key: stored.key, sha256: stored.bundle.sha256 };
    await ctx.summarize(stored.markdown).catch((e: unknown) => ctx.log.warn(`could not write the job summary: ${(e as Error).message}`));
  }
  const notification = input.notify ? await notifyReview(review, queries.value, ctx) : null;
  if (notification?.status === 'failed') ctx.log.warn({ host: notification.host }, `the queries notification was not delivered: ${notification.reason}`);
  const data: QueriesReportData = { ...review, verdict: reviewVerdict(review), evidence, notification };
  const findings: Finding[] = queriesFindings(data);
  return { verdict: findings.some((f) => f.severity === 'warning') ? 'warn' : 'pass', findings, data };
}

export const render = (result: StepResult<QueriesReportData>): string => `${queriesLines(result.data).join('\n')}\n`;
