import type { z } from 'zod';
import { ExitCode, isDbopsError, UsageError } from '../core/errors.ts';
import { assertExistingFolder, assertWritableFolder } from '../core/fs.ts';
import { createLogger, LOG_LEVELS } from '../core/logger.ts';
import { type StepResult } from '../core/result.ts';
import { didYouMean } from '../core/suggest.ts';
import { parseDatabaseUrl } from '../infra/db/url.ts';
import { createContext } from './context.ts';
import { printError, type CliIo, type CommandSpec, type Printers, type Selected, withRun } from './contract.ts';
import { kebab } from './describe.ts';
import { liveLineFor, progressBesideLive } from './live.ts';
import { recordStep } from './record.ts';
import { REGISTRY } from './registry.ts';

/**
 * Runs the command the command line chose: its spec validates the inputs (zod), what can be checked
 * before the first side effect is checked, then its implementation runs under a logger, Ctrl-C handling
 * and, for commands with a report, the report's recording.
 */
export async function runCommand(selected: Selected, io: CliIo, { out, err }: Printers): Promise<ExitCode> {
  const { command, options, rest, given } = selected;
  const entry = REGISTRY.find((e) => e.path.join(' ') === command.path.join(' '))!;
  const spec = withRun(await entry.spec(), entry.run);
  const raw: Record<string, unknown> = { ...options, ...(spec.rest ? { args: rest } : {}) };
  const parsed = spec.inputs.safeParse(raw);
  if (!parsed.success) throw inputError(spec, parsed.error.issues, raw);
  const input = parsed.data as Record<string, unknown>;
  await checkInputs(spec, input, given);
  const level = options['verbose'] ? 'debug' : options['quiet'] ? 'warn' : (io.env['DBOPS_LOG_LEVEL'] ?? (io.stderr.isTTY ? 'warn' : 'info'));
  if (!LOG_LEVELS.includes(level))
    throw new UsageError(`DBOPS_LOG_LEVEL=${level} is not a log level.${didYouMean(level, LOG_LEVELS)}`, {
      hint: `Use one of ${LOG_LEVELS.join(', ')}, or unset it.`,
    });
  const log = createLogger({ level, pretty: io.stderr.isTTY === true, stream: io.stderr as NodeJS.WritableStream });

  const abort = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (abort.signal.aborted) process.kill(process.pid, signal); // second Ctrl-C: leave now
    log.warn({ signal }, 'stopping at the next safe point (press Ctrl-C again to abort immediately)');
    process.removeListener(signal, onSignal);
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    return await execute(spec, input, { io, log, abort, out, err });
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

/** Every flag problem at once; a required flag that is missing says so, with an example that has it. */
function inputError(spec: CommandSpec, issues: z.core.$ZodIssue[], raw: Record<string, unknown>): UsageError {
  const lines = issues.map((i) => {
    const flag = `--${i.path.map((p) => kebab(String(p))).join('.')}`;
    if (i.path.length === 1 && raw[String(i.path[0])] === undefined) {
      const example = spec.examples.find((e) => e.includes(`${flag} `));
      return `${flag} is required${example ? `, e.g. ${example}` : ''}.`;
    }
    return `${flag}: ${i.message}`;
  });
  return new UsageError(lines.join('\n'), { hint: `\`dbops ${spec.path.join(' ')} --help\` lists every flag.` });
}

// Folders a command reads from: given explicitly, they must exist (a typo must not fall back to defaults or
// to "no files"); their defaults may be absent, and the command then says which defaults apply.
const INPUT_FOLDERS = ['migrationsDir', 'rollbacksDir', 'policiesDir'] as const;

/**
 * Checks what can be checked before the command's first side effect: folders it reads, the reports folder
 * it writes (before a backup is stored or a database changed, not after), and every URL flag.
 */
async function checkInputs(spec: CommandSpec, input: Record<string, unknown>, given: Set<string>): Promise<void> {
  for (const key of INPUT_FOLDERS) {
    const value = input[key];
    if (typeof value === 'string' && given.has(key)) await assertExistingFolder(value, `--${kebab(key)}`);
  }
  const reportsDir = input['reportsDir'];
  if (typeof reportsDir === 'string') {
    if (spec.report || spec.reportsDirUse === 'writes') await assertWritableFolder(reportsDir, `--reports-dir ${reportsDir}`);
    else if (spec.reportsDirUse === 'reads' && given.has('reportsDir')) await assertExistingFolder(reportsDir, '--reports-dir');
  }
  for (const [key, value] of Object.entries(input)) {
    if (key.endsWith('Url') && typeof value === 'string') parseDatabaseUrl(value, undefined, `--${kebab(key)}`);
  }
}

interface Execution {
  io: CliIo;
  log: ReturnType<typeof createLogger>;
  abort: AbortController;
  out: Printers['out'];
  err: Printers['err'];
}

async function execute(spec: CommandSpec, input: Record<string, unknown>, { io, log, abort, out, err }: Execution): Promise<ExitCode> {
  const asJson = input['json'] === true;
  // On a terminal meters redraw one line; everywhere else (CI logs, pipes, --json) they print interval lines.
  const live = liveLineFor(io.stdout, asJson, out);
  const ctx = createContext({
    env: io.env,
    log,
    signal: abort.signal,
    policiesDir: (input['policiesDir'] as string | undefined) ?? 'policies',
    databaseUrl: input['databaseUrl'] as string | undefined,
    schema: input['schema'] as string | undefined,
    progress: asJson ? (line) => log.info(line) : progressBesideLive(live, (line) => out(`${line}\n`)),
    live,
  });
  const step = await spec.load();
  const report = spec.report;
  let result: StepResult<unknown>;
  try {
    result = report
      ? await recordStep((input['reportsDir'] as string | undefined) ?? 'reports', report, spec.path.join(' '), ctx, () => step.run(input, ctx))
      : await step.run(input, ctx);
  } catch (e) {
    if (asJson && isDbopsError(e))
      out(`${JSON.stringify({ command: spec.path.join(' '), error: { code: e.code, message: e.message, hint: e.hint, exitCode: e.exitCode } }, null, 2)}\n`);
    throw e;
  } finally {
    live?.done(); // a meter left running by a failed step must not leave its line under the result
  }
  if (asJson)
    out(
      `${JSON.stringify({ command: spec.path.join(' '), verdict: result.verdict, findings: result.findings, data: result.data, error: result.error }, null, 2)}\n`,
    );
  else out(step.render(result, input));
  if (result.error) printError(err, result.error);
  return result.exitCode ?? (result.verdict === 'fail' ? ExitCode.Failed : ExitCode.Ok);
}
