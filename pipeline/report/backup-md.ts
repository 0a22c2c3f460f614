import type { BackupCreateData, BackupPruneData, BackupReplicateData, BackupRestoreData, BackupVerifyData } from '../protection/backup/index.ts';
import type { PitrBackupData, PitrExpireData, PitrStatusData, PitrVerifyData } from '../protection/pitr/index.ts';
// markdown.ts imports this module too; only functions and constants used at call time cross the cycle.
import { type Block, code, details, table, text, VERDICT_ICON } from '../core/markdown.ts';
import type { LoadedReport } from './store.ts';
import { formatAge, formatBytes, formatCount, formatMs, noun, plural } from '../core/format.ts';

/**
 * The backup sections, logical and physical (pitr) tier, of the Markdown report (`dbops report --format
 * markdown`) and of the job summary `dbops backup notify` writes: compact facts per step, tables only where
 * there are several rows.
 */

/** The backup steps' report names, in the order a scheduled run executes them. */
export const BACKUP_STEPS = ['backup-create', 'backup-verify', 'backup-replicate', 'backup-prune', 'backup-restore'] as const;
/** The physical tier's (pitr.yml): backup then verify in one job, the status alone every 15 minutes. */
export const PITR_STEPS = ['pitr-backup', 'pitr-verify', 'pitr-expire', 'pitr-status'] as const;
/** Every report `dbops backup notify` announces: one channel for both tiers, so a failure of either is heard the same way. */
export const NOTIFY_STEPS = [...BACKUP_STEPS, ...PITR_STEPS] as const;
export const isBackupStep = (step: string) => (NOTIFY_STEPS as readonly string[]).includes(step);

type Report = LoadedReport['report'];
const utc = (iso: string) =>
  iso
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z')
    .replace(/Z$/, ' UTC');
const MAX_DECISION_ROWS = 60;
/** Problems of a failed repository verification shown; the report JSON has all of them. */
const MAX_PROBLEM_ROWS = 20;

function createBlock(r: Report, d: BackupCreateData): Block {
  const m = d.manifest;
  const rows = m.tables.reduce((n, t) => n + BigInt(t.rows), 0n);
  const facts = [
    `Tier ${text(m.tier)}`,
    `database ${code(m.database.name)} (PostgreSQL ${text(m.database.serverVersion)})`,
    `${text(formatBytes(m.object.ciphertextBytes))} encrypted (dump ${text(formatBytes(m.dump.plaintextBytes))}, compression level ${m.dump.compressionLevel})`,
    `${text(formatMs(r.durationMs))} at ${d.throughputMiBs.toFixed(1)} MiB/s`,
    `stored on ${code(d.target.name)} ${text(d.target.location)}`,
    `SHA-256 ${code(m.object.sha256.slice(0, 16))}…`,
    `age recipients ${m.encryption.recipients.map((x) => text(x.name)).join(', ')}`,
    `${formatCount(m.tables.length)} tables, ${text(rows.toLocaleString('en-US'))} rows`,
    `snapshot ${text(utc(m.startedAt))}`,
  ];
  const parts = [`### ${VERDICT_ICON[r.verdict]} Backup created: ${code(m.id)}`, facts.join(' · ')];
  if (m.note) parts.push(`Note: ${text(m.note)}`);
  if (d.swept.length > 0)
    parts.push(`Removed ${d.swept.length} partial ${noun(d.swept.length, 'upload')} of earlier killed runs: ${d.swept.map((s) => code(s)).join(', ')}`);
  return { markdown: parts.join('\n\n') };
}

function verifyBlock(r: Report, d: BackupVerifyData): Block {
  const v = d.record;
  const facts = [
    `Tier ${text(d.tier)}`,
    `database ${code(d.database)}`,
    `${text(formatBytes(d.ciphertextBytes))} read from ${code(v.target)}`,
    `${text(formatMs(v.durationMs))}`,
    ...(v.restoreMs !== undefined ? [`restore time ${text(formatMs(v.restoreMs))} (RTO evidence)`] : []),
  ];
  const checks = table(
    ['Check', 'Result', 'Took', 'Detail'],
    v.checks.map((c) => [code(c.name), c.ok ? '✅ passed' : '❌ **failed**', text(formatMs(c.durationMs)), c.message ? text(c.message) : '']),
    ['l', 'l', 'r', 'l'],
  );
  const level = { read: 'read (SHA-256, decryption, full archive read)', restore: 'restore test', copy: 'copy check' }[v.level];
  return {
    markdown: [
      `### ${VERDICT_ICON[r.verdict]} Backup ${v.ok ? 'verified' : 'verification failed'}: ${code(d.backupId)}, ${text(level)}`,
      facts.join(' · '),
      checks,
    ].join('\n\n'),
  };
}

function replicateBlock(r: Report, d: BackupReplicateData): Block {
  const parts = [`### ${VERDICT_ICON[r.verdict]} Offsite copies from ${code(d.from.name)}`];
  if (d.targets.length === 0) {
    parts.push('No other target in policies/backups.yaml: nothing to copy.');
    return { markdown: parts.join('\n\n') };
  }
  parts.push(
    table(
      ['Target', 'Location', 'Copied', 'Already there', 'Failed'],
      d.targets.map((t) => [
        code(t.name),
        text(t.location),
        `${t.copied.length}${t.copied.length ? ` (${text(formatBytes(t.copied.reduce((n, c) => n + c.bytes, 0)))})` : ''}`,
        String(t.present.length),
        t.failed.length ? `❌ ${t.failed.length}` : '0',
      ]),
      ['l', 'l', 'r', 'r', 'r'],
    ),
  );
  const failed = d.targets.flatMap((t) => t.failed.map((f) => `- ${code(t.name)} ${code(f.id)}: ${text(f.message)}`));
  if (failed.length > 0) parts.push(failed.join('\n'));
  return { markdown: parts.join('\n\n') };
}

function pruneBlock(r: Report, d: BackupPruneData): Block {
  const parts = [`### ${VERDICT_ICON[r.verdict]} Retention${d.dryRun ? ' (dry run: nothing deleted)' : ''}`, `Days, ISO weeks and months of ${code(d.zone)}.`];
  parts.push(
    table(
      ['Target', 'Kept', d.dryRun ? 'Would delete' : 'Deleted', 'Partial uploads removed'],
      d.targets.map((t) => [
        code(t.name),
        String(t.decisions.filter((x) => x.keep).length),
        String(d.dryRun ? t.decisions.filter((x) => !x.keep).length : t.deleted.length),
        String(t.swept.length),
      ]),
      ['l', 'r', 'r', 'r'],
    ),
  );
  for (const t of d.targets) {
    if (t.decisions.length === 0) continue;
    // Newest first, as people read a backup list; the whole list is in the report JSON.
    const shown = [...t.decisions].sort((a, b) => b.finishedAt.localeCompare(a.finishedAt)).slice(0, MAX_DECISION_ROWS);
    const rows = shown.map((x) => [code(x.id), text(x.tier), text(x.status), x.keep ? 'keep' : '**delete**', text(x.reasons.join('; '))]);
    const more = t.decisions.length - shown.length;
    parts.push(
      details(
        `Decisions on ${code(t.name)} (${t.decisions.length})`,
        `${table(['Backup', 'Tier', 'Status', 'Decision', 'Why'], rows)}${more > 0 ? `\n\n… and ${more} older.` : ''}`,
      ),
    );
  }
  return { markdown: parts.join('\n\n') };
}

function restoreBlock(r: Report, d: BackupRestoreData): Block {
  const facts = [
    `Tier ${text(d.tier)}`,
    `from ${code(d.source.name)}`,
    d.createdDatabase ? 'database created' : d.forced ? 'existing database overwritten (--force)' : 'into an empty database',
    ...(d.rolesCreated.length ? [`roles created: ${d.rolesCreated.map((x) => code(x)).join(', ')}`] : []),
    d.manifestMatched ? `✅ ${formatCount(d.tables)} tables match the manifest` : '❌ the tables do not match the manifest',
    text(formatMs(r.durationMs)),
  ];
  const phases = table(
    ['Phase', 'Took'],
    d.phases.map((p) => [text(p.name), text(formatMs(p.durationMs))]),
    ['l', 'r'],
  );
  return {
    markdown: [
      `### ${VERDICT_ICON[r.verdict]} Restore of ${code(d.backupId)} into ${code(d.targetUrl)}`,
      facts.join(' · '),
      ...(d.phases.length ? [phases] : []),
    ].join('\n\n'),
  };
}

function pitrBackupBlock(r: Report, d: PitrBackupData): Block {
  const rows = d.backups.map(
    (b) =>
      `- ${code(b.label)} ${text(b.type)}${b.prior ? ` on ${code(b.prior)}` : ''} in repository ${b.repo}: ${text(formatBytes(b.sizeBytes))} of cluster, ${text(formatBytes(b.repositoryBytes))} stored · WAL ${code(b.walStart)}…${code(b.walStop)}`,
  );
  return {
    markdown: [`### ${VERDICT_ICON[r.verdict]} Physical backup of stanza ${code(d.stanza)}`, rows.join('\n'), `Took ${text(formatMs(d.durationMs))}.`].join(
      '\n\n',
    ),
  };
}

function pitrVerifyBlock(r: Report, d: PitrVerifyData): Block {
  const v = d.record;
  const facts = `${plural(v.backups.length, 'backup')} and their WAL, every file's checksum · ${text(formatMs(v.durationMs))}`;
  const parts = [`### ${VERDICT_ICON[r.verdict]} Repository ${v.ok ? 'verified' : 'verification failed'}: stanza ${code(d.stanza)}`, facts];
  if (v.problems.length > 0) {
    const shown = v.problems.slice(0, MAX_PROBLEM_ROWS).map((p) => `- ❌ ${text(p)}`);
    const more = v.problems.length - shown.length;
    parts.push(`${shown.join('\n')}${more > 0 ? `\n\n… and ${more} more.` : ''}`);
  }
  return { markdown: parts.join('\n\n') };
}

function pitrExpireBlock(r: Report, d: PitrExpireData): Block {
  const lines = d.repos.map((p) => {
    const gone = p.fulls.filter((f) => !f.keep);
    const what =
      gone.length === 0
        ? 'nothing to expire'
        : `${d.dryRun ? 'would expire' : 'expired'} ${gone.map((f) => `${code(f.label)}${f.dependents.length ? ` (+${f.dependents.length} diff/incr)` : ''}`).join(', ')}`;
    return `- repository ${p.repo}: ${plural(p.fulls.length - gone.length, 'full backup')} kept, ${what}${p.walFrom ? ` · WAL from ${code(p.walFrom.label)}` : ''}`;
  });
  return {
    markdown: [`### ${VERDICT_ICON[r.verdict]} Physical backups expired: stanza ${code(d.stanza)} (WAL window ${text(d.walWindow)})`, lines.join('\n')].join(
      '\n\n',
    ),
  };
}

function pitrStatusBlock(r: Report, d: PitrStatusData): Block {
  const a = d.archiving;
  // Ages as of the status run, not of whoever reads the summary later.
  const ago = (iso: string | null) => (iso ? `${text(formatAge(Date.parse(r.finishedAt) - Date.parse(iso)))} before the check` : 'never');
  const full = d.repository.backups.full;
  const rows = [
    ['RPO exposure', `${d.exposureMs > d.rpoMs ? '❌ ' : ''}${text(formatAge(d.exposureMs))} (objective ${text(formatAge(d.rpoMs))})`],
    ['Last archived', a.lastArchivedWal ? `${code(a.lastArchivedWal)}, ${ago(a.lastArchivedAt)}` : 'nothing yet'],
    ['Failed attempts', `${a.failedCount}${a.lastFailedWal ? `, the newest for ${code(a.lastFailedWal)} ${ago(a.lastFailedAt)}` : ''}`],
    ['Waiting', plural(a.ready, 'segment')],
    ['Newest full backup', full ? `${code(full.label)}, ${ago(full.stoppedAt)}` : '❌ none'],
    ['Heartbeat', d.heartbeat ? ago(d.heartbeat.at) : 'none'],
    ['Verification', d.lastVerification ? `${d.lastVerification.ok ? 'passed' : '❌ failed'} ${ago(d.lastVerification.at)}` : 'never'],
  ];
  const parts = [`### ${VERDICT_ICON[r.verdict]} Point-in-time recovery status: stanza ${code(d.stanza)}`, table(['', 'This check'], rows)];
  // Warnings too: a passing status can carry one (the heartbeat stopped), and this is where it shows.
  if (r.findings.length > 0) parts.push(r.findings.map((f) => `- ${f.severity === 'error' ? '❌' : '⚠️'} ${text(f.message)}`).join('\n'));
  return { markdown: parts.join('\n\n') };
}

/** One block per backup report that has data (a step that stopped is shown by the headline with its error). */
export function backupBlocks(reports: readonly LoadedReport[]): Block[] {
  const blocks: Block[] = [];
  for (const step of NOTIFY_STEPS) {
    const r = reports.find((x) => x.report.step === step && x.report.data !== null)?.report;
    if (!r) continue;
    if (step === 'backup-create') blocks.push(createBlock(r, r.data as BackupCreateData));
    else if (step === 'backup-verify') blocks.push(verifyBlock(r, r.data as BackupVerifyData));
    else if (step === 'backup-replicate') blocks.push(replicateBlock(r, r.data as BackupReplicateData));
    else if (step === 'backup-prune') blocks.push(pruneBlock(r, r.data as BackupPruneData));
    else if (step === 'backup-restore') blocks.push(restoreBlock(r, r.data as BackupRestoreData));
    else if (step === 'pitr-backup') blocks.push(pitrBackupBlock(r, r.data as PitrBackupData));
    else if (step === 'pitr-verify') blocks.push(pitrVerifyBlock(r, r.data as PitrVerifyData));
    else if (step === 'pitr-expire') blocks.push(pitrExpireBlock(r, r.data as PitrExpireData));
    else blocks.push(pitrStatusBlock(r, r.data as PitrStatusData));
  }
  return blocks;
}
