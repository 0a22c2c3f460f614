/**
 * Exit codes of every dbops command. Only the entry point (`cli/index.ts`) turns them into `process.exitCode`.
 * An `as const` object rather than an enum so the code stays erasable TypeScript.
 */
export const ExitCode = {
  /** pass; warnings allowed */
  Ok: 0,
  /** the policy or the database state said no (findings, refusal, failed migration) */
  Failed: 1,
  /** usage or configuration error: bad flag, invalid policy, malformed migration folder */
  Usage: 2,
  /** environment error: database unreachable, tool missing, lock held past timeout */
  Environment: 3,
  /** a bug in dbops; the stack is printed */
  Internal: 70,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface DbopsErrorOptions {
  /** Prisma-compatible error code (P1001, P3009, …) when the condition has one. */
  code?: string | undefined;
  /** What to do about it, printed after the message. */
  hint?: string | undefined;
  cause?: unknown;
}

/** Base of every error dbops reports on purpose: it carries its exit code, and is printed without a stack. */
export class DbopsError extends Error {
  readonly exitCode: ExitCode = ExitCode.Internal;
  readonly code: string | undefined;
  readonly hint: string | undefined;
  constructor(message: string, options: DbopsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
    this.hint = options.hint;
  }
}

/** The database state or a policy refuses the action (Prisma P3005, P3009, P3018 …). Exit 1. */
export class RefusedError extends DbopsError {
  override readonly exitCode = ExitCode.Failed;
}

/** Wrong flags or arguments. Exit 2. */
export class UsageError extends DbopsError {
  override readonly exitCode = ExitCode.Usage;
}

/** Invalid policy file, malformed migration folder or file. Exit 2. */
export class ConfigError extends DbopsError {
  override readonly exitCode = ExitCode.Usage;
}

/** Database unreachable, binary missing or too old, lock held past its timeout. Exit 3. */
export class EnvError extends DbopsError {
  override readonly exitCode = ExitCode.Environment;
}

export const isDbopsError = (e: unknown): e is DbopsError => e instanceof DbopsError;
