import { ExitCode, isDbopsError } from '../../../core/errors.ts';
import { redact, redactDeep } from '../../../core/redact.ts';
import { inGitHubActions } from '../../../infra/github/env.ts';
import { postJson, webhookFromEnv } from '../../../infra/notify/webhook.ts';
import type { BackupNotifyInputs } from './spec.ts';
import type { BackupsPolicy } from '../../../policy/backups.ts';
import { openTargets } from '../../../infra/storage/open.ts';
import type { AnnounceDecision } from '../../../operations/monitoring/index.ts';
import {
  buildEvent,
  deliveryLine,
  notSentBecause,
  NOTIFY_STEPS,
  readReports,
  slackPayload,
  summaryMarkdown,
  type BackupNotifyData,
  type Delivery,
  type LoadedReport,
  type Unreadable,
} from '../../../report/index.ts';
import type { StepResult } from '../../../core/result.ts';
import type { StepContext } from '../../../cli/contract.ts';
import { reportFile } from '../../../core/envelope.ts';
import { noun } from '../../../core/format.ts';

async function readBackupReports(dir: string): Promise<{ reports: LoadedReport[]; unreadable: Unreadable[] }> {
  const reports: LoadedReport[] = [];
  const unreadable: Unreadable[] = [];
  // One by one: a damaged report must not keep the others (and the failure it may be about) from being announced.
  for (const step of NOTIFY_STEPS) {
    try {
      reports.push(...(await readReports(dir, [step])).map((r) => ({ file: r.file, report: redactDeep(r.report) })));
    } catch (e) {
      if (!isDbopsError(e)) throw e;
      unreadable.push({ file: reportFile(dir, step), message: e.message });
    }
  }
  return { reports, unreadable };
}

/**
 * The announcement state of this event's source (what ran, of which database), kept on the primary backup
 * target where every runner finds it; undefined when it cannot be read, and the event is then announced as
 * before (a notification too many beats one missed).
 */
async function announcement(event: BackupNotifyData['event'], backups: BackupsPolicy, ctx: StepContext): Promise<AnnounceDecision | undefined> {
  if (event.activity === 'nothing') return undefined;
  try {
    const { announceOnce, monitorStore } = await import('../../../operations/monitoring/index.ts');
    const storage = openTargets(backups, ctx.env, ctx.log).primary;
    const key = `${event.activity}${event.database ? ` of ${event.database}` : ''}`;
    return await announceOnce(monitorStore({ storage, folder: '' }, 'backups'), key, event.outcome === 'failure', event.title);
  } catch (e) {
    ctx.log.warn({ err: redact((e as Error).message) }, 'could not read the announcement state: announcing as if nothing were open');
    return undefined;
  }
}

export async function run(input: BackupNotifyInputs, ctx: StepContext): Promise<StepResult<BackupNotifyData>> {
  const env = ctx.env;
  const { backups } = await ctx.policies('backups');
  const policy = backups.value.notifications;

  const { url, invalid } = webhookFromEnv(env, policy.webhook_env);

  const { reports, unreadable } = await readBackupReports(input.reportsDir);
  ctx.log.debug({ files: reports.map((r) => r.file), unreadable: unreadable.length }, 'backup reports read');
  const event = buildEvent(reports, unreadable, { reportsDir: input.reportsDir, env, now: new Date() });
  const payload = policy.format === 'slack' ? slackPayload(event) : event;

  const delivery: Delivery = { env: policy.webhook_env, host: url?.host ?? null, status: 'not-configured', attempts: 0, httpStatus: null, reason: null };
  // A failure is announced once, while it lasts, and its recovery once (pitr status fails every 15 minutes).
  const once = await announcement(event, backups.value, ctx);
  const unwanted =
    once?.transition === 'still-open'
      ? `already announced: the ${event.activity} alert opened at ${once.openedAt} is still open (its recovery will be announced)`
      : once?.transition === 'close'
        ? null
        : notSentBecause(event, policy.on);
  if (invalid) Object.assign(delivery, { status: 'failed', reason: invalid });
  else if (!url) delivery.reason = `${policy.webhook_env} is not set`;
  else if (unwanted) Object.assign(delivery, { status: 'not-wanted', reason: unwanted });
  else if (input.dryRun) delivery.status = 'dry-run';
  else {
    Object.assign(delivery, await postJson(url, JSON.stringify(payload), { signal: ctx.signal, log: ctx.log, userAgent: 'dbops-backup-notify' }));
    if (delivery.status === 'sent') ctx.log.info({ host: delivery.host, attempts: delivery.attempts }, 'notification sent');
  }
  if (input.dryRun && delivery.status === 'not-configured') Object.assign(delivery, { status: 'dry-run' });
  // The state moves on once the announcement went out (or was not wanted): an undelivered one is tried again next run.
  if (once && !input.dryRun && delivery.status !== 'failed')
    await once.commit().catch((e: unknown) => ctx.log.warn({ err: redact((e as Error).message) }, 'could not record the announcement state'));
  if (delivery.status === 'failed') ctx.log.warn({ host: delivery.host, reason: delivery.reason }, `the ${event.outcome} notification was not delivered`);
  else if (delivery.status === 'not-configured') ctx.log.info(`${policy.webhook_env} is not set: no webhook notification`);

  let summary: BackupNotifyData['summary'] = { status: 'not-in-actions', reason: null };
  if (input.dryRun) summary = { status: 'dry-run', reason: null };
  else if (inGitHubActions(env)) {
    try {
      const written = await ctx.summarize(summaryMarkdown(event, reports, delivery));
      summary = { status: written === 'written' ? 'written' : 'no-summary-file', reason: written === 'written' ? null : 'GITHUB_STEP_SUMMARY is not set' };
    } catch (e) {
      summary = { status: 'failed', reason: redact((e as Error).message) };
      ctx.log.warn(`could not write the job summary: ${summary.reason}`);
    }
  }

  const data: BackupNotifyData = {
    reportsDir: input.reportsDir,
    reports: reports.map((r) => r.file),
    event,
    format: policy.format,
    payload,
    webhook: delivery,
    summary,
  };
  const undelivered = delivery.status === 'failed' ? `The ${event.outcome} notification was not delivered: ${deliveryLine(delivery)}.` : null;
  const fix =
    delivery.status === 'failed'
      ? invalid
        ? `Set ${policy.webhook_env} to the webhook's https:// URL.`
        : `Check that the webhook in ${policy.webhook_env} is reachable from this runner and still valid.`
      : undefined;

  if (event.outcome === 'failure') {
    const first = event.failedSteps[0];
    return {
      verdict: 'fail',
      findings: [],
      exitCode: ExitCode.Failed,
      data,
      error: { message: [event.reason ?? event.title, undelivered].filter(Boolean).join('\n'), hint: first?.hint ?? fix },
    };
  }
  if (undelivered) {
    return { verdict: 'fail', findings: [], exitCode: invalid ? ExitCode.Usage : ExitCode.Environment, data, error: { message: undelivered, hint: fix } };
  }
  return { verdict: 'pass', findings: [], data };
}

export function render(result: StepResult<BackupNotifyData>, input: Partial<BackupNotifyInputs> = {}): string {
  const { event: e, webhook, summary } = result.data;
  const lines = [`${e.outcome === 'success' ? '✅' : '❌'} ${e.title}`];
  const row = (label: string, value: string | null | undefined) => {
    if (value) lines.push(`  ${label.padEnd(12)} ${value}`);
  };
  if (e.outcome === 'failure') for (const f of e.failedSteps) row('failed', `${f.command}: ${f.message}`);
  if (e.outcome === 'failure' && e.failedSteps.length === 0) row('failed', e.reason);
  row('tier', e.tier);
  row('database', e.database);
  row('backup', e.backupId);
  row('size', e.size && `${e.size} (encrypted)`);
  row('duration', e.duration && `${e.duration}${e.throughputMiBs !== null ? ` · ${e.throughputMiBs} MiB/s` : ''}`);
  row(noun(e.targets.length, 'target'), e.targets.map((t) => `${t.name} (${t.location})`).join(', '));
  row('verification', e.verification?.summary);
  row('replicate', e.replicate?.summary);
  row('prune', e.prune?.summary);
  row('stanza', e.pitr?.stanza);
  row('pitr backup', e.pitr?.backup);
  row('pitr verify', e.pitr?.verification);
  row('archiving', e.pitr?.status);
  row('run', e.run?.url);
  lines.push('', `Webhook: ${deliveryLine(webhook)}`);
  const summaryText = {
    written: 'written',
    'not-in-actions': 'not in GitHub Actions',
    'no-summary-file': 'GITHUB_STEP_SUMMARY is not set',
    failed: `failed (${summary.reason})`,
    'dry-run': 'dry run: not written',
  }[summary.status];
  lines.push(`Job summary: ${summaryText}`);
  if (input.dryRun) {
    lines.push('', 'Event:', JSON.stringify(e, null, 2), '', `Webhook payload (${result.data.format}):`, JSON.stringify(result.data.payload, null, 2));
  }
  return `${lines.join('\n')}\n`;
}
