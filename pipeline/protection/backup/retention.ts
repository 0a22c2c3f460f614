import { parseDuration } from '../../core/duration.ts';
import type { BackupsPolicy } from '../../policy/backups.ts';
import type { BackupEntry } from './manifest.ts';
import type { RetentionDecision } from './report.ts';
import { localDate } from '../../core/time.ts';

type RetentionPolicy = BackupsPolicy['retention'];

/** The GFS tiers a scheduled backup can be kept by, in the order their reasons are listed. */
const GFS = ['daily', 'weekly', 'monthly'] as const;
type Gfs = (typeof GFS)[number];

export interface Buckets {
  /** Calendar day in the zone: `2026-11-23`. */
  day: string;
  /** ISO 8601 week (Monday to Sunday, ISO week-year): `2026-W47`. */
  week: string;
  /** Calendar month in the zone: `2026-11`. */
  month: string;
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/**
 * Day, ISO week and month keys of an instant in `zone`. Keys of one kind sort as time, so "the last n" is the
 * n greatest. The ISO week is computed from the local Y-M-D with UTC arithmetic (no DST in UTC): the week
 * belongs to the year of its Thursday, and week 1 is the week holding that year's first Thursday.
 */
export function bucketsOf(instant: Date, zone: string): Buckets {
  const { year, month, day } = localDate(instant, zone);
  const DAY = 86_400_000;
  const date = Date.UTC(year, month - 1, day);
  const isoWeekday = new Date(date).getUTCDay() || 7;
  const thursday = new Date(date + (4 - isoWeekday) * DAY);
  const isoYear = thursday.getUTCFullYear();
  const week = Math.floor((thursday.getTime() - Date.UTC(isoYear, 0, 1)) / DAY / 7) + 1;
  return { day: `${pad(year, 4)}-${pad(month)}-${pad(day)}`, week: `${pad(isoYear, 4)}-W${pad(week)}`, month: `${pad(year, 4)}-${pad(month)}` };
}

/**
 * What GFS retention needs to know of one backup, whichever tier holds it: a logical dump (planRetention
 * below) or a pgBackRest full backup (protection/pitr/expire.ts). One planner, so both tiers keep the same
 * calendar days, weeks and months by the same rules.
 */
export interface Retainable {
  id: string;
  /** ISO 8601 UTC; a value that is not a timestamp keeps the backup and counts it nowhere. */
  finishedAt: string;
  /** Backups of one series are planned together; two series never evict each other. */
  series: string;
  /** `scheduled` counts toward the daily/weekly/monthly tiers; `pre-deploy` is kept for `pre_deploy`. */
  kind: 'scheduled' | 'pre-deploy';
  status: 'verified' | 'failed' | 'unverified';
  /** Why the newest verification failed (status `failed`): the deletion's reason. */
  failure?: string;
}

/** The calendar terms of retention (policies/backups.yaml `retention`, or the physical tier's counts in its zone). */
export type GfsPolicy = Pick<RetentionPolicy, 'zone' | 'daily' | 'weekly' | 'monthly' | 'keep_last' | 'pre_deploy' | 'unverified_grace'>;

export interface GfsDecision {
  item: Retainable;
  keep: boolean;
  /** Why it is kept ("daily 2026-11-23", "newest verified", …) or deleted; never empty. */
  reasons: string[];
}

interface Item {
  entry: Retainable;
  at: number;
  keep: string[];
}

/** Newest first; equal finish times are ordered by id so the result never depends on the input order. */
const newestFirst = (a: Item, b: Item) => b.at - a.at || (a.entry.id < b.entry.id ? 1 : a.entry.id > b.entry.id ? -1 : 0);

function durationMs(text: string, key: string): number {
  const ms = parseDuration(text);
  // The policy schema already rejects malformed durations; this guards callers that bypass it.
  if (ms === undefined) throw new TypeError(`retention.${key}: "${text}" is not a duration`);
  return ms;
}

/**
 * Why the newest failing verification failed: the first failed check with its message (one line, bounded:
 * pg_restore can say a lot), then the names of the checks that failed after it (usually "not run").
 */
function failure(entry: BackupEntry): string {
  const record = [...entry.verifications].reverse().find((v) => !v.ok);
  const [first, ...rest] = record?.checks.filter((c) => !c.ok) ?? [];
  if (!first) return `verification failed${record ? ` (${record.level}, ${record.at})` : ''}`;
  const message = first.message?.replace(/\s+/g, ' ').trim();
  const short = message && message.length > 160 ? `${message.slice(0, 159)}…` : message;
  return `verification failed: ${first.name}${short ? ` (${short})` : ''}${rest.length > 0 ? `; also ${rest.map((c) => c.name).join(', ')}` : ''}`;
}

/**
 * GFS retention of logical backups: which backups of one target to keep and which to delete, and why.
 * Each database name is its own series (restic's `--group-by`); daily, weekly and monthly backups count
 * toward the tiers, pre-deploy ones are kept for `pre_deploy`. The rules are planGfs's.
 */
export function planRetention(entries: readonly BackupEntry[], policy: RetentionPolicy, now: Date): RetentionDecision[] {
  const byId = new Map(entries.map((e) => [e.manifest.id, e]));
  return planGfs(
    entries.map((entry) => ({
      id: entry.manifest.id,
      finishedAt: entry.manifest.finishedAt,
      series: entry.manifest.database.name,
      kind: entry.manifest.tier === 'pre-deploy' ? 'pre-deploy' : 'scheduled',
      status: entry.status,
      ...(entry.status === 'failed' ? { failure: failure(entry) } : {}),
    })),
    policy,
    now,
  ).map(({ item, keep, reasons }) => ({
    id: item.id,
    tier: byId.get(item.id)!.manifest.tier,
    finishedAt: item.finishedAt,
    status: item.status,
    database: item.series,
    keep,
    reasons,
  }));
}

/**
 * GFS retention: which backups to keep and which to delete, and why. Pure and deterministic: the result
 * depends neither on the order of `items` nor on the process time zone.
 *
 * Semantics (restic `forget`, applied separately to each series, like restic's `--group-by`):
 * - Backups are ordered by `finishedAt` (UTC), newest first; equal times by id.
 * - Eligible for the tiers: `scheduled` backups whose status is `verified`. Any eligible backup can be kept
 *   as a day, a week and a month at once.
 * - Each eligible backup falls into a calendar day, an ISO week (Monday to Sunday, ISO week-year) and a month
 *   of its local date in `policy.zone`. `daily: n` keeps the newest backup of each of the n most recent days
 *   that have an eligible backup (empty days do not count); `weekly` and `monthly` likewise. The tiers are
 *   OR-ed: a backup kept by several tiers counts in each ("daily 2026-11-01", "weekly 2026-W44",
 *   "monthly 2026-11"). A tier with n > 0 that finds fewer than n buckets also keeps the oldest eligible
 *   backup ("monthly: oldest (tier not full, 3/12)"), restic's rule for a history shorter than the tier.
 * - Floors, whatever the tiers say: the newest verified backup ("newest verified") and the newest `keep_last`
 *   verified backups ("keep_last 2/3") are kept. These count every verified backup, pre-deploy ones too.
 * - pre-deploy backups never count toward the tiers; a verified one is kept while younger than `pre_deploy`
 *   ("pre-deploy, kept 90d"), then deleted ("pre-deploy older than 90d") unless a floor keeps it.
 * - Unverified backups (pre-deploy ones too) never count toward anything; kept while younger than
 *   `unverified_grace` ("not verified yet, kept 2d"), then deleted ("unverified after 2d").
 * - Failed backups (the newest verification failed) never count and are always deleted (their `failure`):
 *   the floors count verified backups only, so nothing protects them.
 * - A backup whose `finishedAt` is not a timestamp is kept and counts nowhere: nothing is deleted on a
 *   guess.
 * - Ages (`pre_deploy`, `unverified_grace`) are `now - finishedAt`; a duration of 0 keeps nothing by that
 *   rule. Every decision carries at least one reason, deletions too.
 *
 * Applying the plan and planning again at the same `now` deletes nothing more: the n newest buckets of each
 * tier keep their newest backup, so they stay the n newest buckets of what is left, a tier that was short
 * stays short with the same oldest backup, and the floors keep the same newest verified backups.
 *
 * Decisions are returned newest first.
 */
export function planGfs(entries: readonly Retainable[], policy: GfsPolicy, now: Date): GfsDecision[] {
  const preDeployMs = durationMs(policy.pre_deploy, 'pre_deploy');
  const graceMs = durationMs(policy.unverified_grace, 'unverified_grace');
  const items: Item[] = entries.map((entry) => ({ entry, at: Date.parse(entry.finishedAt), keep: [] }));
  const timed = items.filter((i) => Number.isFinite(i.at));
  for (const i of items) if (!Number.isFinite(i.at)) i.keep.push(`finishedAt "${i.entry.finishedAt}" is not a timestamp: kept, counts nowhere`);

  const series = new Map<string, Item[]>();
  for (const i of timed) {
    const group = series.get(i.entry.series);
    if (group) group.push(i);
    else series.set(i.entry.series, [i]);
  }
  for (const group of series.values()) {
    group.sort(newestFirst);
    const verified = group.filter((i) => i.entry.status === 'verified');
    verified.slice(0, policy.keep_last).forEach((i, n) => {
      if (n === 0) i.keep.push('newest verified');
      i.keep.push(`keep_last ${n + 1}/${policy.keep_last}`);
    });
    const eligible = verified.filter((i) => i.entry.kind === 'scheduled');
    const buckets = new Map(eligible.map((i) => [i, bucketsOf(new Date(i.at), policy.zone)]));
    for (const tier of GFS) keepTier(tier, policy[tier], eligible, (i) => buckets.get(i)![tierKey[tier]]);
  }

  for (const i of timed) {
    const age = now.getTime() - i.at;
    if (i.entry.status === 'unverified' && age < graceMs) i.keep.push(`not verified yet, kept ${policy.unverified_grace}`);
    if (i.entry.status === 'verified' && i.entry.kind === 'pre-deploy' && age < preDeployMs) i.keep.push(`pre-deploy, kept ${policy.pre_deploy}`);
  }

  return [...items].sort(newestFirst).map((i) => ({ item: i.entry, keep: i.keep.length > 0, reasons: i.keep.length > 0 ? i.keep : [deleteReason(i, policy)] }));
}

const tierKey: Record<Gfs, keyof Buckets> = { daily: 'day', weekly: 'week', monthly: 'month' };

/** One tier over eligible backups sorted newest first: the newest of each of the n greatest buckets. */
function keepTier(tier: Gfs, n: number, eligible: readonly Item[], key: (i: Item) => string): void {
  if (n <= 0 || eligible.length === 0) return;
  const newestOf = new Map<string, Item>();
  for (const i of eligible) if (!newestOf.has(key(i))) newestOf.set(key(i), i);
  const keys = [...newestOf.keys()].sort().reverse();
  for (const k of keys.slice(0, n)) newestOf.get(k)!.keep.push(`${tier} ${k}`);
  const oldest = eligible[eligible.length - 1]!;
  if (keys.length < n && newestOf.get(key(oldest)) !== oldest) oldest.keep.push(`${tier}: oldest (tier not full, ${keys.length}/${n})`);
}

function deleteReason(i: Item, policy: GfsPolicy): string {
  if (i.entry.status === 'failed') return i.entry.failure ?? 'verification failed';
  if (i.entry.status === 'unverified') return `unverified after ${policy.unverified_grace}`;
  if (i.entry.kind === 'pre-deploy') return `pre-deploy older than ${policy.pre_deploy}`;
  return 'not the newest of any kept day/week/month';
}
