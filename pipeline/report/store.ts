import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { z } from 'zod';
import { ConfigError, EnvError, ExitCode, isDbopsError } from '../core/errors.ts';
import { writeFileAtomic } from '../core/fs.ts';
import { redactDeep } from '../core/redact.ts';
import { DBOPS_VERSION } from '../core/version.ts';
import { headCommit } from '../infra/git/base.ts';
import { REPORT_DATA } from './schema.ts';
import { type StepContext } from '../cli/contract.ts';
import { ReportEnvelope, type StepResult } from '../core/result.ts';

export const reportFile = (dir: string, step: string) => join(dir, `${step}.json`);

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
    const error = r.error ? { ...(r.error.code ? { code: r.error.code } : {}), message: r.error.message, ...(r.error.hint ? { hint: r.error.hint } : {}) } : undefined;
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
    throw new EnvError(`Could not write the report ${path}: ${(e as Error).message}`, { hint: `Make the folder writable or pass another one with --reports-dir.` });
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
  const save = async (outcome: Pick<StepOutcome, 'result' | 'thrown'>) => {
    const path = await writeReport(dir, { ...outcome, step, command, startedAt, finishedAt: new Date(), commit: await headCommit(ctx.sh), dbopsVersion: DBOPS_VERSION });
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
    return { ...result, exitCode: ExitCode.Environment, error: { ...result.error, message: [result.error?.message, problem].filter(Boolean).join('\n\n'), hint: result.error?.hint ?? (isDbopsError(e) ? e.hint : undefined) } };
  }
  return result;
}

export interface LoadedReport {
  file: string;
  report: ReportEnvelope;
}

const pathOf = (path: ReadonlyArray<PropertyKey>) =>
  path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), '') || '<root>';

function firstIssue(error: z.ZodError, prefix: string[] = []): string {
  const issue = error.issues[0]!;
  return `${pathOf([...prefix, ...issue.path])}: ${issue.message}`;
}

/** Parses and validates one report file: the envelope, then the step's data schema when the step is known. */
export function parseReport(file: string, text: string, expectedStep?: string): ReportEnvelope {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${file} is not valid JSON: ${(e as Error).message}`, { hint: 'Run the step again to rewrite it, or delete the file.' });
  }
  const hint = 'The file was not written by this version of dbops, or was edited. Run the step again to rewrite it.';
  const envelope = ReportEnvelope.safeParse(json);
  if (!envelope.success) throw new ConfigError(`${file} is not a dbops report: ${firstIssue(envelope.error)}`, { hint });
  const report = envelope.data;
  if (expectedStep && report.step !== expectedStep) throw new ConfigError(`${file} is not a dbops report: step: expected "${expectedStep}", found "${report.step}"`, { hint });
  const schema = (REPORT_DATA as Record<string, z.ZodType | undefined>)[report.step];
  // A step that threw has no data to validate; its `error` says why.
  if (schema && !(report.error && report.data === null)) {
    const data = schema.safeParse(report.data);
    if (!data.success) throw new ConfigError(`${file} is not a valid ${report.step} report: ${firstIssue(data.error, ['data'])}`, { hint });
    report.data = data.data;
  }
  return report;
}

/** Reads every `<step>.json` of the given steps that exists in `dir`, in the order given. */
export async function readReports(dir: string, steps: readonly string[]): Promise<LoadedReport[]> {
  const loaded: LoadedReport[] = [];
  for (const step of steps) {
    const file = reportFile(dir, step);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') throw new ConfigError(`${dir} is a file, not a folder of reports.`, { hint: 'Pass the folder the steps wrote their reports into with --reports-dir.' });
      throw new EnvError(`Could not read ${file}: ${(e as Error).message}`);
    }
    loaded.push({ file, report: parseReport(file, text, step) });
  }
  return loaded;
}
