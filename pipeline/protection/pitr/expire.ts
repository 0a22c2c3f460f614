import { parseDuration } from '../../core/duration.ts';
import { RefusedError } from '../../core/errors.ts';
import type { Runtime } from '../../core/runtime.ts';
import { withClient } from '../../infra/db/client.ts';
import { acquireOperationLock } from '../../infra/db/locks.ts';
import type { DbTarget } from '../../infra/db/url.ts';
import type { PhysicalBackup } from '../../infra/pgbackrest/info.ts';
import { mustPgbackrest } from '../../infra/pgbackrest/pgbackrest.ts';
import type { BackupsPolicy } from '../../policy/backups.ts';
import { planGfs, type Retainable } from '../backup/index.ts';
import { openSite, readVerifications, reposOf, stanzaInfo, verifiedState } from './operate.ts';
import type { FullDecision, PitrExpireData, PitrVerification, RepoExpirePlan } from './report.ts';

/** The full backup a diff or incr builds on, through its chain of priors. */
function fullOf(b: PhysicalBackup, byLabel: Map<string, PhysicalBackup>): string | null {
  let at: PhysicalBackup | undefined = b;
  for (let hops = 0; at && at.type !== 'full' && hops < 10_000; hops++) at = at.prior ? byLabel.get(at.prior) : undefined;
  return at?.type === 'full' ? at.label : null;
}

/**
 * Which full backups of each repository to expire, by the logical tier's GFS rules (planGfs: the same
 * days, ISO weeks and months of retention.zone, the keep_last floor, unverified_grace), plus one rule of
 * the physical tier: the newest verified full backup that ended before the WAL window began is kept, since
 * restoring any moment of the window starts from it; and the newest full backup stays whatever its state,
 * as pgBackRest keeps at least one. Pure.
 *
 * A full backup's diff and incr backups go with it (pgBackRest's `expire --set`). Verification records cover
 * a whole repository, so a failed one cannot say which backup is damaged: the caller refuses to expire
 * anything then rather than deleting healthy backups with the damaged one.
 */
export function planPitrExpire(
  backups: readonly PhysicalBackup[],
  records: PitrVerification[],
  policy: BackupsPolicy,
  repos: readonly number[],
  now: Date,
): RepoExpirePlan[] {
  const pitr = policy.pitr!;
  const windowStart = now.getTime() - parseDuration(pitr.retention.wal_window)!;
  return repos.map((repo) => {
    const own = backups.filter((b) => b.repo === repo);
    const byLabel = new Map(own.map((b) => [b.label, b]));
    const fulls = own.filter((b) => b.type === 'full');
    const status = (label: string): 'verified' | 'unverified' => (verifiedState(label, records)?.ok ? 'verified' : 'unverified');
    const items: Retainable[] = fulls.map((b) => ({ id: b.label, finishedAt: b.stoppedAt, series: `repo${repo}`, kind: 'scheduled', status: status(b.label) }));
    const decisions: FullDecision[] = planGfs(items, { ...policy.retention, ...pitr.retention }, now).map(({ item, keep, reasons }) => ({
      label: item.id,
      stoppedAt: item.finishedAt,
      status: item.status === 'verified' ? 'verified' : 'unverified',
      keep,
      reasons,
      dependents: own.filter((b) => b.type !== 'full' && fullOf(b, byLabel) === item.id).map((b) => b.label),
    }));
    // pgBackRest never expires a repository's last full backup; an old unverified one is still better than none.
    const newest = decisions[0];
    if (newest && !newest.keep) Object.assign(newest, { keep: true, reasons: ['newest full backup of the repository'] });
    const start = decisions.find((d) => d.status === 'verified' && Date.parse(d.stoppedAt) < windowStart);
    if (start) {
      if (!start.keep) start.reasons = [];
      start.keep = true;
      start.reasons.push(`start of the ${pitr.retention.wal_window} WAL window`);
    }
    const kept = decisions.filter((d) => d.keep);
    const from = start ?? kept.at(-1);
    return {
      repo,
      fulls: decisions,
      walFrom: from ? { label: from.label, stoppedAt: from.stoppedAt } : null,
      archiveFulls: from ? kept.indexOf(from) + 1 : 1,
    };
  });
}

/**
 * `pitr expire`: applies planPitrExpire with pgBackRest (`expire --set` for each full backup to go, then
 * `expire` with the archive retention that keeps WAL from the window's start), under the backup mode of the
 * lock protocol so it never runs beside a backup. With dryRun it only plans.
 */
export async function pitrExpire(
  input: { target: DbTarget; backups: BackupsPolicy; repo?: number | undefined; dryRun: boolean; now?: Date },
  rt: Runtime,
): Promise<PitrExpireData> {
  const { site, pgbackrest } = await openSite(input.target, input.backups, rt, { offline: input.dryRun });
  const repos = reposOf(site, input.repo);
  const records = await readVerifications(site);
  const info = await stanzaInfo(pgbackrest);
  const failed = info.backups.filter((b) => repos.includes(b.repo) && verifiedState(b.label, records)?.ok === false);
  if (failed.length > 0) {
    const record = records.filter((r) => !r.ok).at(-1);
    throw new RefusedError(
      `The newest verification of ${failed.map((b) => `repo${b.repo}/${b.label}`).join(', ')} failed${record ? ` (${record.at}: ${record.problems.slice(0, 3).join('; ')})` : ''}: nothing is expired while the repository is damaged, since the record cannot say which backup is.`,
      {
        hint: `Find the damaged backup from the problems, take a new full backup (dbops pitr backup --type full), expire the damaged one with \`pgbackrest --config=${site.configPath} --stanza=${pgbackrest.stanza} expire --set=LABEL\`, and run dbops pitr verify until it passes.`,
      },
    );
  }
  const plans = planPitrExpire(info.backups, records, input.backups, repos, input.now ?? new Date());
  const data: PitrExpireData = {
    stanza: pgbackrest.stanza,
    dryRun: input.dryRun,
    zone: input.backups.retention.zone,
    walWindow: input.backups.pitr!.retention.wal_window,
    repos: plans.map((p) => ({ ...p, expired: [] })),
  };
  if (input.dryRun) return data;

  await withClient(input.target, { log: rt.log, applicationName: 'dbops pitr expire' }, async (c) => {
    await acquireOperationLock(c, 'backup', { waitMs: 60 * 60_000, signal: rt.signal, what: 'Expiring physical backups' });
    for (const plan of data.repos) {
      for (const full of plan.fulls.filter((f) => !f.keep)) {
        rt.progress(
          `Expiring ${full.label} of repository ${plan.repo}${full.dependents.length ? ` with ${full.dependents.length} diff/incr backup(s)` : ''} …`,
        );
        await mustPgbackrest(pgbackrest, 'expire', [`--repo=${plan.repo}`, `--set=${full.label}`]);
      }
      // Backups are never expired by count (repo-retention-full is out of reach in the configuration); this
      // run only trims WAL older than the window's start, keeping what older backups need to be consistent.
      await mustPgbackrest(pgbackrest, 'expire', [
        `--repo=${plan.repo}`,
        `--repo${plan.repo}-retention-archive-type=full`,
        `--repo${plan.repo}-retention-archive=${plan.archiveFulls}`,
      ]);
    }
  });
  const left = new Set((await stanzaInfo(pgbackrest)).backups.map((b) => `${b.repo}/${b.label}`));
  for (const plan of data.repos) plan.expired = plan.fulls.filter((f) => !f.keep && !left.has(`${plan.repo}/${f.label}`)).map((f) => f.label);
  return data;
}
