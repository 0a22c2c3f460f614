import { ExitCode, isDbopsError, EnvError } from '../core/errors.ts';
import { reportFile } from '../core/envelope.ts';
import { writeFileAtomic } from '../core/fs.ts';
import { redactDeep } from '../core/redact.ts';
import type { ReportEnvelope, StepResult } from '../core/result.ts';
import { DBOPS_VERSION } from '../core/version.ts';
import { headCommit } from '../infra/git/base.ts';
import type { StepContext } from './contract.ts';

/** Writing `reports/<step>.json` for every command that has a report: the CLI's exit path does it (and demo). */

export interface StepOutcome {
  step: string;
  command: string;
  startedAt: Date;
  finishedAt: Date;
  commit: string | null;
  dbopsVersion: string;
  /** What the step returned, or what it threw. */
  result?: StepResult<unknown>;
  thrown?: unknown;
}

export function envelopeOf(o: StepOutcome): ReportEnvelope {
  const base = {
    schemaVersion: 1 as const,
    step: o.step,
    command: o.command,
    startedAt: o.startedAt.toISOString(),
    finishedAt: o.finishedAt.toISOString(),
    durationMs: o.finishedAt.getTime() - o.startedAt.getTime(),
    commit: o.commit,
    dbopsVersion: o.dbopsVersion,
  };
  if (o.result) {
    const r = o.result;
    const error = r.error
      ? { ...(r.error.code ? { code: r.error.code } : {}), message: r.error.message, ...(r.error.hint ? { hint: r.error.hint } : {}) }
      : undefined;
    return {
      ...base,
      verdict: r.verdict,
      exitCode: r.exitCode ?? (r.verdict === 'fail' ? ExitCode.Failed : ExitCode.Ok),
      findings: r.findings,
      ...(error ? { error } : {}),
      data: r.data,
    };
  }
  // A thrown step has no data; `dbops report` still shows that it ran and why it stopped.
  const e = o.thrown;
  const error = isDbopsError(e)
    ? { ...(e.code ? { code: e.code } : {}), message: e.message, ...(e.hint ? { hint: e.hint } : {}) }
    : { message: `Internal error: ${e instanceof Error ? e.message : String(e)}` };
  return { ...base, verdict: 'fail', exitCode: isDbopsError(e) ? e.exitCode : ExitCode.Internal, findings: [], error, data: null };
}

/** Writes `<dir>/<step>.json`, redacted. An unwritable folder is an environment error (exit 3). */
export async function writeReport(dir: string, outcome: StepOutcome): Promise<string> {
  const path = reportFile(dir, outcome.step);
  const envelope = redactDeep(envelopeOf(outcome));
  try {
    await writeFileAtomic(path, `${JSON.stringify(envelope, null, 2)}\n`);
  } catch (e) {
    throw new EnvError(`Could not write the report ${path}: ${(e as Error).message}`, {
      hint: `Make the folder writable or pass another one with --reports-dir.`,
    });
  }
  return path;
}

/**
 * Runs a step and writes `<dir>/<step>.json` whether it passed, failed or threw, so `dbops report` and later
 * steps never read a stale report as this run's. When the step threw, that error is what the user must see:
 * a report that cannot be written then only gets a log line.
 */
export async function recordStep<D>(dir: string, step: string, command: string, ctx: StepContext, run: () => Promise<StepResult<D>>): Promise<StepResult<D>> {
  const startedAt = new Date();
  // Asked while the step runs: `git rev-parse` costs a process start, which the step's own work hides.
  const commit = headCommit(ctx.sh).catch(() => null);
  const save = async (outcome: Pick<StepOutcome, 'result' | 'thrown'>) => {
    const path = await writeReport(dir, {
      ...outcome,
      step,
      command,
      startedAt,
      finishedAt: new Date(),
      commit: await commit,
      dbopsVersion: DBOPS_VERSION,
    });
    ctx.log.debug({ path }, 'report written');
  };
  let result: StepResult<D>;
  try {
    result = await run();
  } catch (e) {
    await save({ thrown: e }).catch((w: Error) => ctx.log.warn(w.message));
    throw e;
  }
  try {
    await save({ result });
  } catch (e) {
    // The step's work is done (migrations applied, a backup stored): its output still says what it did,
    // and the exit code says that the report is missing.
    const problem = `${(e as Error).message} The ${command} itself ${result.verdict === 'fail' ? 'failed as reported above' : 'completed as reported above'}.`;
    return {
      ...result,
      exitCode: ExitCode.Environment,
      error: {
        ...result.error,
        message: [result.error?.message, problem].filter(Boolean).join('\n\n'),
        hint: result.error?.hint ?? (isDbopsError(e) ? e.hint : undefined),
      },
    };
  }
  return result;
}
