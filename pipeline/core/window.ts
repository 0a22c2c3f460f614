import { addDays, clockMinutesOf as clockMinutes, DAY_MINUTES, firstInstantAt, wallTime, WEEKDAYS, type WallTime, type Weekday } from './time.ts';

/**
 * Weekly windows (deploys' change windows, maintenance windows), judged on wall-clock time in the policy's
 * zone. Pure: the clock is an argument. The types are structural, so every policy's windows fit.
 *
 * Wall-clock semantics decide the DST days: on the spring-forward day a window 09:00–16:00 is 7 hours long
 * in wall time and 7 real hours; a window that covers 02:30 simply opens at 03:00 on that day (02:30 never
 * happens); on the fall-back day 02:00–03:00 happens twice and both count as inside a window covering it.
 * The wall-clock conversions are core/time.ts's.
 */

/** One weekly opening: on each of `days`, `from` to `to` (`HH:MM`; `24:00` is midnight at the day's end). */
export interface ChangeWindow {
  days: readonly Weekday[];
  from: string;
  to: string;
}

export interface WindowsPolicy {
  /** IANA zone of the window times. */
  zone: string;
  /** Weekly openings; an empty list means always open. */
  open: readonly ChangeWindow[];
}

export interface WindowState {
  open: boolean;
  /** The window that is open now (when open), described for humans. */
  window?: string;
  /**
   * When open: the instant the open stretch ends, i.e. the first instant the wall clock reaches the current
   * window's end, carried on through any window open at that instant (adjacent or overlapping ones). Undefined
   * when no window is defined, or when the windows never close within eight days (open around the clock).
   */
  closesAt?: Date;
  /** When closed: the next instant a window opens (undefined when no window ever opens). */
  nextOpen?: Date;
}

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

/**
 * The first instant the wall clock reaches the end of `w`, a window open at wall time `t`. A window past
 * midnight that is in its evening part ends on the next date; in its morning part, on this one. The end is
 * `firstInstantAt` of the closing time, so a closing time skipped by spring-forward closes at the end of the
 * gap, and on the fall-back day the first of the two occurrences closes it (wall time is past `to` then).
 */
function endOf(w: ChangeWindow, t: WallTime, zone: string): Date {
  const from = clockMinutes(w.from);
  const to = clockMinutes(w.to);
  const date = from > to && t.minutes >= from ? addDays(t.date, 1) : t.date;
  return to >= DAY_MINUTES ? firstInstantAt(zone, addDays(date, 1), 0) : firstInstantAt(zone, date, to);
}

/** When the open stretch around `instant` ends: see WindowState.closesAt. */
function closingOf(windows: WindowsPolicy, instant: Date): Date | undefined {
  let at = instant;
  // Each hop moves to the latest end of the windows open at `at`; a week and a day of hops covers any weekly pattern.
  for (let hop = 0; hop <= 8; hop++) {
    const now = wallTime(windows.zone, at);
    const open = windows.open.filter((w) => inside(w, now));
    if (open.length === 0) return at;
    at = new Date(Math.max(...open.map((w) => endOf(w, now, windows.zone).getTime())));
  }
  return undefined;
}

/**
 * Whether the windows are open at `instant`: when open, which window and when it closes; when closed, when the
 * next window opens. An empty list is always open (and never closes).
 */
export function isOpen(windows: WindowsPolicy, instant: Date): WindowState {
  if (windows.open.length === 0) return { open: true, window: 'always (no change windows defined)' };
  const now = wallTime(windows.zone, instant);
  const current = windows.open.find((w) => inside(w, now));
  if (current) {
    const closesAt = closingOf(windows, instant);
    return { open: true, window: describeWindow(current, windows.zone), ...(closesAt ? { closesAt } : {}) };
  }
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
