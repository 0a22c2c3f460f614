import type { BackupCreateData, BackupPruneData, BackupReplicateData, BackupRestoreData, BackupVerifyData } from '../protection/backup/index.ts';
import type { PitrBackupData, PitrExpireData, PitrStatusData, PitrVerifyData } from '../protection/pitr/index.ts';
import { redact } from '../core/redact.ts';
import { inGitHubActions } from '../infra/github/env.ts';
import type { Tier } from '../policy/backups.ts';
import { backupBlocks, NOTIFY_STEPS } from './backup-md.ts';
import { assemble, type Block, code, table, text, VERDICT_ICON } from '../core/markdown.ts';
import type { LoadedReport } from './store.ts';
import { clip, formatAge, formatBytes, formatMs, noun, plural } from '../core/format.ts';
import type { Finding, Verdict } from '../core/result.ts';

/**
 * `dbops backup notify`: one event about this run's backup steps (the reports/backup-*.json files, and the
 * physical tier's reports/pitr-*.json), sent to the webhook of policies/backups.yaml and written to the job
 * summary inside GitHub Actions.
 *
 * Delivery problems and exit codes, decided once:
 * - a failure event always exits 1 (the job must fail whatever happened to the message); a delivery problem
 *   is then logged and shown, not turned into another exit code that would hide the backup failure;
 * - a success event that could not be delivered exits 3 (environment: the webhook is down or unreachable),
 *   or 2 when the variable does not hold an http(s) URL (configuration): a silent notification channel is
 *   itself an incident, since nobody would hear about the next failure;
 * - no webhook variable set is allowed (the job summary is the only channel) and says so.
 */

const MiB = 1024 * 1024;

export type Outcome = 'success' | 'failure';

export interface EventStep {
  step: string;
  command: string;
  verdict: Verdict;
  exitCode: number;
  durationMs: number;
  finishedAt: string;
}

export interface FailedStep {
  step: string;
  command: string;
  /** Why it failed: its error, its failed checks or copies, or its first error finding (redacted). */
  message: string;
  hint: string | null;
}

/** The event sent to the webhook (`format: json`) and rendered everywhere else. */
export interface BackupEvent {
  type: 'dbops.backup';
  outcome: Outcome;
  /**
   * What the run did: a new backup, a restore test (verify --restore), a verification, a restore, copies,
   * pruning; or, in the physical tier, a base backup, a repository verification, the archiving status.
   */
  activity:
    'backup' | 'restore test' | 'verification' | 'restore' | 'replication' | 'prune' | 'physical backup' | 'physical verification' | 'pitr status' | 'nothing';
  /** One line for humans, e.g. "Backup daily of astrofinance succeeded". */
  title: string;
  /** On failure: which step failed and why, or that no backup report exists. */
  reason: string | null;
  tier: Tier | null;
  backupId: string | null;
  database: string | null;
  /** Ciphertext bytes of the backup (what is stored). */
  sizeBytes: number | null;
  size: string | null;
  /** Of the step that produced the backup or the verification. */
  durationMs: number | null;
  duration: string | null;
  throughputMiBs: number | null;
  targets: Array<{ name: string; location: string }>;
  verification: { level: 'read' | 'restore' | 'copy'; ok: boolean; target: string; summary: string; restoreMs: number | null } | null;
  replicate: { copied: number; failed: number; summary: string } | null;
  prune: { deleted: number; kept: number; dryRun: boolean; summary: string } | null;
  /** The physical tier (pitr backup, verify, status): its pgBackRest stanza and one line per step that ran. */
  pitr: { stanza: string; backup: string | null; verification: string | null; expire: string | null; status: string | null } | null;
  steps: EventStep[];
  failedSteps: FailedStep[];
  /** The GitHub Actions run, when inside one. */
  run: { url: string; repository: string; id: string } | null;
  commit: string | null;
  at: string;
}

export interface SlackText {
  type: 'mrkdwn' | 'plain_text';
  text: string;
  emoji?: boolean;
}
export type SlackBlock =
  { type: 'header'; text: SlackText } | { type: 'section'; text?: SlackText; fields?: SlackText[] } | { type: 'context'; elements: SlackText[] };
export interface SlackPayload {
  text: string;
  blocks: SlackBlock[];
}

export interface Delivery {
  /** The variable the URL is read from (never the URL: it is a secret). */
  env: string;
  host: string | null;
  status: 'sent' | 'failed' | 'not-configured' | 'not-wanted' | 'dry-run';
  attempts: number;
  httpStatus: number | null;
  reason: string | null;
}

export interface BackupNotifyData {
  reportsDir: string;
  /** Report files read, in step order. */
  reports: string[];
  event: BackupEvent;
  format: 'slack' | 'json';
  /** The webhook body: Slack's {text, blocks} or the event itself. */
  payload: SlackPayload | BackupEvent;
  webhook: Delivery;
  summary: { status: 'written' | 'not-in-actions' | 'no-summary-file' | 'failed' | 'dry-run'; reason: string | null };
}

// ---- the event ----------------------------------------------------------------------------------------

const mibs = (bytes: number, ms: number) => (ms > 0 ? Math.round((bytes / MiB / (ms / 1000)) * 10) / 10 : null);

const isFailed = (r: LoadedReport['report']) => r.verdict === 'fail' || r.exitCode !== 0;
/** Failed checks named in one reason (a corrupted repository can have thousands); the report has them all. */
const MAX_REASONS = 3;

/** The most specific reason a report gives for failing. Reports are redacted when written; masked again here. */
function whyFailed(report: LoadedReport['report']): { message: string; hint: string | null } {
  let hint = report.error?.hint ?? null;
  if (report.error) return { message: report.error.message, hint };
  const d = report.data;
  const reasons: string[] = [];
  if (report.step === 'pitr-status' || report.step === 'pitr-verify') {
    // Every failed check, not the first: archiving failing and the exposure over the objective are two facts
    // on-call needs together. The findings are the pitr domain's judgement; nothing is re-derived here.
    const errors = report.findings.filter((f: Finding) => f.severity === 'error');
    reasons.push(...errors.slice(0, MAX_REASONS).map((f) => f.message.replace(/\.$/, '')));
    if (errors.length > MAX_REASONS) reasons.push(`and ${plural(errors.length - MAX_REASONS, 'more problem')}`);
    hint = errors.find((f) => f.help)?.help ?? null;
  } else if (d !== null) {
    if (report.step === 'backup-verify') {
      for (const c of (d as BackupVerifyData).record.checks) if (!c.ok) reasons.push(`${c.name} check failed${c.message ? `: ${c.message}` : ''}`);
    } else if (report.step === 'backup-replicate') {
      for (const t of (d as BackupReplicateData).targets) for (const f of t.failed) reasons.push(`copy of ${f.id} to ${t.name} failed: ${f.message}`);
    } else if (report.step === 'backup-restore' && !(d as BackupRestoreData).manifestMatched) {
      reasons.push('the restored tables do not match the backup manifest');
    }
  }
  const error = report.findings.find((f: Finding) => f.severity === 'error');
  if (reasons.length === 0 && error) reasons.push(`${error.message}${error.help ? ` (${error.help})` : ''}`);
  if (reasons.length === 0) reasons.push(`it ended with verdict ${report.verdict} and exit code ${report.exitCode}`);
  return { message: reasons.join('; '), hint };
}

function replicateSummary(d: BackupReplicateData): BackupEvent['replicate'] {
  const copied = d.targets.reduce((n, t) => n + t.copied.length, 0);
  const failed = d.targets.reduce((n, t) => n + t.failed.length, 0);
  const summary =
    d.targets.length === 0
      ? `no copy target besides ${d.from.name}`
      : d.targets
          .map((t) => {
            const bytes = t.copied.reduce((n, c) => n + c.bytes, 0);
            const parts = [`${t.copied.length} copied${t.copied.length ? ` (${formatBytes(bytes)})` : ''}`, `${t.present.length} already there`];
            if (t.failed.length) parts.push(`${t.failed.length} failed`);
            return `${t.name}: ${parts.join(', ')}`;
          })
          .join('; ');
  return { copied, failed, summary };
}

function pruneSummary(d: BackupPruneData): BackupEvent['prune'] {
  const deleted = d.targets.reduce((n, t) => n + (d.dryRun ? t.decisions.filter((x) => !x.keep).length : t.deleted.length), 0);
  const kept = d.targets.reduce((n, t) => n + t.decisions.filter((x) => x.keep).length, 0);
  const verb = d.dryRun ? 'would delete' : 'deleted';
  const summary = `${d.targets.map((t) => `${t.name}: ${t.decisions.filter((x) => x.keep).length} kept, ${d.dryRun ? t.decisions.filter((x) => !x.keep).length : t.deleted.length} ${verb}`).join('; ')}${d.dryRun ? ' (dry run)' : ''}`;
  return { deleted, kept, dryRun: d.dryRun, summary };
}

function verificationSummary(d: BackupVerifyData): NonNullable<BackupEvent['verification']> {
  const r = d.record;
  const failed = r.checks.filter((c) => !c.ok);
  const summary = r.ok
    ? `${r.level}: passed (${r.checks.map((c) => c.name).join(', ')})${r.restoreMs !== undefined ? `, restored in ${formatMs(r.restoreMs)}` : ''}`
    : `${r.level}: FAILED (${failed.map((c) => `${c.name}${c.message ? `: ${c.message}` : ''}`).join('; ') || 'see the report'})`;
  return { level: r.level, ok: r.ok, target: r.target, summary, restoreMs: r.restoreMs ?? null };
}

function pitrBackupSummary(d: PitrBackupData): string {
  return d.backups
    .map((b) => `${b.type} ${b.label} in repository ${b.repo}: ${formatBytes(b.sizeBytes)} of cluster, ${formatBytes(b.repositoryBytes)} stored`)
    .join('; ');
}

function pitrVerifySummary(d: PitrVerifyData): string {
  const r = d.record;
  return r.ok
    ? `passed: ${plural(r.backups.length, 'backup')} and their WAL, in ${formatMs(r.durationMs)}`
    : `FAILED: ${plural(r.problems.length, 'problem')} (${formatMs(r.durationMs)})`;
}

function pitrExpireSummary(d: PitrExpireData): string {
  return d.repos
    .map((p) => {
      const gone = p.fulls.filter((f) => !f.keep).length;
      return `repo${p.repo}: ${p.fulls.length - gone} full kept, ${d.dryRun ? gone : p.expired.length} ${d.dryRun ? 'would be expired' : 'expired'}${p.walFrom ? `, WAL from ${p.walFrom.label}` : ''}`;
    })
    .join('; ');
}

function pitrStatusSummary(d: PitrStatusData): string {
  const a = d.archiving;
  return [
    `RPO exposure ${formatAge(d.exposureMs)} (objective ${formatAge(d.rpoMs)})`,
    `last archived ${a.lastArchivedWal ?? 'nothing'}${a.lastArchivedAt ? ` at ${a.lastArchivedAt}` : ''}`,
    plural(a.failedCount, 'failed attempt'),
    `${plural(a.ready, 'segment')} waiting`,
  ].join('; ');
}

function subjectOf(
  activity: BackupEvent['activity'],
  tier: Tier | null,
  database: string | null,
  backupId: string | null,
  pitr: { stanza: string | null; type: string | null },
): string {
  const of = database ? ` of ${database}` : '';
  const ofStanza = pitr.stanza ? ` of ${pitr.stanza}` : '';
  switch (activity) {
    case 'backup':
      return `Backup${tier ? ` ${tier}` : ''}${of}`;
    case 'restore test':
    case 'verification':
    case 'restore':
      return `${activity.charAt(0).toUpperCase()}${activity.slice(1)}${backupId ? ` of ${backupId}` : of}`;
    case 'replication':
      return 'Backup replication';
    case 'prune':
      return 'Backup pruning';
    case 'physical backup':
      return `Physical backup${pitr.type ? ` ${pitr.type}` : ''}${ofStanza}`;
    case 'physical verification':
      return `Physical backup verification${ofStanza}`;
    case 'pitr status':
      return `Point-in-time recovery status${ofStanza}`;
    case 'nothing':
      return 'Backup run';
  }
}

function runLink(env: NodeJS.ProcessEnv): BackupEvent['run'] {
  if (!inGitHubActions(env)) return null;
  const server = env['GITHUB_SERVER_URL'];
  const repository = env['GITHUB_REPOSITORY'];
  const id = env['GITHUB_RUN_ID'];
  if (!server || !repository || !id) return null;
  return { url: `${server.replace(/\/+$/, '')}/${repository}/actions/runs/${id}`, repository, id };
}

export interface Unreadable {
  file: string;
  message: string;
}

/** Pure: the reports of one run (and the ones that could not be read) → the event. */
export function buildEvent(reports: LoadedReport[], unreadable: Unreadable[], options: { reportsDir: string; env: NodeJS.ProcessEnv; now: Date }): BackupEvent {
  const by = <D>(step: string) => reports.find((r) => r.report.step === step)?.report as (LoadedReport['report'] & { data: D | null }) | undefined;
  const create = by<BackupCreateData>('backup-create');
  const verify = by<BackupVerifyData>('backup-verify');
  const replicate = by<BackupReplicateData>('backup-replicate');
  const prune = by<BackupPruneData>('backup-prune');
  const restore = by<BackupRestoreData>('backup-restore');
  const pitrBackup = by<PitrBackupData>('pitr-backup');
  const pitrVerify = by<PitrVerifyData>('pitr-verify');
  const pitrExpire = by<PitrExpireData>('pitr-expire');
  const pitrStatus = by<PitrStatusData>('pitr-status');

  const failedSteps: FailedStep[] = reports
    .filter((r) => isFailed(r.report))
    .map(({ report }) => ({ step: report.step, command: report.command, ...whyFailed(report) }));
  for (const u of unreadable)
    failedSteps.push({
      step: u.file,
      command: 'read report',
      message: u.message,
      hint: 'The report was not written by this version of dbops, or was damaged; run the step again.',
    });

  let reason: string | null = null;
  if (reports.length === 0 && unreadable.length === 0) {
    reason = `no backup report in ${options.reportsDir}/ (expected one of ${NOTIFY_STEPS.map((s) => `${s}.json`).join(', ')}): the backup steps did not run or wrote elsewhere`;
  } else if (failedSteps.length > 0) {
    reason = failedSteps.map((f) => `${f.command} failed: ${f.message}`).join(' · ');
  }
  const outcome: Outcome = reason === null ? 'success' : 'failure';

  // Describe the backup the run is about: the one created, else the one verified, else the one restored.
  let tier: Tier | null = null;
  let backupId: string | null = null;
  let database: string | null = null;
  let sizeBytes: number | null = null;
  let durationMs: number | null = null;
  let throughputMiBs: number | null = null;
  const targets: BackupEvent['targets'] = [];
  const addTarget = (t: { name: string; location: string }) => {
    if (!targets.some((x) => x.name === t.name)) targets.push({ name: t.name, location: t.location });
  };
  if (create?.data) {
    const m = create.data.manifest;
    ({ tier, id: backupId } = m);
    database = m.database.name;
    sizeBytes = m.object.ciphertextBytes;
    durationMs = create.durationMs;
    throughputMiBs = Math.round(create.data.throughputMiBs * 10) / 10;
    addTarget(create.data.target);
  } else if (verify?.data) {
    ({ tier, backupId, database } = verify.data);
    sizeBytes = verify.data.ciphertextBytes;
    durationMs = verify.data.record.durationMs;
    throughputMiBs = mibs(sizeBytes, durationMs);
    addTarget(verify.data.target);
  } else if (restore?.data) {
    ({ tier, backupId } = restore.data);
    durationMs = restore.durationMs;
    addTarget(restore.data.source);
  } else if (pitrBackup?.data) {
    // repo1's copy names the backup; the others are in the pitr line.
    backupId = pitrBackup.data.backups[0]?.label ?? null;
    durationMs = pitrBackup.data.durationMs;
  } else if (pitrVerify?.data) {
    durationMs = pitrVerify.data.record.durationMs;
  }
  if (verify?.data) addTarget(verify.data.target);
  if (replicate?.data) {
    for (const t of replicate.data.targets) {
      const holds = backupId === null ? t.failed.length === 0 : t.copied.some((c) => c.id === backupId) || t.present.includes(backupId);
      if (holds) addTarget(t);
    }
  }

  const activity: BackupEvent['activity'] = create
    ? 'backup'
    : verify
      ? verify.data?.record.level === 'restore'
        ? 'restore test'
        : 'verification'
      : restore
        ? 'restore'
        : replicate
          ? 'replication'
          : prune
            ? 'prune'
            : pitrBackup
              ? 'physical backup'
              : pitrVerify
                ? 'physical verification'
                : pitrStatus
                  ? 'pitr status'
                  : 'nothing';
  const stanza = pitrBackup?.data?.stanza ?? pitrVerify?.data?.stanza ?? pitrExpire?.data?.stanza ?? pitrStatus?.data?.stanza ?? null;
  const subject = subjectOf(activity, tier, database, backupId, { stanza, type: pitrBackup?.data?.backups[0]?.type ?? null });
  const title =
    outcome === 'success'
      ? `${subject} succeeded`
      : reports.length === 0 && unreadable.length === 0
        ? 'Backup run failed: no backup report'
        : `${subject} failed`;

  const commits = [...new Set(reports.map((r) => r.report.commit).filter((c): c is string => c !== null))];
  return {
    type: 'dbops.backup',
    outcome,
    activity,
    title,
    reason: reason === null ? null : redact(reason),
    tier,
    backupId,
    database,
    sizeBytes,
    size: sizeBytes === null ? null : formatBytes(sizeBytes),
    durationMs,
    duration: durationMs === null ? null : formatMs(durationMs),
    throughputMiBs,
    targets,
    verification: verify?.data ? verificationSummary(verify.data) : null,
    replicate: replicate?.data ? replicateSummary(replicate.data) : null,
    prune: prune?.data ? pruneSummary(prune.data) : null,
    pitr:
      stanza === null
        ? null
        : {
            stanza,
            backup: pitrBackup?.data ? pitrBackupSummary(pitrBackup.data) : null,
            verification: pitrVerify?.data ? pitrVerifySummary(pitrVerify.data) : null,
            expire: pitrExpire?.data ? pitrExpireSummary(pitrExpire.data) : null,
            status: pitrStatus?.data ? pitrStatusSummary(pitrStatus.data) : null,
          },
    steps: reports.map(({ report }) => ({
      step: report.step,
      command: report.command,
      verdict: report.verdict,
      exitCode: report.exitCode,
      durationMs: report.durationMs,
      finishedAt: report.finishedAt,
    })),
    failedSteps: failedSteps.map((f) => ({ ...f, message: redact(f.message), hint: f.hint === null ? null : redact(f.hint) })),
    run: runLink(options.env),
    commit: commits.length === 1 ? commits[0]! : null,
    at: options.now.toISOString(),
  };
}

/**
 * Why the webhook does not get this event, or null when it does: notifications.on decides, with one
 * exception. A passing `pitr status` alone is never sent, whatever `on` says: it runs every 15 minutes, and a
 * success each time (96 messages a day) would bury the failures on the channel that exists to make them stand
 * out. Its job summary is still written; its failures are sent as `on` says, every time.
 */
export function notSentBecause(e: BackupEvent, on: readonly Outcome[]): string | null {
  if (!on.includes(e.outcome)) return `notifications.on is [${on.join(', ')}], this is a ${e.outcome}`;
  if (e.outcome === 'success' && e.activity === 'pitr status') return 'a passing pitr status is not announced (it runs every 15 minutes), only its failures';
  return null;
}

// ---- Slack --------------------------------------------------------------------------------------------

// Block Kit limits (Slack reference, "Blocks"): header text 150 characters, section text 3,000, at most 10
// fields of 2,000 each, at most 10 context elements, 50 blocks per message.
const HEADER_MAX = 150;
const SECTION_MAX = 3_000;
const FIELD_MAX = 2_000;
const FIELDS_PER_SECTION = 10;

/** Slack mrkdwn needs only &, < and > escaped; an unescaped `<` could form a link or an @channel ping. */
export const slackEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const mrkdwn = (s: string, max: number): SlackText => ({ type: 'mrkdwn', text: clip(s, max) });
const field = (label: string, value: string): SlackText => mrkdwn(`*${label}*\n${slackEscape(value)}`, FIELD_MAX);

/** Slack-compatible incoming-webhook JSON: `text` is the notification fallback, `blocks` the message. */
export function slackPayload(e: BackupEvent): SlackPayload {
  const icon = e.outcome === 'success' ? '✅' : '❌';
  const fields: SlackText[] = [];
  const add = (label: string, value: string | null) => {
    if (value !== null && value !== '') fields.push(field(label, value));
  };
  add('Tier', e.tier);
  add('Database', e.database);
  add('Backup', e.backupId);
  add('Size', e.size === null ? null : `${e.size} (encrypted)`);
  add('Duration', e.duration);
  add('Throughput', e.throughputMiBs === null ? null : `${e.throughputMiBs} MiB/s`);
  add(noun(e.targets.length, 'Target'), e.targets.map((t) => `${t.name} (${t.location})`).join(', '));
  add('Verification', e.verification?.summary ?? null);
  add('Replicate', e.replicate?.summary ?? null);
  add('Prune', e.prune?.summary ?? null);
  add('Stanza', e.pitr?.stanza ?? null);
  add('Physical backup', e.pitr?.backup ?? null);
  add('Repository verification', e.pitr?.verification ?? null);
  add('Expiry', e.pitr?.expire ?? null);
  add('Archiving', e.pitr?.status ?? null);

  const blocks: SlackBlock[] = [{ type: 'header', text: { type: 'plain_text', text: clip(`${icon} ${e.title}`, HEADER_MAX), emoji: true } }];
  if (e.outcome === 'failure') {
    const why =
      e.failedSteps.length > 0
        ? e.failedSteps.map((f) => `*${slackEscape(f.command)}* failed: ${slackEscape(f.message)}${f.hint ? `\n_Fix:_ ${slackEscape(f.hint)}` : ''}`).join('\n')
        : slackEscape(e.reason ?? 'failed');
    blocks.push({ type: 'section', text: mrkdwn(why, SECTION_MAX) });
  }
  for (let i = 0; i < fields.length; i += FIELDS_PER_SECTION) blocks.push({ type: 'section', fields: fields.slice(i, i + FIELDS_PER_SECTION) });
  const context = [
    e.run ? `<${slackEscape(e.run.url)}|${slackEscape(e.run.repository)} run ${slackEscape(e.run.id)}>` : null,
    e.commit ? `commit \`${slackEscape(e.commit.slice(0, 12))}\`` : null,
    `dbops · ${e.at.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}`,
  ].filter((c): c is string => c !== null);
  blocks.push({ type: 'context', elements: [mrkdwn(context.join(' · '), SECTION_MAX)] });

  const facts = [
    e.size,
    e.duration,
    e.throughputMiBs === null ? null : `${e.throughputMiBs} MiB/s`,
    e.targets.length ? `to ${e.targets.map((t) => t.name).join(', ')}` : null,
  ].filter(Boolean);
  const fallback = `${icon} ${e.title}${facts.length ? ` (${facts.join(', ')})` : ''}${e.reason && e.outcome === 'failure' ? `: ${e.reason}` : ''}`;
  return { text: clip(slackEscape(fallback), SECTION_MAX), blocks };
}

// ---- job summary --------------------------------------------------------------------------------------

/** The Markdown of the job summary: the event, then the same backup sections `dbops report` shows. */
export function summaryMarkdown(e: BackupEvent, reports: LoadedReport[], delivery: Delivery): string {
  const icon = e.outcome === 'success' ? VERDICT_ICON.pass : VERDICT_ICON.fail;
  const rows: string[][] = [];
  const row = (label: string, value: string | null) => {
    if (value !== null && value !== '') rows.push([label, value]);
  };
  row('Tier', e.tier ? text(e.tier) : null);
  row('Database', e.database ? code(e.database) : null);
  row('Backup', e.backupId ? code(e.backupId) : null);
  row('Size', e.size ? `${text(e.size)} (encrypted)` : null);
  row('Duration', e.duration ? text(e.duration) : null);
  row('Throughput', e.throughputMiBs === null ? null : `${e.throughputMiBs} MiB/s`);
  row(noun(e.targets.length, 'Target'), e.targets.map((t) => `${code(t.name)} ${text(t.location)}`).join(', '));
  row('Verification', e.verification ? text(e.verification.summary) : null);
  row('Replicate', e.replicate ? text(e.replicate.summary) : null);
  row('Prune', e.prune ? text(e.prune.summary) : null);
  row('Stanza', e.pitr ? code(e.pitr.stanza) : null);
  row('Physical backup', e.pitr?.backup ? text(e.pitr.backup) : null);
  row('Repository verification', e.pitr?.verification ? text(e.pitr.verification) : null);
  row('Expiry', e.pitr?.expire ? text(e.pitr.expire) : null);
  row('Archiving', e.pitr?.status ? text(e.pitr.status) : null);
  const head = [`## ${icon} ${text(e.title)}`];
  if (e.outcome === 'failure') {
    head.push(
      e.failedSteps.length > 0
        ? e.failedSteps.map((f) => `> ❌ **${text(f.command)}** failed: ${text(f.message)}${f.hint ? `<br>**Fix:** ${text(f.hint)}` : ''}`).join('\n>\n')
        : `> ❌ ${text(e.reason ?? 'failed')}`,
    );
  }
  if (rows.length > 0) head.push(table(['', 'This run'], rows));
  head.push(`<sub>Notification: ${text(deliveryLine(delivery))}</sub>`);
  const blocks: Block[] = [{ essential: true, markdown: head.join('\n\n') }, ...backupBlocks(reports)];
  return `${assemble(
    blocks,
    SUMMARY_BYTES,
    (s) => Buffer.byteLength(s, 'utf8'),
    (n) => `> ✂️ ${n} more ${noun(n, 'section')} left out: see the reports artifact.`,
  )}\n`;
}

/** GitHub accepts up to 1 MiB per step summary. */
const SUMMARY_BYTES = 1_000_000;

export function deliveryLine(d: Delivery): string {
  switch (d.status) {
    case 'sent':
      return `sent to ${d.host} (HTTP ${d.httpStatus}${d.attempts > 1 ? `, after ${d.attempts} attempts` : ''})`;
    case 'failed':
      return `NOT delivered to ${d.host ?? `the webhook in ${d.env}`}: ${d.reason}${d.attempts > 1 ? ` (${d.attempts} attempts)` : ''}`;
    case 'not-configured':
      return `no webhook: ${d.env} is not set (the job summary is the only notification)`;
    case 'not-wanted':
      return `not sent to ${d.host}: ${d.reason}`;
    case 'dry-run':
      return `dry run: not sent${d.host ? ` to ${d.host}` : d.reason ? ` (${d.reason})` : ''}`;
  }
}

// ---- the step -----------------------------------------------------------------------------------------
