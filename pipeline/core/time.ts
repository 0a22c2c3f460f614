/**
 * Wall-clock time in IANA zones, the one place dbops converts between instants and local time: backup
 * retention buckets by local day, ISO week and month; change windows open on local weekdays and times.
 * Hand-written on Intl rather than a date library because only these few operations are needed (instant →
 * local date or wall time, and the first instant at or after a local wall time) and Intl carries the tz
 * database. Pure: the clock is always an argument.
 */

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

const MINUTE = 60_000;
export const DAY_MINUTES = 24 * 60;
const pad = (n: number) => String(n).padStart(2, '0');
/** `HH:MM` of minutes since midnight. */
export const hhmm = (minutes: number): string => `${pad(Math.floor(minutes / 60))}:${pad(minutes % 60)}`;
/** Minutes since midnight of `HH:MM` (24:00 is 1440). */
export const clockMinutesOf = (text: string): number => Number(text.slice(0, 2)) * 60 + Number(text.slice(3, 5));

export interface WallTime {
  /** Calendar date in the zone, `YYYY-MM-DD`. */
  date: string;
  weekday: Weekday;
  /** Minutes since local midnight, 0…1439. */
  minutes: number;
}

// Building a DateTimeFormat costs far more than using one (prune buckets every backup of a target): one per
// zone and use, kept.
const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(use: 'wall' | 'date' | 'label', zone: string): Intl.DateTimeFormat {
  const key = `${use} ${zone}`;
  let f = formatters.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: zone, ...FORMATS[use] });
    formatters.set(key, f);
  }
  return f;
}
const FORMATS: Record<'wall' | 'date' | 'label', Intl.DateTimeFormatOptions> = {
  wall: { hourCycle: 'h23', weekday: 'short', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' },
  date: { year: 'numeric', month: 'numeric', day: 'numeric' },
  label: { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZoneName: 'shortOffset' },
};

/** The wall-clock time of an instant in a zone. */
export function wallTime(zone: string, instant: Date): WallTime {
  const parts = Object.fromEntries(
    formatter('wall', zone)
      .formatToParts(instant)
      .map((p) => [p.type, p.value]),
  );
  return {
    date: `${parts['year']}-${parts['month']}-${parts['day']}`,
    weekday: parts['weekday']!.toLowerCase().slice(0, 3) as Weekday,
    minutes: Number(parts['hour']) * 60 + Number(parts['minute']),
  };
}

/** The calendar date an instant falls on in `zone` (IANA), whatever the process TZ is. */
export function localDate(instant: Date, zone: string): { year: number; month: number; day: number } {
  const f = formatter('date', zone);
  // format() is several times faster than formatToParts(); en-US numeric dates are M/D/YYYY. The parts are
  // the fallback should an ICU version ever spell them otherwise.
  const m = /^(\d{1,2})\/(\d{1,2})\/(\d{4,})$/.exec(f.format(instant));
  if (m) return { year: Number(m[3]), month: Number(m[1]), day: Number(m[2]) };
  const parts = f.formatToParts(instant);
  const part = (type: Intl.DateTimeFormatPartTypes) => Number(parts.find((p) => p.type === type)?.value);
  return { year: part('year'), month: part('month'), day: part('day') };
}

/** `YYYY-MM-DD` + n days (calendar arithmetic, zone-free). */
export function addDays(date: string, n: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

const compareWall = (a: { date: string; minutes: number }, b: { date: string; minutes: number }) => a.date.localeCompare(b.date) || a.minutes - b.minutes;

/**
 * The first instant whose wall time in the zone is at or after `date minutes` — the local time itself, or,
 * when it falls into a spring-forward gap, the end of the gap.
 */
export function firstInstantAt(zone: string, date: string, minutes: number): Date {
  const target = { date, minutes };
  // The wall time read as if it were UTC; the instant is that minus the zone's offset at the instant.
  const naive = Date.parse(`${date}T00:00:00Z`) + minutes * MINUTE;
  const offsetAt = (ms: number) => {
    const w = wallTime(zone, new Date(ms));
    return Date.parse(`${w.date}T00:00:00Z`) + w.minutes * MINUTE - Math.floor(ms / MINUTE) * MINUTE;
  };
  // The offsets in force the day before and after: on a fall-back day a wall time exists under both, and the
  // earlier instant is when it first happens.
  const matches = [...new Set([offsetAt(naive - DAY_MINUTES * MINUTE), offsetAt(naive), offsetAt(naive + DAY_MINUTES * MINUTE)])]
    .map((o) => naive - o)
    .filter((ms) => compareWall(wallTime(zone, new Date(ms)), target) === 0)
    .sort((a, b) => a - b);
  if (matches[0] !== undefined) return new Date(matches[0]);
  // A spring-forward gap: the wall time never happens; the first instant after it is the end of the gap.
  // Around a gap wall time only moves forward, so a bisection over ±15 h (wider than any UTC offset) finds it.
  let lo = naive - 15 * 60 * MINUTE;
  let hi = naive + 15 * 60 * MINUTE;
  while (hi - lo > MINUTE) {
    const mid = lo + Math.floor((hi - lo) / 2 / MINUTE) * MINUTE;
    if (compareWall(wallTime(zone, new Date(mid)), target) >= 0) hi = mid;
    else lo = mid;
  }
  return new Date(hi);
}

/** `Sat 2026-11-28 14:03` in the zone, for messages. */
export function localLabel(zone: string, instant: Date): string {
  const w = wallTime(zone, instant);
  return `${w.weekday[0]!.toUpperCase()}${w.weekday.slice(1)} ${w.date} ${hhmm(w.minutes)}`;
}

/** `2026-03-29 03:30 GMT+2`: an instant in a zone, with the offset in force. */
export function inZone(iso: string, zone: string): string {
  const f = formatter('label', zone);
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return iso;
  const p = Object.fromEntries(f.formatToParts(at).map((x) => [x.type, x.value]));
  return `${p['year']}-${p['month']}-${p['day']} ${p['hour']}:${p['minute']} ${p['timeZoneName']}`;
}

/** `2026-03-29 01:30Z`. */
export const utcMinute = (iso: string): string => {
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? iso : `${at.toISOString().slice(0, 16).replace('T', ' ')}Z`;
};

/** A phase of a long command and how long it took. */
export interface Phase {
  name: string;
  durationMs: number;
}

/** Times the named phases of a command as they run: `timed(name, fn)` records each (in the order they end), failed ones too. */
export function phaseTimer(): { phases: Phase[]; timed: <T>(name: string, fn: () => Promise<T>) => Promise<T> } {
  const phases: Phase[] = [];
  const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await fn();
    } finally {
      phases.push({ name, durationMs: Math.round(performance.now() - started) });
    }
  };
  return { phases, timed };
}
