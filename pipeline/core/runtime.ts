import type { Logger } from './logger.ts';
import type { Shell } from './shell.ts';

/**
 * A status line that rewrites itself in place. On a terminal a meter that redraws one line shows progress
 * without scrolling the screen; in CI logs (stdout not a TTY, or --json) there is none, and meters print
 * one line per interval instead, since a log keeps every carriage-return redraw as noise.
 */
export interface LiveLine {
  /** Replaces the line's text (the writer may cut it to the terminal's width). */
  update(text: string): void;
  /** Clears the line; the next update() draws it again. */
  done(): void;
}

/**
 * What domain code runs with: logging, the shell, Ctrl-C, the process environment and progress lines. The
 * CLI's StepContext extends it with what only commands resolve (policies, the database, the registry).
 */
export interface Runtime {
  log: Logger;
  sh: Shell;
  signal: AbortSignal;
  /** The environment the command runs in, for documented variable fallbacks (e.g. STAGING_SNAPSHOT_URL). */
  env: NodeJS.ProcessEnv;
  /** A human progress line (stdout in human mode, a log line under --json). */
  progress(line: string): void;
  /** Only on a terminal in human mode (see LiveLine); absent in CI, through pipes and under --json. */
  live?: LiveLine | undefined;
  /**
   * Adds a page to the run's summary: GitHub's job summary inside Actions, nothing elsewhere. Domains hand
   * over Markdown here and never learn where it goes; `'skipped'` when there is no summary to write to.
   */
  summarize(markdown: string): Promise<'written' | 'skipped'>;
}
