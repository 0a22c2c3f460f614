import { addDays, firstInstantAt, hhmm, wallTime, WEEKDAYS } from '../../core/time.ts';
import type { LoadSample } from './model.ts';

/**
 * The weekly traffic profile: 168 hour-of-week buckets (Monday 00:00 first, wall time in `zone`), each with
 * running statistics of the transactions per second (from consecutive samples of the xacts counter) and the
 * active sessions that `monitor check` saw in that hour. Pure: the store and the database are elsewhere
 * (traffic-store.ts).
 */
export interface RunningStat {
  /** Samples counted. */
  n: number;
  mean: number;
  max: number;
  /** Exponentially decayed sum and weight (half-life `halfLifeDays`): `sum / weight` is the decayed mean. */
  sum: number;
  weight: number;
  /** ISO time of the last sample, from which the decay is counted. */
  at: string | null;
}

export interface HourBucket {
  tps: RunningStat;
  active: RunningStat;
}

export interface TrafficProfile {
  version: 1;
  /** IANA zone of the hours (UTC unless the environment's change windows name another). */
  zone: string;
  /** The last raw sample, from which the next one's TPS is computed. */
  last: LoadSample | null;
  updatedAt: string | null;
  /** 168 buckets: index = weekday (mon = 0) × 24 + hour. */
  hours: HourBucket[];
}

export interface TrafficOptions {
  /** A gap longer than this between two samples yields no TPS (the rate would smear hours together). Default 30 min. */
  maxGapMs?: number;
  /** Half-life of the decayed mean, in days: old weeks fade. Default 14. */
  halfLifeDays?: number;
}

export const HOURS_OF_WEEK = 168;
const DEFAULT_MAX_GAP_MS = 30 * 60_000;
const DEFAULT_HALF_LIFE_DAYS = 14;
const DAY_MS = 86_400_000;

const stat = (): RunningStat => ({ n: 0, mean: 0, max: 0, sum: 0, weight: 0, at: null });

export function emptyProfile(zone = 'UTC'): TrafficProfile {
  return { version: 1, zone, last: null, updatedAt: null, hours: Array.from({ length: HOURS_OF_WEEK }, () => ({ tps: stat(), active: stat() })) };
}

/** The hour-of-week bucket of an instant in the zone: mon 00:00–00:59 is 0, sun 23:00–23:59 is 167. */
export function hourOfWeek(instant: Date, zone: string): number {
  const w = wallTime(zone, instant);
  return WEEKDAYS.indexOf(w.weekday) * 24 + Math.floor(w.minutes / 60);
}

/** `Tue 02:00` for a bucket index. */
export function hourLabel(hour: number): string {
  const day = WEEKDAYS[Math.floor(hour / 24) % 7]!;
  return `${day[0]!.toUpperCase()}${day.slice(1)} ${hhmm((hour % 24) * 60)}`;
}

/** The decayed mean of a statistic (its plain mean when nothing has decayed yet); null without samples. */
export const decayedMean = (s: RunningStat): number | null => (s.n === 0 ? null : s.weight > 0 ? s.sum / s.weight : s.mean);

function add(s: RunningStat, value: number, at: Date, halfLifeDays: number): RunningStat {
  const n = s.n + 1;
  const elapsed = s.at === null ? 0 : Math.max(0, at.getTime() - Date.parse(s.at));
  const factor = 0.5 ** (elapsed / (halfLifeDays * DAY_MS));
  return {
    n,
    mean: s.mean + (value - s.mean) / n,
    max: s.n === 0 ? value : Math.max(s.max, value),
    sum: s.sum * factor + value,
    weight: s.weight * factor + 1,
    at: s.at !== null && Date.parse(s.at) > at.getTime() ? s.at : at.toISOString(),
  };
}

/**
 * The transactions per second between two samples: Δxacts / Δt, or null when either counter is unknown, the
 * counter went back (a statistics reset or a restart), the samples are out of order or further apart than
 * `maxGapMs`.
 */
export function tpsBetween(previous: LoadSample | null, sample: LoadSample, maxGapMs = DEFAULT_MAX_GAP_MS): number | null {
  if (!previous || previous.xacts === null || sample.xacts === null) return null;
  const dt = Date.parse(sample.at) - Date.parse(previous.at);
  if (!(dt > 0) || dt > maxGapMs) return null;
  const delta = sample.xacts - previous.xacts;
  if (delta < 0) return null;
  return delta / (dt / 1000);
}

/**
 * The profile with one more sample: its active sessions go to the hour it was taken in, the TPS since
 * `previousSample` to the hour of the interval's midpoint. Returns a new profile; `last` becomes `sample`.
 */
export function recordSample(profile: TrafficProfile, previousSample: LoadSample | null, sample: LoadSample, options: TrafficOptions = {}): TrafficProfile {
  const halfLife = options.halfLifeDays ?? DEFAULT_HALF_LIFE_DAYS;
  const hours = profile.hours.map((h) => ({ tps: { ...h.tps }, active: { ...h.active } }));
  const at = new Date(sample.at);
  if (sample.activeSessions !== null) {
    const h = hourOfWeek(at, profile.zone);
    hours[h]!.active = add(hours[h]!.active, sample.activeSessions, at, halfLife);
  }
  const tps = tpsBetween(previousSample, sample, options.maxGapMs);
  if (tps !== null) {
    const mid = new Date((Date.parse(previousSample!.at) + at.getTime()) / 2);
    const h = hourOfWeek(mid, profile.zone);
    hours[h]!.tps = add(hours[h]!.tps, tps, at, halfLife);
  }
  return { ...profile, hours, last: sample, updatedAt: sample.at };
}

export interface QuietHourOptions {
  /** An hour is quiet when its decayed mean TPS is at or below this percentile of the week's hours. Default 25. */
  percentile?: number;
  /** TPS samples an hour needs to be judged at all. Default 2. */
  minSamples?: number;
  /** Shortest run of quiet hours proposed. Default 1. */
  minRunHours?: number;
}

/** A proposed run of contiguous quiet hours (it may wrap from Sunday into Monday). */
export interface QuietRun {
  /** Bucket index of its first hour, and its label (`Tue 02:00`). */
  start: number;
  from: string;
  /** `Tue 05:00`: the end (exclusive). */
  to: string;
  hours: number;
  /** Decayed mean and highest mean TPS over its hours; mean active sessions. */
  meanTps: number;
  maxTps: number;
  meanActiveSessions: number | null;
}

export interface QuietHours {
  zone: string;
  /** The TPS at or under which an hour is quiet (the percentile of the judged hours, rounded to 0.01), null when none is judged. */
  threshold: number | null;
  percentile: number;
  /** Hours with enough samples to be judged, of 168. */
  judgedHours: number;
  /** TPS samples over the whole profile. */
  samples: number;
  /** Bucket indexes of the quiet hours (in runs of at least minRunHours), ascending. */
  hours: number[];
  runs: QuietRun[];
}

const percentileOf = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(0, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.min(rank, sorted.length - 1)]!;
};

/**
 * The hours whose load is lowest: those judged (≥ minSamples TPS samples) whose decayed mean TPS is at or
 * below the percentile of the judged hours, grouped into contiguous runs of at least minRunHours. An hour
 * without enough samples is never quiet, so a young profile proposes little or nothing.
 */
export function quietHours(profile: TrafficProfile, options: QuietHourOptions = {}): QuietHours {
  const percentile = options.percentile ?? 25;
  const minSamples = options.minSamples ?? 2;
  const minRun = Math.max(1, options.minRunHours ?? 1);
  const load = profile.hours.map((h) => (h.tps.n >= minSamples ? decayedMean(h.tps) : null));
  const judged = load.filter((v): v is number => v !== null);
  const samples = profile.hours.reduce((n, h) => n + h.tps.n, 0);
  const base = { zone: profile.zone, percentile, judgedHours: judged.length, samples };
  if (judged.length === 0) return { ...base, threshold: null, hours: [], runs: [] };
  const threshold = percentileOf(judged, percentile);
  const quiet = load.map((v) => v !== null && v <= threshold);
  const runs: QuietRun[] = [];
  if (quiet.every(Boolean)) runs.push(runOf(profile, 0, HOURS_OF_WEEK));
  else {
    // Start right after a busy hour so a run across Sunday midnight stays one run.
    const first = quiet.findIndex((q) => !q);
    for (let i = 1; i <= HOURS_OF_WEEK;) {
      const h = (first + i) % HOURS_OF_WEEK;
      if (!quiet[h]) {
        i++;
        continue;
      }
      let length = 0;
      while (quiet[(h + length) % HOURS_OF_WEEK]) length++;
      if (length >= minRun) runs.push(runOf(profile, h, length));
      i += length;
    }
    runs.sort((a, b) => a.start - b.start);
  }
  const hours = runs.flatMap((r) => Array.from({ length: r.hours }, (_, k) => (r.start + k) % HOURS_OF_WEEK)).sort((a, b) => a - b);
  return { ...base, threshold: Math.round(threshold * 100) / 100, hours, runs };
}

function runOf(profile: TrafficProfile, start: number, length: number): QuietRun {
  const buckets = Array.from({ length }, (_, k) => profile.hours[(start + k) % HOURS_OF_WEEK]!);
  const tps = buckets.map((b) => decayedMean(b.tps) ?? 0);
  const active = buckets.map((b) => decayedMean(b.active)).filter((v): v is number => v !== null);
  const round = (v: number) => Math.round(v * 100) / 100;
  return {
    start,
    from: hourLabel(start),
    to: hourLabel((start + length) % HOURS_OF_WEEK),
    hours: length,
    meanTps: round(tps.reduce((a, b) => a + b, 0) / length),
    maxTps: round(Math.max(...tps)),
    meanActiveSessions: active.length ? round(active.reduce((a, b) => a + b, 0) / active.length) : null,
  };
}

/** Whether an instant falls in one of the quiet hours. */
export function inQuietHours(quiet: QuietHours, now: Date): boolean {
  return quiet.hours.includes(hourOfWeek(now, quiet.zone));
}

/**
 * The start of the next quiet hour strictly after `now` (an instant, and `Tue 02:00 UTC`), or null when the
 * profile proposes none.
 */
export function nextQuietHour(profile: TrafficProfile, now: Date, options: QuietHourOptions = {}): { at: Date; label: string } | null {
  const quiet = quietHours(profile, options);
  if (quiet.hours.length === 0) return null;
  const set = new Set(quiet.hours);
  const today = wallTime(profile.zone, now).date;
  let best: Date | null = null;
  // Every hour start of the coming eight local days, in order; the first quiet one after now wins.
  for (let d = 0; d <= 8 && best === null; d++) {
    const date = addDays(today, d);
    for (let h = 0; h < 24; h++) {
      const at = firstInstantAt(profile.zone, date, h * 60);
      if (at.getTime() <= now.getTime()) continue;
      if (set.has(hourOfWeek(at, profile.zone))) {
        best = at;
        break;
      }
    }
  }
  if (!best) return null;
  return { at: best, label: `${hourLabel(hourOfWeek(best, profile.zone))} ${profile.zone}` };
}
