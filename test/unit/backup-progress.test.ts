import { afterEach, describe, expect, it, vi } from 'vitest';
import { mibPerSecond, ProgressMeter } from '../../pipeline/protection/backup/progress.ts';

const MiB = 1024 * 1024;

function meter(options: Partial<ConstructorParameters<typeof ProgressMeter>[0]> = {}) {
  let now = 0;
  const lines: string[] = [];
  const m = new ProgressMeter({ label: 'backup x', intervalMs: 1000, emit: (l) => lines.push(l), now: () => now, ...options });
  return { m, lines, at: (ms: number) => (now = ms) };
}

describe('ProgressMeter', () => {
  afterEach(() => vi.useRealTimers());

  it('reports bytes, the rate of the last interval and the elapsed time', () => {
    const { m, at } = meter();
    m.start();
    m.add(50 * MiB);
    at(1000);
    expect(m.line()).toBe('backup x: 50.0 MiB · 50 MiB/s · 1.00 s elapsed');
    m.add(10 * MiB);
    at(3000);
    // The rate is that of the last interval (10 MiB in 2 s), not the average since the start.
    expect(m.line()).toBe('backup x: 60.0 MiB · 5 MiB/s · 3.00 s elapsed');
    at(4000);
    expect(m.line()).toBe('backup x: 60.0 MiB · 0 MiB/s · 4.00 s elapsed');
  });

  it('with an expected total adds the share done and an ETA from the average rate, and drops both once the total is passed', () => {
    const { m, at } = meter({ expectedBytes: 400 * MiB, expectedFrom: 'estimated from the previous backup', detail: 'database 1.0 GiB' });
    m.start();
    m.set(100 * MiB);
    at(10_000);
    expect(m.line()).toBe(
      'backup x: 100.0 MiB of ~400.0 MiB (25 %) · 10 MiB/s · ETA ~30.00 s (estimated from the previous backup) · 10.00 s elapsed · database 1.0 GiB',
    );
    m.set(500 * MiB);
    at(20_000);
    expect(m.line()).toBe('backup x: 500.0 MiB · 40 MiB/s · 20.00 s elapsed · database 1.0 GiB');
  });

  it('emits one line per interval from a timer, also while no bytes move, and stops with the totals', () => {
    vi.useFakeTimers();
    const lines: string[] = [];
    const m = new ProgressMeter({ label: 'dump', intervalMs: 30_000, emit: (l) => lines.push(l) }).start();
    m.add(MiB);
    vi.advanceTimersByTime(29_999);
    expect(lines).toHaveLength(0);
    vi.advanceTimersByTime(1);
    vi.advanceTimersByTime(60_000);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^dump: 1\.0 MiB · /);
    expect(lines[2]).toMatch(/^dump: 1\.0 MiB · 0 MiB\/s · /);
    const summary = m.stop();
    expect(summary.bytes).toBe(MiB);
    vi.advanceTimersByTime(60_000);
    expect(lines).toHaveLength(3);
  });

  it('interval 0 never prints but still counts', () => {
    vi.useFakeTimers();
    const lines: string[] = [];
    const m = new ProgressMeter({ label: 'dump', intervalMs: 0, emit: (l) => lines.push(l) }).start();
    m.add(3);
    vi.advanceTimersByTime(600_000);
    expect(lines).toEqual([]);
    expect(m.stop().bytes).toBe(3);
  });

  it('mibPerSecond', () => {
    expect(mibPerSecond(150 * MiB, 1000)).toBe(150);
    expect(mibPerSecond(MiB, 3000)).toBe(0.3);
    expect(mibPerSecond(MiB, 0)).toBe(0);
  });
});
