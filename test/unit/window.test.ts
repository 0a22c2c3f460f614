// Change windows on wall-clock time in the policy's zone, around the two DST switches of Europe/Berlin in
// 2026 (29 March: 02:00 CET → 03:00 CEST; 25 October: 03:00 CEST → 02:00 CET) and for windows past midnight.
import { describe, expect, it } from 'vitest';
import { isOpen, type WindowsPolicy } from '../../pipeline/core/window.ts';
import { firstInstantAt, localLabel, wallTime } from '../../pipeline/core/time.ts';

const berlin = (open: WindowsPolicy['open']): WindowsPolicy => ({ zone: 'Europe/Berlin', open });
const at = (iso: string) => new Date(iso);

describe('isOpen', () => {
  const business = berlin([
    { days: ['mon', 'tue', 'wed', 'thu'], from: '09:00', to: '16:00' },
    { days: ['fri'], from: '09:00', to: '12:00' },
  ]);

  it('uses winter time (UTC+1) before the spring switch and summer time (UTC+2) after it', () => {
    // Friday 27 March 2026, CET: 08:30Z = 09:30 local → open; 11:30Z = 12:30 local → closed (fri closes at 12).
    expect(isOpen(business, at('2026-03-27T08:30:00Z'))).toMatchObject({ open: true, window: 'fri 09:00–12:00 (Europe/Berlin)' });
    const closed = isOpen(business, at('2026-03-27T11:30:00Z'));
    expect(closed.open).toBe(false);
    // The next opening is Monday 30 March 09:00 CEST = 07:00Z (not 08:00Z: the clocks moved on Sunday).
    expect(closed.nextOpen?.toISOString()).toBe('2026-03-30T07:00:00.000Z');
    // Monday 30 March, CEST: 07:30Z = 09:30 local → open; 06:30Z = 08:30 local → closed.
    expect(isOpen(business, at('2026-03-30T07:30:00Z')).open).toBe(true);
    expect(isOpen(business, at('2026-03-30T06:30:00Z')).open).toBe(false);
  });

  it('on the autumn switch: a window opening at the twice-happening 02:30 opens at its first occurrence', () => {
    const night = berlin([{ days: ['sun'], from: '02:30', to: '04:00' }]);
    // Sunday 25 October 2026: 02:30 CEST = 00:30Z is the first 02:30; 02:30 CET = 01:30Z the second.
    expect(isOpen(night, at('2026-10-25T00:29:00Z')).nextOpen?.toISOString()).toBe('2026-10-25T00:30:00.000Z');
    expect(isOpen(night, at('2026-10-25T00:45:00Z')).open).toBe(true);
    // 01:10Z = 02:10 CET (the repeated hour, before 02:30 again): wall time says closed.
    expect(isOpen(night, at('2026-10-25T01:10:00Z')).open).toBe(false);
    // 02:59Z = 03:59 CET: still inside (the window is 2.5 real hours long that day).
    expect(isOpen(night, at('2026-10-25T02:59:00Z')).open).toBe(true);
    expect(isOpen(night, at('2026-10-25T03:00:00Z')).open).toBe(false);
    // After the switch, 16:00 local is 15:00Z.
    expect(isOpen(business, at('2026-10-26T14:59:00Z')).open).toBe(true);
    expect(isOpen(business, at('2026-10-26T15:00:00Z')).open).toBe(false);
  });

  it('on the spring switch: a window starting inside the skipped hour opens when the hour ends', () => {
    const night = berlin([{ days: ['sun'], from: '02:30', to: '05:00' }]);
    // 02:30 does not exist on 29 March 2026; at 01:00Z the clocks jump from 02:00 CET to 03:00 CEST.
    expect(isOpen(night, at('2026-03-29T00:30:00Z')).nextOpen?.toISOString()).toBe('2026-03-29T01:00:00.000Z');
    expect(isOpen(night, at('2026-03-29T01:00:00Z')).open).toBe(true);
    expect(isOpen(night, at('2026-03-29T02:59:00Z')).open).toBe(true); // 04:59 CEST
    expect(isOpen(night, at('2026-03-29T03:00:00Z')).open).toBe(false); // 05:00 CEST
    expect(firstInstantAt('Europe/Berlin', '2026-03-29', 150).toISOString()).toBe('2026-03-29T01:00:00.000Z');
  });

  it('a window past midnight belongs to the day it starts', () => {
    const late = berlin([{ days: ['fri'], from: '22:00', to: '02:00' }]);
    // Friday 6 November 2026 23:00 CET (22:00Z): open; Saturday 01:59 CET (00:59Z): still Friday's window.
    expect(isOpen(late, at('2026-11-06T22:00:00Z')).open).toBe(true);
    expect(isOpen(late, at('2026-11-07T00:59:00Z')).open).toBe(true);
    expect(isOpen(late, at('2026-11-07T01:00:00Z')).open).toBe(false);
    // Thursday 23:00 is not inside (the window starts on Fridays only), nor is Friday 01:00 (Thursday's night).
    expect(isOpen(late, at('2026-11-05T22:00:00Z')).open).toBe(false);
    const fridayEarly = isOpen(late, at('2026-11-06T00:00:00Z'));
    expect(fridayEarly.open).toBe(false);
    expect(fridayEarly.nextOpen?.toISOString()).toBe('2026-11-06T21:00:00.000Z');
  });

  it('24:00 ends a window at midnight', () => {
    const evening = berlin([{ days: ['wed'], from: '20:00', to: '24:00' }]);
    expect(isOpen(evening, at('2026-11-04T22:59:00Z')).open).toBe(true); // Wed 23:59
    expect(isOpen(evening, at('2026-11-04T23:00:00Z')).open).toBe(false); // Thu 00:00
  });

  it('no windows: always open; a closed week names the next opening a week ahead', () => {
    expect(isOpen(berlin([]), at('2026-11-07T03:00:00Z')).open).toBe(true);
    const weekly = berlin([{ days: ['tue'], from: '10:00', to: '11:00' }]);
    // Tuesday 10 November 11:30 CET: the next opening is Tuesday 17 November 10:00 CET.
    expect(isOpen(weekly, at('2026-11-10T10:30:00Z')).nextOpen?.toISOString()).toBe('2026-11-17T09:00:00.000Z');
  });
});

describe('isOpen: closesAt', () => {
  const iso = (d: Date | undefined) => d?.toISOString();

  it('an open window says when it closes; a closed one has no closesAt, no windows never close', () => {
    const business = berlin([{ days: ['mon', 'tue', 'wed', 'thu'], from: '09:00', to: '16:00' }]);
    // Monday 9 November 2026 10:00 CET: closes 16:00 CET = 15:00Z.
    expect(iso(isOpen(business, at('2026-11-09T09:00:00Z')).closesAt)).toBe('2026-11-09T15:00:00.000Z');
    // One minute before the end, still the same instant.
    expect(iso(isOpen(business, at('2026-11-09T14:59:00Z')).closesAt)).toBe('2026-11-09T15:00:00.000Z');
    expect(isOpen(business, at('2026-11-09T15:00:00Z'))).not.toHaveProperty('closesAt');
    expect(isOpen(berlin([]), at('2026-11-09T15:00:00Z')).closesAt).toBeUndefined();
  });

  it('a window past midnight closes the next morning in its evening part, this morning in its morning part', () => {
    const late = berlin([{ days: ['fri'], from: '22:00', to: '02:00' }]);
    // Friday 6 November 23:00 CET and Saturday 00:30 CET: both close Saturday 02:00 CET = 01:00Z.
    expect(iso(isOpen(late, at('2026-11-06T22:00:00Z')).closesAt)).toBe('2026-11-07T01:00:00.000Z');
    expect(iso(isOpen(late, at('2026-11-06T23:30:00Z')).closesAt)).toBe('2026-11-07T01:00:00.000Z');
    // 24:00 closes at the next midnight.
    const evening = berlin([{ days: ['wed'], from: '20:00', to: '24:00' }]);
    expect(iso(isOpen(evening, at('2026-11-04T20:00:00Z')).closesAt)).toBe('2026-11-04T23:00:00.000Z');
  });

  it('adjacent and overlapping windows close at the end of the whole open stretch', () => {
    const stretch = berlin([
      { days: ['sat'], from: '20:00', to: '24:00' },
      { days: ['sun'], from: '00:00', to: '06:00' },
      { days: ['sun'], from: '05:00', to: '08:00' },
    ]);
    // Saturday 7 November 21:00 CET: open until Sunday 08:00 CET = 07:00Z.
    expect(iso(isOpen(stretch, at('2026-11-07T20:00:00Z')).closesAt)).toBe('2026-11-08T07:00:00.000Z');
    // Open around the clock: never closes.
    const always = berlin([{ days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], from: '00:00', to: '24:00' }]);
    expect(isOpen(always, at('2026-11-07T20:00:00Z'))).toMatchObject({ open: true });
    expect(isOpen(always, at('2026-11-07T20:00:00Z')).closesAt).toBeUndefined();
  });

  it('across the DST switches: real hours, not wall hours', () => {
    // Sunday 29 March 2026, 01:00–05:00 local: the window opens in CET and closes in CEST, 3 real hours later.
    const spring = berlin([{ days: ['sun'], from: '01:00', to: '05:00' }]);
    expect(iso(isOpen(spring, at('2026-03-29T00:00:00Z')).closesAt)).toBe('2026-03-29T03:00:00.000Z');
    // A window ending at 02:30, which does not exist that day, closes when the gap ends (03:00 CEST = 01:00Z).
    const gap = berlin([{ days: ['sun'], from: '01:00', to: '02:30' }]);
    expect(iso(isOpen(gap, at('2026-03-29T00:30:00Z')).closesAt)).toBe('2026-03-29T01:00:00.000Z');
    expect(isOpen(gap, at('2026-03-29T01:00:00Z')).open).toBe(false);
    // Sunday 25 October 2026, 01:00–05:00 local: opens in CEST (23:00Z), closes in CET (04:00Z), 5 real hours.
    const autumn = berlin([{ days: ['sun'], from: '01:00', to: '05:00' }]);
    expect(iso(isOpen(autumn, at('2026-10-24T23:30:00Z')).closesAt)).toBe('2026-10-25T04:00:00.000Z');
    // A window ending at the twice-happening 02:30 closes at its first occurrence (02:30 CEST = 00:30Z).
    const twice = berlin([{ days: ['sun'], from: '01:00', to: '02:30' }]);
    expect(iso(isOpen(twice, at('2026-10-25T00:00:00Z')).closesAt)).toBe('2026-10-25T00:30:00.000Z');
    expect(isOpen(twice, at('2026-10-25T00:30:00Z')).open).toBe(false);
  });
});

describe('wall time', () => {
  it('reads weekday, date and minutes in the zone', () => {
    expect(wallTime('Europe/Berlin', at('2026-03-29T01:30:00Z'))).toEqual({ date: '2026-03-29', weekday: 'sun', minutes: 3 * 60 + 30 });
    expect(localLabel('Europe/Berlin', at('2026-11-28T13:03:00Z'))).toBe('Sat 2026-11-28 14:03');
    expect(wallTime('America/New_York', at('2026-11-28T03:00:00Z'))).toEqual({ date: '2026-11-27', weekday: 'fri', minutes: 22 * 60 });
  });
});
