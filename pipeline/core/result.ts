import { z } from 'zod';
import type { ExitCode } from './errors.ts';

/** What every command returns, and the envelope it is written in as `reports/<step>.json`. */

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

/** Most severe first. */
export const SEVERITY_ORDER: Record<Severity, number> = { error: 0, warning: 1, notice: 2 };

/** A check's verdict from its findings: fail on an error, warn on anything else, pass on none. */
export const verdictOf = (findings: readonly Finding[]): Verdict =>
  findings.some((f) => f.severity === 'error') ? 'fail' : findings.length > 0 ? 'warn' : 'pass';

/**
 * The files steps exchange: `reports/<step>.json`. Steps produce them; `dbops report`, the gate and the
 * evidence read them back, possibly from a downloaded workflow artifact, so they are validated on read.
 * Additive changes only within one schemaVersion. `data` is validated by the step's own schema (report/schema.ts).
 */
export const SeveritySchema = z.enum(['error', 'warning', 'notice']);

export const FindingSchema = z.object({
  rule: z.string().describe('stable rule id, e.g. squawk/adding-field-with-default, history/edited, rehearse/rewrite'),
  severity: SeveritySchema,
  message: z.string(),
  file: z.string().optional().describe('path relative to the repository root'),
  line: z.number().int().positive().optional().describe('1-based'),
  column: z.number().int().positive().optional().describe('1-based'),
  endLine: z.number().int().positive().optional(),
  endColumn: z.number().int().positive().optional(),
  help: z.string().optional(),
  migration: z.string().optional(),
});

export const VerdictSchema = z.enum(['pass', 'warn', 'fail', 'skip']);

export const ReportEnvelope = z.object({
  schemaVersion: z.literal(1),
  step: z.string().describe('lint | rollbacks | rehearse | …: the file name without .json'),
  command: z.string().describe('e.g. "lint"'),
  verdict: VerdictSchema,
  exitCode: z.number().int(),
  startedAt: z.string().describe('ISO 8601 UTC'),
  finishedAt: z.string(),
  durationMs: z.number(),
  commit: z.string().nullable().describe('git HEAD when the step ran, if in a git work tree'),
  dbopsVersion: z.string(),
  findings: z.array(FindingSchema),
  error: z.object({ code: z.string().optional(), message: z.string(), hint: z.string().optional() }).optional(),
  data: z.unknown(),
});
export type ReportEnvelope = z.output<typeof ReportEnvelope>;
