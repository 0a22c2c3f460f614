import type { z } from 'zod';
import type { StepResult } from '../core/result.ts';
import type { Runtime } from '../core/runtime.ts';
import type { DbTarget } from '../infra/db/url.ts';
import type { LoadedPolicy } from '../policy/load.ts';
import type { PolicyName } from '../policy/schema.ts';

/** The contract between the CLI and the commands: the context a command runs in, its spec and its module. */

/** What a command gets: the domain runtime, plus what only the CLI resolves. */
export interface StepContext extends Runtime {
  /** Loads and validates the named policy files (every problem reported at once, exit 2). */
  policies<K extends PolicyName>(...names: K[]): Promise<{ [P in K]: LoadedPolicy<P> }>;
  /** The database to work on: --database-url, else DATABASE_URL, else the embedded cluster (started on demand). */
  database(): Promise<DbTarget>;
  /** Every command (the CLI's registry): `dbops report` prints each report the way its own command does. */
  commands(): Promise<readonly CommandSpec[]>;
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

/** A command as help and parsing see it: plain data derived from its spec (cli/describe.ts), no zod. */
export interface OptionSummary {
  /** The input key (camelCase); the flag is its kebab-case. */
  key: string;
  /** `--reports-dir <value>` or `--json`. */
  flags: string;
  description: string;
  default?: unknown;
}

export interface CommandSummary {
  path: string[];
  summary: string;
  description?: string;
  examples: string[];
  rest?: { name: string; description: string };
  report?: string;
  reportsDirUse?: 'reads' | 'writes';
  options: OptionSummary[];
}

/** Where a CLI run reads and writes; the real process streams, or buffers in tests. */
export interface CliIo {
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown; isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

export interface Printers {
  out(text: string): void;
  err(text: string): void;
}

/** The command the command line chose, with its flags as commander parsed them. */
export interface Selected {
  command: CommandSummary;
  options: Record<string, unknown>;
  rest: string[];
  /** Input keys given on the command line (the others hold their defaults). */
  given: Set<string>;
}

/** A refusal or error as the terminal shows it: code, message, fix. */
export function printError(err: Printers['err'], e: { code?: string | undefined; message: string; hint?: string | undefined }): void {
  const head = e.code ? `Error: ${e.code}\n\n${e.message}` : `Error: ${e.message}`;
  err(`${head}${e.hint ? `\n\nFix: ${e.hint}` : ''}\n`);
}
