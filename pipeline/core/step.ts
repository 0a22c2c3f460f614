import type { z } from 'zod';
import type { DbTarget } from '../infra/db/url.ts';
import type { LoadedPolicy } from '../policy/load.ts';
import type { PolicyName } from '../policy/schema.ts';
import type { ExitCode } from './errors.ts';
import type { Logger } from './logger.ts';
import type { Shell } from './shell.ts';

export type Verdict = 'pass' | 'warn' | 'fail' | 'skip';
export type Severity = 'error' | 'warning' | 'notice';

export interface Finding {
  /** Stable id, e.g. `migrate/modified-after-apply`. */
  rule: string;
  severity: Severity;
  message: string;
  file?: string;
  /** 1-based. */
  line?: number;
  /** 1-based. */
  column?: number;
  /** 1-based, inclusive. */
  endLine?: number;
  /** 1-based. */
  endColumn?: number;
  help?: string;
  /** The migration (folder name) the finding is about, when it is about one. */
  migration?: string;
}

/**
 * What every step returns. `fail` means only "the policy or the database state said no" (exit 1); a
 * broken environment or bad input is thrown as a DbopsError instead.
 */
export interface StepResult<D> {
  verdict: Verdict;
  findings: Finding[];
  data: D;
  /** Overrides the exit code derived from the verdict (e.g. exit 3 after the last lock-timeout retry, with the partial result kept). */
  exitCode?: ExitCode;
  /** A Prisma-style error block to print (code, message, fix) when the step ends in a refusal. */
  error?: { code?: string | undefined; message: string; hint?: string | undefined } | undefined;
}

export interface StepContext {
  log: Logger;
  sh: Shell;
  signal: AbortSignal;
  /** The environment the command runs in, for a step's documented variable fallbacks (e.g. STAGING_SNAPSHOT_URL). */
  env?: NodeJS.ProcessEnv;
  /** Loads and validates the named policy files (every problem reported at once, exit 2). */
  policies<K extends PolicyName>(...names: K[]): Promise<{ [P in K]: LoadedPolicy<P> }>;
  /** The database to work on: --database-url, else DATABASE_URL, else the embedded cluster (started on demand). */
  database(): Promise<DbTarget>;
  /** A human progress line (stdout in human mode, a log line under --json). */
  progress(line: string): void;
  /** Every command (the CLI's registry): `dbops report` prints each report the way its own command does. */
  commands: readonly CommandSpec[];
  /** Hands the terminal to a child process (psql) and returns its exit code. */
  interactive(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<number>;
}

export interface StepModule<I, D> {
  run(input: I, ctx: StepContext): Promise<StepResult<D>>;
  /** Human rendering of the result for stdout. */
  render(result: StepResult<D>, input: I): string;
}

/** A command's flags and help (commands/<group>/<verb>/spec.ts); the registry pairs it with its implementation. */
export interface CommandInfo<S extends z.ZodObject = z.ZodObject> {
  /** e.g. ['migrate', 'deploy'] */
  path: string[];
  summary: string;
  description?: string;
  examples: string[];
  inputs: S;
  /** Name of a variadic positional argument collected into `inputs.args`. */
  rest?: { name: string; description: string };
  /** When set, the result is also written to `<reports-dir>/<report>.json` (the report envelope in pipeline/report/schema.ts). */
  report?: string;
  /**
   * What the command does with --reports-dir apart from its own report: `writes` (demo writes the reports of
   * the steps it runs) or `reads` (report, backup notify). Checked before the command starts.
   */
  reportsDirUse?: 'reads' | 'writes';
}

export const defineCommand = <S extends z.ZodObject>(info: CommandInfo<S>): CommandInfo<S> => info;

/** A command with its implementation, loaded only when it runs (so `--help` and other commands never load it). */
export interface CommandSpec<S extends z.ZodObject = z.ZodObject> extends CommandInfo<S> {
  load(): Promise<StepModule<z.output<S>, unknown>>;
}

/** Pairs a command's spec with the lazy import of its run module; the module's input type must be the spec's. */
export const withRun = <S extends z.ZodObject>(info: CommandInfo<S>, load: () => Promise<StepModule<z.output<S>, any>>): CommandSpec =>
  ({ ...info, load }) as unknown as CommandSpec;
