import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { z } from 'zod';
import { createContext } from './context.ts';
import { ExitCode, isDbopsError, UsageError } from '../core/errors.ts';
import { assertExistingFolder, assertWritableFolder } from '../core/fs.ts';
import { createLogger, LOG_LEVELS } from '../core/logger.ts';
import { redact } from '../core/redact.ts';
import { closest, didYouMean } from '../core/suggest.ts';
import { parseDatabaseUrl } from '../infra/db/url.ts';
import { commands, GROUPS } from './registry.ts';
import { type CommandSpec } from './contract.ts';
import { type StepResult } from '../core/result.ts';
import { recordStep } from './record.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string; description: string };

/** Where a CLI run reads and writes; the real process streams, or buffers in tests. */
export interface CliIo {
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown; isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  while (s instanceof z.ZodDefault || s instanceof z.ZodOptional || s instanceof z.ZodPrefault) s = s.unwrap() as z.ZodType;
  return s;
}

/** Adds one --flag per schema key: the zod schema is the single description of a command's inputs. */
function addOptions(cmd: Command, spec: CommandSpec): void {
  for (const [key, field] of Object.entries(spec.inputs.shape) as Array<[string, z.ZodType]>) {
    if (key === 'args') continue;
    const isBool = unwrap(field) instanceof z.ZodBoolean;
    const option = new Option(isBool ? `--${kebab(key)}` : `--${kebab(key)} <value>`, field.description ?? '');
    const fallback = field.safeParse(undefined);
    if (!isBool && fallback.success && fallback.data !== undefined) option.default(fallback.data);
    cmd.addOption(option);
  }
  cmd.addOption(new Option('--verbose', 'debug logging on stderr'));
  cmd.addOption(new Option('--quiet', 'only warnings and errors on stderr'));
}

interface Selected {
  spec: CommandSpec;
  options: Record<string, unknown>;
  rest: string[];
  /** Input keys given on the command line (the others hold their defaults). */
  given: Set<string>;
}

function buildProgram(io: Printers, onSelect: (s: Selected) => void): Command {
  const { out, err } = io;
  const program = new Command('dbops')
    .description(`${pkg.description}\n\nRun \`dbops <command> --help\` for a command's flags and examples.`)
    .version(pkg.version, '--version')
    .exitOverride()
    .configureOutput({ writeOut: out, writeErr: err })
    .showSuggestionAfterError(true)
    .addHelpText('after', '\nExit codes: 0 pass, 1 refused or failed (policy, database state), 2 usage or configuration error, 3 environment error (database, tools, locks), 70 internal bug.');
  const groups = new Map<string, Command>();
  // A group's line: what it is about (GROUPS), then its subcommands as the specs define them.
  const verbs = (head: string) => commands.filter((c) => c.path[0] === head && c.path[1]).map((c) => c.path[1]!);
  for (const spec of commands) {
    const [head, leaf] = spec.path as [string, string | undefined];
    let parent = program;
    if (leaf) {
      parent = groups.get(head) ?? program.command(head).description(`${GROUPS[head] ?? `${head} commands`}: ${verbs(head).join(', ')}`);
      groups.set(head, parent);
    }
    const cmd = parent.command(leaf ?? head).description(spec.summary).allowExcessArguments(false);
    addOptions(cmd, spec);
    if (spec.rest) cmd.argument(`[${spec.rest.name}...]`, spec.rest.description);
    const extra = [spec.description, `Examples:\n${spec.examples.map((e) => `  $ ${e}`).join('\n')}`].filter(Boolean).join('\n\n');
    cmd.addHelpText('after', `\n${extra}`);
    cmd.action((...args: unknown[]) => {
      const rest = spec.rest ? ((args[0] as string[] | undefined) ?? []) : [];
      const given = new Set(Object.keys(spec.inputs.shape).filter((key) => cmd.getOptionValueSource(key) === 'cli'));
      onSelect({ spec, options: cmd.opts(), rest, given });
    });
  }
  for (const [name, group] of groups) {
    group.addHelpText('after', `\nRun \`dbops ${name} <command> --help\` for a command's flags and examples.`);
  }
  return program;
}

interface Printers {
  out(text: string): void;
  err(text: string): void;
}

function printError(err: Printers['err'], e: { code?: string | undefined; message: string; hint?: string | undefined }): void {
  const head = e.code ? `Error: ${e.code}\n\n${e.message}` : `Error: ${e.message}`;
  err(`${head}${e.hint ? `\n\nFix: ${e.hint}` : ''}\n`);
}

/**
 * Runs one dbops command and returns its exit code. The only place that maps results and errors to exit
 * codes; nothing below it writes to the terminal or exits.
 */
export async function runCli(argv: string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<ExitCode> {
  const printers: Printers = { out: (t) => void io.stdout.write(redact(t)), err: (t) => void io.stderr.write(redact(t)) };
  try {
    return await dispatch(argv, io, printers);
  } catch (e) {
    if (isDbopsError(e)) {
      printError(printers.err, e);
      return e.exitCode;
    }
    printers.err(`Internal error (a bug in dbops; please report it with the output below):\n${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return ExitCode.Internal;
  }
}

/**
 * An unknown command or subcommand, named with the closest ones. Checked before commander parses, because
 * with --help commander would print the general help and exit 0 for a command that does not exist.
 */
function unknownCommand(argv: string[]): string | undefined {
  const end = argv.indexOf('--');
  const words = end === -1 ? argv : argv.slice(0, end);
  const at = words.findIndex((w) => !w.startsWith('-'));
  if (at === -1) return undefined;
  // Worded as commander words its own: the message users and scripts already know.
  const unknown = (name: string, known: string[]) => {
    const near = closest(name, known);
    return `error: unknown command '${name}'${near.length ? `\n(Did you mean ${near.join(' or ')}?)` : ''}\n`;
  };
  const head = words[at]!;
  const heads = [...new Set(commands.map((c) => c.path[0]!)), 'help'];
  if (!heads.includes(head)) return unknown(head, heads);
  const subs = commands.filter((c) => c.path[0] === head && c.path[1]).map((c) => c.path[1]!);
  const next = words[at + 1];
  if (subs.length === 0 || next === undefined || next.startsWith('-')) return undefined;
  return [...subs, 'help'].includes(next) ? undefined : unknown(next, subs);
}

async function dispatch(argv: string[], io: CliIo, { out, err }: Printers): Promise<ExitCode> {
  const unknown = unknownCommand(argv);
  if (unknown) {
    err(unknown);
    return ExitCode.Usage;
  }
  let selected: Selected | undefined;
  const program = buildProgram({ out, err }, (s) => { selected = s; });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return ExitCode.Ok;
      return ExitCode.Usage; // commander already printed the message (unknown flag, missing value, bare group)
    }
    throw e;
  }
  if (!selected) {
    program.outputHelp({ error: true });
    return ExitCode.Usage;
  }
  const { spec, options, rest, given } = selected;
  const raw: Record<string, unknown> = { ...options, ...(spec.rest ? { args: rest } : {}) };
  const parsed = spec.inputs.safeParse(raw);
  if (!parsed.success) throw inputError(spec, parsed.error.issues, raw);
  const input = parsed.data as Record<string, unknown>;
  await checkInputs(spec, input, given);
  const level = options['verbose'] ? 'debug' : options['quiet'] ? 'warn' : (io.env['DBOPS_LOG_LEVEL'] ?? (io.stderr.isTTY ? 'warn' : 'info'));
  if (!LOG_LEVELS.includes(level)) throw new UsageError(`DBOPS_LOG_LEVEL=${level} is not a log level.${didYouMean(level, LOG_LEVELS)}`, { hint: `Use one of ${LOG_LEVELS.join(', ')}, or unset it.` });
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
  const ctx = createContext({
    env: io.env,
    log,
    signal: abort.signal,
    policiesDir: (input['policiesDir'] as string | undefined) ?? 'policies',
    databaseUrl: input['databaseUrl'] as string | undefined,
    schema: input['schema'] as string | undefined,
    progress: asJson ? (line) => log.info(line) : (line) => out(`${line}\n`),
  });
  const step = await spec.load();
  const report = spec.report;
  let result: StepResult<unknown>;
  try {
    result = report
      ? await recordStep((input['reportsDir'] as string | undefined) ?? 'reports', report, spec.path.join(' '), ctx, () => step.run(input, ctx))
      : await step.run(input, ctx);
  } catch (e) {
    if (asJson && isDbopsError(e)) out(`${JSON.stringify({ command: spec.path.join(' '), error: { code: e.code, message: e.message, hint: e.hint, exitCode: e.exitCode } }, null, 2)}\n`);
    throw e;
  }
  if (asJson) out(`${JSON.stringify({ command: spec.path.join(' '), verdict: result.verdict, findings: result.findings, data: result.data, error: result.error }, null, 2)}\n`);
  else out(step.render(result, input));
  if (result.error) printError(err, result.error);
  return result.exitCode ?? (result.verdict === 'fail' ? ExitCode.Failed : ExitCode.Ok);
}

