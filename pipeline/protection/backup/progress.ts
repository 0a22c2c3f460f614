import { formatBytes, formatMs } from '../../core/format.ts';
import type { LiveLine } from '../../core/runtime.ts';

const MiB = 1024 * 1024;

/** How often the live line redraws: often enough to look alive, rarely enough to cost nothing. */
export const LIVE_REDRAW_MS = 250;
/** The live rate covers about the last second: steadier than one redraw's bytes, fresher than the interval's. */
const LIVE_RATE_WINDOW_MS = 1000;

/** Bytes per millisecond → MiB/s, rounded to one decimal; 0 for an empty interval. */
export const mibPerSecond = (bytes: number, ms: number): number => (ms > 0 ? Math.round((bytes / MiB / (ms / 1000)) * 10) / 10 : 0);

export interface ProgressMeterOptions {
  /** What moves, e.g. `dumping 20261124T020003Z-daily-3f9a`: starts every line. */
  label: string;
  /** One line per interval; 0 turns the meter off (it still counts). */
  intervalMs: number;
  emit(line: string): void;
  /**
   * A terminal's self-rewriting status line: when given, the meter redraws it every LIVE_REDRAW_MS instead of
   * emitting interval lines (on a terminal one live line beats a scrolling log; progress_interval is for CI).
   */
  live?: LiveLine | undefined;
  /** Expected total in the same unit as the counted bytes: adds a percentage and an ETA. */
  expectedBytes?: number | undefined;
  /** Where the expectation comes from, shown beside the ETA (e.g. "estimated from the previous backup"). */
  expectedFrom?: string | undefined;
  /** Extra context for every line, e.g. the database size. */
  detail?: string | undefined;
  now?: () => number;
}

export interface ProgressSummary {
  bytes: number;
  ms: number;
  mibPerSecond: number;
}

/**
 * Periodic progress for long byte streams (backup create, verify, replicate): fed cumulative byte counts,
 * it emits one line per interval with the bytes so far, the rate over the last interval and, when a total is
 * expected, the share done and an ETA from the average rate. A timer rather than the byte feed decides when
 * to print, so a stream stalled on a lock still shows that it is alive (and at 0 MiB/s). On a terminal
 * (`live`) it redraws one status line instead, and prints no interval lines.
 */
export class ProgressMeter {
  readonly #options: ProgressMeterOptions;
  readonly #now: () => number;
  #bytes = 0;
  #started: number;
  #lastAt: number;
  #lastBytes = 0;
  #timer: NodeJS.Timeout | undefined;
  /** Recent (time, bytes) samples for the live rate, apart from the interval window that line() moves. */
  #samples: Array<{ at: number; bytes: number }> = [];

  constructor(options: ProgressMeterOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
    this.#started = this.#now();
    this.#lastAt = this.#started;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Starts the interval timer, or the live redraw (unref'd: it never keeps the process alive). */
  start(): this {
    this.#started = this.#now();
    this.#lastAt = this.#started;
    this.#samples = [{ at: this.#started, bytes: this.#bytes }];
    if (this.#timer) return this;
    const live = this.#options.live;
    if (live) this.#timer = setInterval(() => live.update(this.liveLine()), LIVE_REDRAW_MS);
    else if (this.#options.intervalMs > 0) this.#timer = setInterval(() => this.tick(), this.#options.intervalMs);
    this.#timer?.unref();
    return this;
  }

  add(bytes: number): void {
    this.#bytes += bytes;
  }

  /** Sets the cumulative count (for sources that report totals, like an upload's onProgress). */
  set(total: number): void {
    this.#bytes = total;
  }

  /** Emits the line for the interval that just ended; the timer calls it, tests may too. */
  tick(): void {
    this.#options.emit(this.line());
  }

  /** The current line; also moves the start of the "last interval" window to now. */
  line(): string {
    const now = this.#now();
    const intervalRate = mibPerSecond(this.#bytes - this.#lastBytes, now - this.#lastAt);
    this.#lastAt = now;
    this.#lastBytes = this.#bytes;
    return this.#compose(intervalRate, now);
  }

  /** The live line's text: like line(), with the rate over about the last second; the timer calls it, tests may too. */
  liveLine(): string {
    const now = this.#now();
    const samples = this.#samples;
    samples.push({ at: now, bytes: this.#bytes });
    // Keep the newest sample that is at least a window old as the base, so a late redraw still has a span.
    while (samples.length > 2 && now - samples[1]!.at >= LIVE_RATE_WINDOW_MS) samples.shift();
    const base = samples[0]!;
    return this.#compose(mibPerSecond(this.#bytes - base.bytes, now - base.at), now);
  }

  #compose(rate: number, now: number): string {
    const elapsed = now - this.#started;
    const parts = [`${this.#options.label}: ${formatBytes(this.#bytes)}`];
    const expected = this.#options.expectedBytes;
    if (expected !== undefined && expected > 0 && this.#bytes < expected) {
      parts[0] += ` of ~${formatBytes(expected)} (${Math.floor((this.#bytes / expected) * 100)} %)`;
    }
    parts.push(`${rate} MiB/s`);
    if (expected !== undefined && expected > 0 && this.#bytes > 0 && this.#bytes < expected && elapsed > 0) {
      const etaMs = ((expected - this.#bytes) / this.#bytes) * elapsed;
      parts.push(`ETA ~${formatMs(etaMs)}${this.#options.expectedFrom ? ` (${this.#options.expectedFrom})` : ''}`);
    }
    parts.push(`${formatMs(elapsed)} elapsed`);
    if (this.#options.detail) parts.push(this.#options.detail);
    return parts.join(' · ');
  }

  /** Stops the timer, clears the live line, and returns the totals (average rate over the whole run). */
  stop(): ProgressSummary {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#options.live?.done();
    const ms = this.#now() - this.#started;
    return { bytes: this.#bytes, ms, mibPerSecond: mibPerSecond(this.#bytes, ms) };
  }
}
