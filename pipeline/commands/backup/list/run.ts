import { listBackups, listIncomplete, openTargets, type BackupEntry } from '../../../protection/backup/index.ts';
import { physicalTierOf, type PhysicalTier } from '../../../protection/pitr/index.ts';
import type { BackupListInputs } from './spec.ts';
import type { StepContext } from '../../../cli/contract.ts';
import type { StepResult } from '../../../core/result.ts';
import { utcMinute } from '../../../core/time.ts';
import { alignedTable, formatAge, formatBytes, noun } from '../../../core/format.ts';

export interface BackupListData {
  target: { name: string; location: string };
  /** Tier filter applied (--tier), if any. */
  tier: BackupEntry['manifest']['tier'] | null;
  /** Complete backups (a manifest that parses), oldest first, with their verification records on this target. */
  backups: BackupEntry[];
  /** Backup folders without a manifest: uploads killed, failing or still running. Never usable; prune sweeps them. */
  incomplete: Array<{ id: string; bytes: number; modified: string }>;
  /** When the list was taken (ages are relative to it). */
  at: string;
  /** The physical tier (pgBackRest, `dbops pitr list`): null when pitr: is not configured, PITR is not set up, or it could not be listed. */
  physical: PhysicalTier | null;
  /** Why `physical` is null although pitr: is configured; null otherwise. */
  physicalReason: string | null;
}

/**
 * `dbops backup list`: the complete backups of one target (the primary unless --target), oldest first, and
 * beside them the physical tier when pitr: is configured.
 */
export async function run(input: BackupListInputs, ctx: StepContext): Promise<StepResult<BackupListData>> {
  const { backups } = await ctx.policies('backups');
  const storage = openTargets(backups.value, ctx.env, ctx.log).get(input.target);
  const all = await listBackups(storage, ctx.log);
  const incomplete = await listIncomplete(storage);
  // ctx.database() would create and start the embedded cluster: it is asked only when a URL was given.
  const url = input.databaseUrl ?? ctx.env['DATABASE_URL'];
  const tier = await physicalTierOf({ backups: backups.value, database: url ? () => ctx.database() : undefined }, ctx);
  return {
    verdict: 'pass',
    findings: [],
    data: {
      target: { name: storage.name, location: storage.location },
      tier: input.tier ?? null,
      backups: input.tier ? all.filter((e) => e.manifest.tier === input.tier) : all,
      incomplete: incomplete.map((i) => ({ id: i.id, bytes: i.bytes, modified: i.modified.toISOString() })),
      at: new Date().toISOString(),
      physical: tier.physical,
      physicalReason: tier.reason,
    },
  };
}

function statusText(e: BackupEntry): string {
  if (e.status === 'unverified') return 'unverified';
  if (e.status === 'verified') return `verified ${e.verified?.level ?? ''} ${e.verified ? utcMinute(e.verified.at) : ''}`.replace(/\s+/g, ' ').trim();
  const record = [...e.verifications].reverse().find((v) => !v.ok);
  const failed = record?.checks.filter((c) => !c.ok).map((c) => c.name) ?? [];
  return `FAILED: ${failed.length > 0 ? failed.join(', ') : (record?.level ?? 'verification')}`;
}

export function render(result: StepResult<BackupListData>): string {
  const d = result.data;
  const where = `target "${d.target.name}" (${d.target.location})`;
  const lines: string[] = [];
  if (d.backups.length === 0) {
    lines.push(d.tier ? `No ${d.tier} backups on ${where}.` : `No backups on ${where}.`);
  } else {
    const now = Date.parse(d.at);
    const head = ['ID', 'TIER', 'FINISHED (UTC)', 'AGE', 'SIZE', 'STATUS', 'DATABASE'];
    const rows = d.backups.map((e) => [
      e.manifest.id,
      e.manifest.tier,
      utcMinute(e.manifest.finishedAt),
      formatAge(now - Date.parse(e.manifest.finishedAt)),
      formatBytes(e.manifest.object.ciphertextBytes),
      statusText(e),
      e.manifest.database.name,
    ]);
    lines.push(
      `${d.backups.length} ${d.tier ? `${d.tier} ` : ''}${noun(d.backups.length, 'backup')} on ${where}, oldest first:`,
      '',
      ...alignedTable(head, rows, new Set([3, 4])),
    );
    const total = d.backups.reduce((n, e) => n + e.manifest.object.ciphertextBytes, 0);
    const by = (s: BackupEntry['status']) => d.backups.filter((e) => e.status === s).length;
    lines.push('', `  ${formatBytes(total)} in total; ${by('verified')} verified, ${by('failed')} failed, ${by('unverified')} unverified.`);
  }
  if (d.incomplete.length > 0) {
    lines.push(
      '',
      `${d.incomplete.length} incomplete ${noun(d.incomplete.length, 'upload')} (no manifest, not usable): ${d.incomplete.map((i) => i.id).join(', ')}.`,
    );
    lines.push(
      '  They belong to a create or replicate that was killed, failed or is still running; dbops backup prune removes them after retention.partial_after.',
    );
  }
  if (d.backups.length === 0 && !d.tier) lines.push('Take one with: dbops backup create --tier daily');
  lines.push(...physicalLines(d));
  return `${lines.join('\n')}\n`;
}

/** The physical tier after the logical one; nothing at all when pitr: is not configured. */
function physicalLines(d: BackupListData): string[] {
  const p = d.physical;
  if (!p) return d.physicalReason ? ['', `Physical tier: ${d.physicalReason}`] : [];
  const of = `pgBackRest stanza ${p.stanza} of ${p.database}`;
  if (p.backups.length === 0) return ['', `No physical backups (${of}). Take one with: dbops pitr backup --type full`];
  const now = Date.parse(d.at);
  const head = ['LABEL', 'TYPE', 'REPO', 'STOPPED (UTC)', 'AGE', 'SIZE', 'STATUS'];
  const rows = p.backups.map((b) => [
    b.label,
    b.type,
    `repo${b.repo}`,
    utcMinute(b.stoppedAt),
    formatAge(now - Date.parse(b.stoppedAt)),
    formatBytes(b.repositoryBytes),
    b.verified ? `${b.verified.ok ? 'verified' : 'FAILED verification'} ${utcMinute(b.verified.at)}` : 'unverified',
  ]);
  const total = p.backups.reduce((n, b) => n + b.repositoryBytes, 0);
  const count = (ok: boolean | null) => p.backups.filter((b) => (b.verified ? b.verified.ok === ok : ok === null)).length;
  return [
    '',
    `${p.backups.length} physical ${noun(p.backups.length, 'backup')} (${of}), oldest first:`,
    '',
    ...alignedTable(head, rows, new Set([4, 5])),
    '',
    `  ${formatBytes(total)} in the repositories; ${count(true)} verified, ${count(false)} failed, ${count(null)} unverified.`,
    `  ${p.archive ? `Archived WAL: ${p.archive.min} … ${p.archive.max}.` : 'No WAL archived yet.'}`,
  ];
}
