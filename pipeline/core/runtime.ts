import type { Logger } from './logger.ts';
import type { Shell } from './shell.ts';

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
  /**
   * Adds a page to the run's summary: GitHub's job summary inside Actions, nothing elsewhere. Domains hand
   * over Markdown here and never learn where it goes; `'skipped'` when there is no summary to write to.
   */
  summarize(markdown: string): Promise<'written' | 'skipped'>;
}
