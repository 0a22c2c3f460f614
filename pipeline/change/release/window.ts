import type { ChangeWindow, EnvironmentPolicy, Weekday } from '../../policy/environments.ts';
import { WEEKDAYS } from '../../policy/environments.ts';

/**
 * Change windows, judged on wall-clock time in the policy's zone. Pure: the clock is an argument.
 *
 * Wall-clock semantics decide the DST days: on the spring-forward day a window 09:00–16:00 is 7 hours long
 * in wall time and 7 real hours; a window that covers 02:30 simply opens at 03:00 on that day (02:30 never
 * happens); on the fall-back day 02:00–03:00 happens twice and both count as inside a window covering it.
 * Hand-written on Intl rather than a date library because only two operations are needed (instant → local
 * wall time, and the first instant at or after a local wall time) and Intl carries the tz database.
 */

export type WindowsPolicy = Pick<EnvironmentPolicy['windows'], 'zone' | 'open'>;

export interface WindowState {
  open: boolean;
  /** The window that is open now (when open), described for humans. */
  window?: string;
  /** When closed: the next instant a window opens (undefined when no window ever opens). */
  nextOpen?: Date;
}

export interface WallTime {
  /** Calendar date in the zone, `YYYY-MM-DD`. */
  date: string;
  weekday: Weekday;
  /** Minutes since local midnight, 0…1439. */
  minutes: number;
}

const MINUTE = 60_000;
const DAY_MINUTES = 24 * 60;

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', weekday: 'short', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' });
    formatters.set(zone, f);
  }
  return f;
}

/** The wall-clock time of an instant in a zone. */
export function wallTime(zone: string, instant: Date): WallTime {
  const parts = Object.fromEntries(formatter(zone).formatToParts(instant).map((p) => [p.type, p.value]));
  return {
    date: `${parts['year']}-${parts['month']}-${parts['day']}`,
    weekday: parts['weekday']!.toLowerCase().slice(0, 3) as Weekday,
    minutes: Number(parts['hour']) * 60 + Number(parts['minute']),
  };
}

export const clockMinutes = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
const pad = (n: number) => String(n).padStart(2, '0');
const hhmm = (minutes: number) => `${pad(Math.floor(minutes / 60))}:${pad(minutes % 60)}`;

const previousDay = (d: Weekday): Weekday => WEEKDAYS[(WEEKDAYS.indexOf(d) + 6) % 7]!;

/** `mon,tue 22:00–02:00 (Europe/Berlin)` */
export const describeWindow = (w: ChangeWindow, zone: string): string => `${w.days.join(',')} ${w.from}–${w.to} (${zone})`;

/** Whether the wall time lies inside the window. A window past midnight (from > to) belongs to the day it starts. */
function inside(w: ChangeWindow, t: WallTime): boolean {
  const from = clockMinutes(w.from);
  const to = clockMinutes(w.to);
  if (from < to) return w.days.includes(t.weekday) && t.minutes >= from && t.minutes < to;
  return (w.days.includes(t.weekday) && t.minutes >= from) || (w.days.includes(previousDay(t.weekday)) && t.minutes < to);
}

/** `YYYY-MM-DD` + n days (calendar arithmetic, zone-free). */
function addDays(date: string, n: number): string {
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

/** Whether deploys may run at `instant`; when not, when the next window opens. An empty list is always open. */
export function isOpen(windows: WindowsPolicy, instant: Date): WindowState {
  if (windows.open.length === 0) return { open: true, window: 'always (no change windows defined)' };
  const now = wallTime(windows.zone, instant);
  const current = windows.open.find((w) => inside(w, now));
  if (current) return { open: true, window: describeWindow(current, windows.zone) };
  // The next opening: the earliest window start after now, looking one week and a day ahead.
  let next: Date | undefined;
  for (let i = 0; i <= 8; i++) {
    const date = addDays(now.date, i);
    const weekday = wallTime('UTC', new Date(`${date}T12:00:00Z`)).weekday;
    for (const w of windows.open) {
      if (!w.days.includes(weekday)) continue;
      const from = clockMinutes(w.from);
      // `24:00` as a start is midnight at the end of that day.
      const at = from >= DAY_MINUTES ? firstInstantAt(windows.zone, addDays(date, 1), 0) : firstInstantAt(windows.zone, date, from);
      if (at.getTime() > instant.getTime() && (!next || at < next)) next = at;
    }
    if (next) break;
  }
  return { open: false, ...(next ? { nextOpen: next } : {}) };
}

/** `Sat 2026-11-28 14:03` in the zone, for messages. */
export function localLabel(zone: string, instant: Date): string {
  const w = wallTime(zone, instant);
  return `${w.weekday[0]!.toUpperCase()}${w.weekday.slice(1)} ${w.date} ${hhmm(w.minutes)}`;
}
