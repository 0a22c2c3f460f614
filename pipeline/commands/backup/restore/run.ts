import type { StepContext } from '../../../cli/contract.ts';
import type { StepResult } from '../../../core/result.ts';
import { formatMs } from '../../../core/format.ts';
import { parseDatabaseUrl } from '../../../infra/db/url.ts';
import { restoreBackup, type BackupRestoreData } from '../../../protection/backup/index.ts';
import type { BackupRestoreInputs } from './spec.ts';

/** `dbops backup restore`: the target URL and the policy; protection/backup restores. */
export async function run(input: BackupRestoreInputs, ctx: StepContext): Promise<StepResult<BackupRestoreData>> {
  const into = parseDatabaseUrl(input.targetUrl, undefined, '--target-url');
  const { backups } = await ctx.policies('backups');
  return restoreBackup({ ...input, into, policy: backups.value }, ctx);
}

export function render(result: StepResult<BackupRestoreData>): string {
  const d = result.data;
  const lines = [
    `Backup ${d.backupId} (${d.tier}) from target ${d.source.name} into ${d.targetUrl}${d.createdDatabase ? ' (database created)' : ''}${d.forced ? ' with --force' : ''}`,
    ...(d.rolesCreated.length > 0 ? [`  roles created (NOLOGIN): ${d.rolesCreated.join(', ')}`] : []),
    ...d.phases.map((p) => `  ${p.name.padEnd(20)} ${formatMs(p.durationMs)}`),
    ...result.findings.filter((f) => f.severity !== 'error' || f.rule === 'backup/manifest').map((f) => `  ${f.severity === 'error' ? '✗' : '·'} ${f.message}`),
    '',
    result.verdict === 'pass'
      ? `Restored: ${d.tables === 1 ? 'the table matches' : `all ${d.tables} tables match`} the manifest; planner statistics rebuilt (ANALYZE).`
      : d.phases.some((p) => p.name === 'manifest')
        ? `FAILED: the restored database does not match the manifest.`
        : `FAILED: the restore did not complete.`,
  ];
  return `${lines.join('\n')}\n`;
}
