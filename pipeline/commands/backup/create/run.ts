import { join } from 'node:path';
import type { StepContext } from '../../../cli/contract.ts';
import type { StepResult } from '../../../core/result.ts';
import { createBackup, type BackupCreateData, mibPerSecond } from '../../../protection/backup/index.ts';
import type { BackupCreateInputs } from './spec.ts';
import { ownSessionDatabase } from '../../flags.ts';
import { formatBytes, formatCount, formatMs } from '../../../core/format.ts';

export type { BackupCreateData };

/** `dbops backup create`: the policy and the database (checked before anything is written), then the backup. */
export async function run(input: BackupCreateInputs, ctx: StepContext): Promise<StepResult<BackupCreateData>> {
  const { backups } = await ctx.policies('backups');
  const database = await ownSessionDatabase(ctx, 'dbops backup create');
  return createBackup({ ...input, database, policy: backups.value, policyFile: backups.path ?? join(input.policiesDir, 'backups.yaml') }, ctx);
}

export function render(result: StepResult<BackupCreateData>): string {
  const { manifest: m, target, swept } = result.data;
  const rows = m.tables.reduce((n, t) => n + BigInt(t.rows), 0n);
  const seconds = (Date.parse(m.finishedAt) - Date.parse(m.startedAt)) / 1000;
  const lines: Array<[string, string]> = [
    ['database', `${m.database.name} (PostgreSQL ${m.database.serverVersion}, system ${m.database.systemIdentifier})`],
    ['tier', m.tier],
    ['target', `${target.name} (${target.location})`],
    ['tables', `${formatCount(m.tables.length)} (${rows.toLocaleString('en-US')} rows), counted and hashed in the dump's snapshot`],
    ['dump', `${formatBytes(m.dump.plaintextBytes)} (pg_dump -Fc -Z${m.dump.compressionLevel})`],
    ['stored', `${formatBytes(m.object.ciphertextBytes)} age-encrypted to ${m.encryption.recipients.map((r) => r.name).join(', ')}`],
    ['sha256', m.object.sha256],
    [
      'duration',
      `${formatMs(seconds * 1000)}, ${mibPerSecond(m.object.ciphertextBytes, seconds * 1000)} MiB/s (whole run ${result.data.throughputMiBs} MiB/s)`,
    ],
  ];
  if (m.note) lines.push(['note', m.note]);
  if (swept.length > 0) lines.push(['swept', `${swept.length} leftover(s) of interrupted backups`]);
  const width = Math.max(...lines.map(([k]) => k.length));
  return `\nBackup ${m.id} stored.\n\n${lines.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n')}\n\nIt is listed from now on; verify it with \`dbops backup verify ${m.id}\`.\n`;
}
