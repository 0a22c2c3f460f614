// The weekly traffic profile (operations/monitoring/traffic.ts) from recorded samples: TPS from the xacts
// counter, resets and gaps ignored, the decayed mean, the proposed quiet hours and the next one.
import { describe, expect, it } from 'vitest';
import {
  decayedMean,
  emptyProfile,
  hourOfWeek,
  inQuietHours,
  nextQuietHour,
  quietHours,
  recordSample,
  tpsBetween,
  type LoadSample,
  type TrafficProfile,
} from '../../pipeline/operations/monitoring/index.ts';

const MONDAY = Date.parse('2026-01-05T00:00:00Z'); // a Monday
const STEP = 10 * 60_000;

/** The load of a day in UTC: 02–05 h 2 TPS, 00–02 and 05–07 h 20, 07–19 h 200, 19–24 h 100. */
const daily = (hour: number) => (hour >= 2 && hour < 5 ? 2 : hour < 7 ? 20 : hour < 19 ? 200 : 100);

/** `weeks` of samples every 10 minutes, as `monitor check` would record them, fed through recordSample. */
function recorded(weeks: number, tpsAt: (at: Date) => number = (at) => daily(at.getUTCHours()), zone = 'UTC', start = MONDAY): TrafficProfile {
  let profile = emptyProfile(zone);
  let xacts = 1_000;
  for (let t = start; t < start + weeks * 7 * 86_400_000; t += STEP) {
    // The transactions of the 10 minutes before t, at the rate of the hour they fall in.
    if (t > start) xacts += tpsAt(new Date(t - STEP / 2)) * (STEP / 1000);
    const sample: LoadSample = { at: new Date(t).toISOString(), xacts, activeSessions: tpsAt(new Date(t)) >= 100 ? 8 : 1 };
    profile = recordSample(profile, profile.last, sample);
  }
  return profile;
}

describe('traffic profile', () => {
  it('derives TPS from consecutive counter samples, ignoring resets, gaps and unknown counters', () => {
    const at = (m: number) => new Date(MONDAY + m * 60_000).toISOString();
    expect(tpsBetween({ at: at(0), xacts: 1000, activeSessions: 0 }, { at: at(5), xacts: 31_000, activeSessions: 0 })).toBe(100);
    expect(tpsBetween({ at: at(0), xacts: 1000, activeSessions: 0 }, { at: at(5), xacts: 10, activeSessions: 0 })).toBeNull(); // stats reset
    expect(tpsBetween({ at: at(0), xacts: 1000, activeSessions: 0 }, { at: at(45), xacts: 2000, activeSessions: 0 })).toBeNull(); // gap > 30 min
    expect(tpsBetween({ at: at(0), xacts: null, activeSessions: 0 }, { at: at(5), xacts: 2000, activeSessions: 0 })).toBeNull();
    expect(tpsBetween(null, { at: at(5), xacts: 2000, activeSessions: 0 })).toBeNull();

    let p = emptyProfile();
    p = recordSample(p, null, { at: at(0), xacts: 1000, activeSessions: 3 });
    p = recordSample(p, p.last, { at: at(5), xacts: 31_000, activeSessions: 5 });
    p = recordSample(p, p.last, { at: at(10), xacts: 5, activeSessions: 1 }); // reset: no TPS, sessions still counted
    expect(p.hours[0]!.tps).toMatchObject({ n: 1, mean: 100, max: 100 });
    expect(p.hours[0]!.active).toMatchObject({ n: 3, mean: 3, max: 5 });
    expect(p.last).toEqual({ at: at(10), xacts: 5, activeSessions: 1 });
  });

  it('buckets by hour of the week in the zone', () => {
    expect(hourOfWeek(new Date('2026-01-05T00:30:00Z'), 'UTC')).toBe(0);
    expect(hourOfWeek(new Date('2026-01-06T02:10:00Z'), 'UTC')).toBe(26);
    expect(hourOfWeek(new Date('2026-01-11T23:59:00Z'), 'UTC')).toBe(167);
    // 23:30 UTC on Sunday is Monday 00:30 in Berlin (UTC+1 in January).
    expect(hourOfWeek(new Date('2026-01-11T23:30:00Z'), 'Europe/Berlin')).toBe(0);
  });

  it('lets old weeks fade in the decayed mean', () => {
    // Four weeks at 200 TPS in every hour, then one week at 10: the decayed mean leans to the recent week.
    const old = recorded(4, () => 200);
    let p = old;
    const start = MONDAY + 4 * 7 * 86_400_000;
    let xacts = p.last!.xacts!;
    for (let t = start; t < start + 7 * 86_400_000; t += STEP) {
      xacts += 10 * (STEP / 1000);
      p = recordSample(p, p.last, { at: new Date(t).toISOString(), xacts, activeSessions: 0 });
    }
    const h = p.hours[10]!.tps;
    expect(h.mean).toBeGreaterThan(150); // the plain mean remembers every week alike
    expect(decayedMean(h)!).toBeLessThan(h.mean);
    expect(decayedMean(h)!).toBeLessThan(150);
  });

  it('proposes the lowest-load hours as contiguous quiet runs, with their numbers', () => {
    const p = recorded(2);
    const q = quietHours(p);
    expect(q.judgedHours).toBe(168);
    // The 25th percentile of the week is the 20-TPS level: 00:00–07:00 every day.
    expect(q.threshold).toBe(20);
    expect(q.runs.map((r) => `${r.from}→${r.to}`)).toEqual([
      'Mon 00:00→Mon 07:00',
      'Tue 00:00→Tue 07:00',
      'Wed 00:00→Wed 07:00',
      'Thu 00:00→Thu 07:00',
      'Fri 00:00→Fri 07:00',
      'Sat 00:00→Sat 07:00',
      'Sun 00:00→Sun 07:00',
    ]);
    expect(q.runs[0]).toMatchObject({ hours: 7, maxTps: 20, meanActiveSessions: 1 });
    expect(q.runs[0]!.meanTps).toBeCloseTo((4 * 20 + 3 * 2) / 7, 1);
    // A stricter percentile keeps only the 2-TPS hours.
    const strict = quietHours(p, { percentile: 10 });
    expect(strict.runs.map((r) => `${r.from}→${r.to}`)[1]).toBe('Tue 02:00→Tue 05:00');
    expect(strict.hours).toHaveLength(21);
    expect(inQuietHours(strict, new Date('2026-03-03T03:15:00Z'))).toBe(true);
    expect(inQuietHours(strict, new Date('2026-03-03T05:15:00Z'))).toBe(false);
    // Runs shorter than minRunHours are dropped.
    expect(quietHours(p, { percentile: 10, minRunHours: 4 }).runs).toEqual([]);
  });

  it('joins a quiet run across Sunday midnight, and needs enough samples per hour', () => {
    // Quiet from Sunday 22:00 to Monday 03:00, busy otherwise.
    const p = recorded(1, (at) => ((at.getUTCDay() === 0 && at.getUTCHours() >= 22) || (at.getUTCDay() === 1 && at.getUTCHours() < 3) ? 1 : 50));
    const q = quietHours(p, { percentile: 2 });
    expect(q.runs.map((r) => `${r.from}→${r.to} ${r.hours}`)).toEqual(['Sun 22:00→Mon 03:00 5']);
    // Half an hour of samples judges nothing.
    let young = emptyProfile();
    for (let m = 0; m <= 30; m += 10)
      young = recordSample(young, young.last, { at: new Date(MONDAY + m * 60_000).toISOString(), xacts: m * 100, activeSessions: 0 });
    expect(quietHours(young, { minSamples: 4 })).toMatchObject({ judgedHours: 0, threshold: null, runs: [] });
    expect(nextQuietHour(young, new Date(MONDAY), { minSamples: 4 })).toBeNull();
  });

  it('names the next quiet hour after now, in the zone', () => {
    const p = recorded(2);
    // Monday noon: the next quiet hour starts Tuesday 00:00.
    expect(nextQuietHour(p, new Date('2026-03-02T12:00:00Z'))).toEqual({ at: new Date('2026-03-03T00:00:00Z'), label: 'Tue 00:00 UTC' });
    expect(nextQuietHour(p, new Date('2026-03-02T12:00:00Z'), { percentile: 10 })!.label).toBe('Tue 02:00 UTC');
    // Inside a quiet hour, the next one is the following hour start.
    expect(nextQuietHour(p, new Date('2026-03-03T03:20:00Z'), { percentile: 10 })!.at.toISOString()).toBe('2026-03-03T04:00:00.000Z');

    // In Europe/Berlin: the profile's hours are local, and so is the label.
    const berlin = recorded(
      2,
      (at) => daily(Number(new Intl.DateTimeFormat('en', { timeZone: 'Europe/Berlin', hour: 'numeric', hourCycle: 'h23' }).format(at))),
      'Europe/Berlin',
    );
    const next = nextQuietHour(berlin, new Date('2026-03-02T12:00:00Z'), { percentile: 10 })!;
    expect(next.label).toBe('Tue 02:00 Europe/Berlin');
    expect(next.at.toISOString()).toBe('2026-03-03T01:00:00.000Z');
  });
});
