import {
  deleteBackup,
  listBackups,
  openTargets,
  sweepLeftovers,
  type BackupPruneData,
  type RetentionDecision,
  planRetention,
} from '../../../protection/backup/index.ts';
import { parseDuration } from '../../../core/duration.ts';
import { ExitCode, isDbopsError } from '../../../core/errors.ts';
import type { BackupsPolicy } from '../../../policy/backups.ts';
import type { BackupPruneInputs } from './spec.ts';
import type { Storage } from '../../../infra/storage/types.ts';
import { alignedTable, plural, noun } from '../../../core/format.ts';
import type { Finding, StepResult } from '../../../core/result.ts';
import type { StepContext } from '../../../cli/contract.ts';
import { inZone, utcMinute } from '../../../core/time.ts';

type TargetResult = BackupPruneData['targets'][number];

interface Failure {
  target: string;
  what: string;
  message: string;
  hint?: string | undefined;
}

function failureOf(target: Storage, what: string, e: unknown): Failure {
  // Only dbops' own errors (storage unreachable, permission denied…) are reported and survived; anything
  // else is a bug and must surface as one.
  if (!isDbopsError(e)) throw e;
  return { target: target.name, what, message: e.message, hint: e.hint };
}

async function pruneTarget(
  storage: Storage,
  policy: BackupsPolicy['retention'],
  input: BackupPruneInputs,
  ctx: StepContext,
  now: Date,
  failures: Failure[],
): Promise<TargetResult> {
  const result: TargetResult = { name: storage.name, location: storage.location, decisions: [], deleted: [], swept: [] };
  try {
    result.swept = await sweepLeftovers(storage, parseDuration(policy.partial_after) ?? 0, ctx.log, { dryRun: input.dryRun, now });
  } catch (e) {
    failures.push(failureOf(storage, 'sweep partial uploads', e));
  }
  let decisions: RetentionDecision[];
  try {
    decisions = planRetention(await listBackups(storage, ctx.log), policy, now);
  } catch (e) {
    failures.push(failureOf(storage, 'list backups', e));
    return result;
  }
  result.decisions = decisions;
  if (input.dryRun) return result;
  // One failed deletion must not stop the others: each is tried, and the failures are reported together.
  for (const d of decisions.filter((x) => !x.keep)) {
    if (ctx.signal.aborted) {
      failures.push({ target: storage.name, what: `delete ${d.id}`, message: 'interrupted before this deletion', hint: 'Run dbops backup prune again.' });
      continue;
    }
    try {
      await deleteBackup(storage, d.id);
      result.deleted.push(d.id);
      ctx.log.info({ target: storage.name, id: d.id }, `deleted ${d.id} from target "${storage.name}": ${d.reasons.join('; ')}`);
    } catch (e) {
      failures.push(failureOf(storage, `delete ${d.id}`, e));
    }
  }
  return result;
}

/**
 * `dbops backup prune`: for each target (or --target), sweep stale partial uploads, list the backups from
 * the target's own catalog (its verification records decide what counts there), plan GFS retention and,
 * unless --dry-run, delete what the plan does not keep. A target or a deletion that fails does not stop the
 * others; the run then ends with exit 3 and the report still says what was deleted.
 */
export async function run(input: BackupPruneInputs, ctx: StepContext): Promise<StepResult<BackupPruneData>> {
  const { backups } = await ctx.policies('backups');
  const policy = backups.value;
  const targets = openTargets(policy, ctx.env, ctx.log);
  const selected = input.target === undefined ? targets.all() : [targets.get(input.target)];
  const now = new Date();
  const failures: Failure[] = [];
  const results: TargetResult[] = [];
  for (const storage of selected) results.push(await pruneTarget(storage, policy.retention, input, ctx, now, failures));

  const data: BackupPruneData = { dryRun: input.dryRun, zone: policy.retention.zone, targets: results };
  const findings: Finding[] = failures.map((f) => ({
    rule: 'backup/prune-failed',
    severity: 'error',
    message: `Target "${f.target}": could not ${f.what}: ${f.message}`,
    ...(f.hint ? { help: f.hint } : {}),
  }));
  if (failures.length === 0) return { verdict: 'pass', findings, data };
  return {
    verdict: 'fail',
    findings,
    data,
    exitCode: ExitCode.Environment,
    error: {
      message: `Prune did not complete: ${failures.length} ${noun(failures.length, 'operation')} failed (${failures.map((f) => `${f.target}: ${f.what}`).join(', ')}).`,
      hint: 'Fix the storage problem named above and run dbops backup prune again; what was deleted is listed in the report, the rest is planned again.',
    },
  };
}

export function render(result: StepResult<BackupPruneData>): string {
  const d = result.data;
  const blocks: string[] = [];
  for (const t of d.targets) {
    let out = `Target "${t.name}" (${t.location}), days/weeks/months in ${d.zone}:\n`;
    if (t.decisions.length === 0) out += '  no backups\n';
    else {
      const deleted = new Set(t.deleted);
      const rows = t.decisions.map((x) => [
        x.id,
        x.tier,
        utcMinute(x.finishedAt),
        inZone(x.finishedAt, d.zone),
        x.status === 'failed' ? 'FAILED' : x.status,
        x.keep ? 'KEEP' : d.dryRun || deleted.has(x.id) ? 'DELETE' : 'DELETE (failed)',
        x.reasons.join('; '),
      ]);
      out += `${alignedTable(['ID', 'TIER', 'FINISHED (UTC)', `FINISHED (${d.zone})`, 'STATUS', 'DECISION', 'REASONS'], rows).join('\n')}\n`;
    }
    const kept = t.decisions.filter((x) => x.keep).length;
    const toDelete = t.decisions.length - kept;
    const deletion = d.dryRun
      ? `${toDelete} to delete`
      : `${t.deleted.length} deleted${t.deleted.length < toDelete ? ` (${toDelete - t.deleted.length} failed)` : ''}`;
    out += `  ${kept} kept, ${deletion}`;
    if (t.swept.length > 0) out += `; ${d.dryRun ? 'would sweep' : 'swept'} ${plural(t.swept.length, 'partial upload')}: ${t.swept.join(', ')}`;
    blocks.push(`${out}\n`);
  }
  const kept = d.targets.reduce((n, t) => n + t.decisions.filter((x) => x.keep).length, 0);
  const planned = d.targets.reduce((n, t) => n + t.decisions.filter((x) => !x.keep).length, 0);
  const deleted = d.targets.reduce((n, t) => n + t.deleted.length, 0);
  let total = `Total over ${plural(d.targets.length, 'target')}: ${kept} kept, ${d.dryRun ? `${planned} to delete` : `${deleted} deleted`}.\n`;
  if (d.dryRun) total += 'dry run: nothing deleted.\n';
  for (const f of result.findings) total += `error: ${f.message}\n`;
  return `${blocks.join('\n')}\n${total}`;
}
