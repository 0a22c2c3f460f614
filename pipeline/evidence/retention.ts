import { ConfigError } from '../core/errors.ts';
import { RETENTION } from '../policy/environments.ts';

/**
 * Evidence retention in calendar units: `12mo` and `7y` count calendar months and years in UTC (PCI DSS
 * 10.5.1 says "12 months", which 365 days would not always cover), `400d` counts 24-hour days.
 */

/**
 * The oldest createdAt a bundle may have and still be kept at `now`. A month step that lands on a day the
 * month does not have (31 March − 1 month) is clamped to that month's last day, so the cutoff never moves
 * into the following month and keeps a bundle a day too few.
 */
export function retentionCutoff(retention: string, now: Date): Date {
  const m = RETENTION.exec(retention);
  if (!m)
    throw new ConfigError(`policies/environments.yaml: evidence.retention "${retention}" is not a retention.`, {
      hint: 'Use a number and a unit: 12mo, 400d or 7y.',
    });
  const n = Number(m[1]);
  const unit = m[2]!;
  if (unit === 'd') return new Date(now.getTime() - n * 86_400_000);
  const months = unit === 'y' ? n * 12 : n;
  const total = now.getUTCFullYear() * 12 + now.getUTCMonth() - months;
  const year = Math.floor(total / 12);
  const month = total - year * 12;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  return new Date(
    Date.UTC(year, month, Math.min(now.getUTCDate(), lastDay), now.getUTCHours(), now.getUTCMinutes(), now.getUTCSeconds(), now.getUTCMilliseconds()),
  );
}

/** The fewest and the most days a retention such as `12mo`, `1y` or `400d` can span (months differ in length). */
export function retentionDays(retention: string): { min: number; max: number; months?: number } {
  const m = RETENTION.exec(retention);
  if (!m) throw new Error(`not a retention: ${retention}`);
  const n = Number(m[1]);
  if (m[2] === 'd') return { min: n, max: n };
  const months = m[2] === 'y' ? n * 12 : n;
  let min = Infinity;
  let max = 0;
  // Every starting month of a 400-year Gregorian cycle would be exact; four years hold the leap-day cases
  // that matter (a span crossing 29 February or not); century years are ignored.
  for (let start = 0; start < 48; start++) {
    const from = Date.UTC(2001, start, 1);
    const to = Date.UTC(2001, start + months, 1);
    const days = Math.round((to - from) / 86_400_000);
    min = Math.min(min, days);
    max = Math.max(max, days);
  }
  return { min, max, months };
}

/** Whether keeping things for `kept` always keeps them for at least `needed`: 12mo covers 1y and 365d, 365d does not cover 12mo. */
export function retentionCovers(kept: string, needed: string): boolean {
  const k = retentionDays(kept);
  const n = retentionDays(needed);
  if (k.months !== undefined && n.months !== undefined) return k.months >= n.months;
  return k.min >= n.max;
}

export interface PrunePlanItem {
  sequence: number;
  createdAt: string;
}

/**
 * Which bundles retention removes: the oldest ones created before the cutoff, only as an unbroken prefix of
 * the chain (a younger bundle stops the prefix, even if an older-looking one follows it after a clock
 * jump), and never the newest bundle, which the next deploy links to. Returns the count to remove from the
 * front of `bundles` (oldest first).
 */
export function expiredPrefix(bundles: readonly PrunePlanItem[], cutoff: Date): number {
  let count = 0;
  for (const b of bundles.slice(0, -1)) {
    if (Date.parse(b.createdAt) >= cutoff.getTime()) break;
    count++;
  }
  return count;
}
