import { afterEach, describe, expect, it, vi } from 'vitest';
import { CLEAR_LINE, createLiveLine, liveLineFor, progressBesideLive } from '../../pipeline/cli/live.ts';
import type { LiveLine } from '../../pipeline/core/runtime.ts';
import { LIVE_REDRAW_MS, ProgressMeter } from '../../pipeline/protection/backup/progress.ts';

const MiB = 1024 * 1024;

/** A LiveLine that records what the meter asked of it. */
function recorder() {
  const updates: string[] = [];
  let done = 0;
  const live: LiveLine = { update: (t) => updates.push(t), done: () => void done++ };
  return { live, updates, done: () => done };
}

/** A meter on fake timers whose clock follows them, so rates and elapsed times are exact. */
function liveMeter(options: Partial<ConstructorParameters<typeof ProgressMeter>[0]> = {}) {
  vi.useFakeTimers();
  const rec = recorder();
  const emitted: string[] = [];
  const m = new ProgressMeter({ label: 'backup x', intervalMs: 1000, emit: (l) => emitted.push(l), live: rec.live, now: () => Date.now(), ...options });
  return { m, emitted, ...rec };
}

const rateOf = (line: string) => Number(/ · ([\d.]+) MiB\/s/.exec(line)?.[1]);
const bytesOf = (line: string) => /^backup x: ([\d.]+ \w+)/.exec(line)?.[1];

describe('ProgressMeter with a live line', () => {
  afterEach(() => vi.useRealTimers());

  it('redraws every tick with growing bytes and a rate, and emits no interval lines', () => {
    const { m, emitted, updates } = liveMeter();
    m.start();
    for (let i = 0; i < 8; i++) {
      m.add(MiB);
      vi.advanceTimersByTime(LIVE_REDRAW_MS);
    }
    expect(updates).toHaveLength(8);
    expect(updates.map(bytesOf)).toEqual(['1.0 MiB', '2.0 MiB', '3.0 MiB', '4.0 MiB', '5.0 MiB', '6.0 MiB', '7.0 MiB', '8.0 MiB']);
    // 1 MiB per 250 ms is 4 MiB/s, however far into the run.
    expect(updates.map(rateOf)).toEqual([4, 4, 4, 4, 4, 4, 4, 4]);
    expect(updates[7]).toBe('backup x: 8.0 MiB · 4 MiB/s · 2.00 s elapsed');
    vi.advanceTimersByTime(60_000);
    expect(emitted).toEqual([]);
  });

  it('rates the last second only: a stall shows as 0 MiB/s within about a second', () => {
    const { m, updates } = liveMeter();
    m.start();
    for (let i = 0; i < 4; i++) {
      m.add(25 * MiB);
      vi.advanceTimersByTime(LIVE_REDRAW_MS);
    }
    expect(rateOf(updates.at(-1)!)).toBe(100);
    vi.advanceTimersByTime(500);
    expect(rateOf(updates.at(-1)!)).toBe(50); // of the last second, only its first half moved bytes
    vi.advanceTimersByTime(500);
    expect(rateOf(updates.at(-1)!)).toBe(0);
    expect(bytesOf(updates.at(-1)!)).toBe('100.0 MiB');
  });

  it('shows the share, the ETA and the elapsed time like the interval line', () => {
    const { m, updates } = liveMeter({ expectedBytes: 400 * MiB, expectedFrom: 'estimated from the previous backup' });
    m.start();
    m.set(100 * MiB);
    vi.advanceTimersByTime(1000);
    expect(updates.at(-1)).toBe('backup x: 100.0 MiB of ~400.0 MiB (25 %) · 100 MiB/s · ETA ~3.00 s (estimated from the previous backup) · 1.00 s elapsed');
  });

  it('leaves the interval window of line() alone', () => {
    const { m, updates } = liveMeter();
    m.start();
    m.add(10 * MiB);
    vi.advanceTimersByTime(2000);
    expect(updates).toHaveLength(8);
    // Eight redraws happened, yet line() still rates from the start: 10 MiB in 2 s.
    expect(m.line()).toBe('backup x: 10.0 MiB · 5 MiB/s · 2.00 s elapsed');
  });

  it('stop() clears the live line and stops redrawing', () => {
    const { m, updates, done } = liveMeter();
    m.start();
    vi.advanceTimersByTime(LIVE_REDRAW_MS * 2);
    expect(m.stop().bytes).toBe(0);
    expect(done()).toBe(1);
    vi.advanceTimersByTime(10_000);
    expect(updates).toHaveLength(2);
  });

  it('redraws even with progress_interval 0: that policy is for logs, not terminals', () => {
    const { m, updates, emitted } = liveMeter({ intervalMs: 0 });
    m.start();
    vi.advanceTimersByTime(LIVE_REDRAW_MS);
    expect(updates).toHaveLength(1);
    expect(emitted).toEqual([]);
  });

  it('without a live line emits one line per interval, as before', () => {
    vi.useFakeTimers();
    const emitted: string[] = [];
    const m = new ProgressMeter({ label: 'dump', intervalMs: 1000, emit: (l) => emitted.push(l) }).start();
    m.add(MiB);
    vi.advanceTimersByTime(3000);
    expect(emitted).toHaveLength(3);
    expect(emitted[0]).toMatch(/^dump: 1\.0 MiB · 1 MiB\/s · /);
    m.stop();
    vi.advanceTimersByTime(3000);
    expect(emitted).toHaveLength(3);
  });
});

describe('createLiveLine', () => {
  it('rewrites the line in place and clears it on done(), once', () => {
    let out = '';
    const live = createLiveLine(
      (t) => (out += t),
      () => undefined,
    );
    live.update('a');
    live.update('bb');
    expect(out).toBe(`${CLEAR_LINE}a${CLEAR_LINE}bb`);
    out = '';
    live.done();
    live.done();
    expect(out).toBe(CLEAR_LINE);
    expect(CLEAR_LINE).toBe('\r\x1b[2K');
  });

  it('cuts the text one short of the terminal width, by code point, read at every redraw', () => {
    let out = '';
    let columns: number | undefined = 6;
    const live = createLiveLine(
      (t) => (out = t),
      () => columns,
    );
    live.update('a · b · c');
    expect(out).toBe(`${CLEAR_LINE}a · b`);
    live.update('short');
    expect(out).toBe(`${CLEAR_LINE}short`);
    columns = 80;
    live.update('a · b · c');
    expect(out).toBe(`${CLEAR_LINE}a · b · c`);
  });
});

describe('progressBesideLive', () => {
  it('clears an active live line before a progress line, and draws nothing after it', () => {
    let out = '';
    const live = createLiveLine(
      (t) => (out += t),
      () => undefined,
    );
    const progress = progressBesideLive(live, (line) => (out += `${line}\n`));
    progress('first');
    expect(out).toBe('first\n'); // nothing to clear yet
    live.update('meter');
    progress('second');
    expect(out).toBe(`first\n${CLEAR_LINE}meter${CLEAR_LINE}second\n`);
  });

  it('is the plain printer without a live line', () => {
    const print = (_: string) => {};
    expect(progressBesideLive(undefined, print)).toBe(print);
  });
});

describe('liveLineFor', () => {
  const write = () => {};
  it('only on a terminal in human mode', () => {
    expect(liveLineFor({ isTTY: true }, false, write)).toBeDefined();
    expect(liveLineFor({ isTTY: true }, true, write)).toBeUndefined(); // --json
    expect(liveLineFor({ isTTY: false }, false, write)).toBeUndefined(); // a pipe
    expect(liveLineFor({}, false, write)).toBeUndefined(); // CI logs, test captures
  });

  it('reads the width from the stream it writes to', () => {
    let out = '';
    const stdout = { isTTY: true, columns: 4 };
    liveLineFor(stdout, false, (t) => (out = t))!.update('abcdef');
    expect(out).toBe(`${CLEAR_LINE}abc`);
  });
});
