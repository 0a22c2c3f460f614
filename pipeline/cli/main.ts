import { Command, CommanderError, Option } from 'commander';
import { ExitCode, isDbopsError } from '../core/errors.ts';
import { PACKAGE } from '../core/package.ts';
import { redact } from '../core/redact.ts';
import { closest } from '../core/suggest.ts';
import { commandCatalog } from './catalog.ts';
import { printError, type CliIo, type CommandSummary, type Printers, type Selected } from './contract.ts';
import { GROUPS } from './registry.ts';

/**
 * The command line: parses argv against the catalog of commands (plain data, so help and a mistyped flag
 * cost no zod and no command code), then hands the chosen command to cli/execute.ts.
 */

/** One option per flag of the catalog, plus the logging switches every command has. */
function addOptions(cmd: Command, summary: CommandSummary): void {
  for (const o of summary.options) {
    const option = new Option(o.flags, o.description);
    if (o.default !== undefined) option.default(o.default);
    cmd.addOption(option);
  }
  cmd.addOption(new Option('--verbose', 'debug logging on stderr'));
  cmd.addOption(new Option('--quiet', 'only warnings and errors on stderr'));
}

function buildProgram(commands: CommandSummary[], io: Printers, onSelect: (s: Selected) => void): Command {
  const { out, err } = io;
  const program = new Command('dbops')
    .description(`${PACKAGE.description}\n\nRun \`dbops <command> --help\` for a command's flags and examples.`)
    .version(PACKAGE.version, '--version')
    .exitOverride()
    .configureOutput({ writeOut: out, writeErr: err })
    .showSuggestionAfterError(true)
    .addHelpText(
      'after',
      '\nExit codes: 0 pass, 1 refused or failed (policy, database state), 2 usage or configuration error, 3 environment error (database, tools, locks), 70 internal bug.',
    );
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
    const cmd = parent
      .command(leaf ?? head)
      .description(spec.summary)
      .allowExcessArguments(false);
    addOptions(cmd, spec);
    if (spec.rest) cmd.argument(`[${spec.rest.name}...]`, spec.rest.description);
    const extra = [spec.description, `Examples:\n${spec.examples.map((e) => `  $ ${e}`).join('\n')}`].filter(Boolean).join('\n\n');
    cmd.addHelpText('after', `\n${extra}`);
    cmd.action((...args: unknown[]) => {
      const rest = spec.rest ? ((args[0] as string[] | undefined) ?? []) : [];
      const given = new Set(spec.options.map((o) => o.key).filter((key) => cmd.getOptionValueSource(key) === 'cli'));
      onSelect({ command: spec, options: cmd.opts(), rest, given });
    });
  }
  for (const [name, group] of groups) {
    group.addHelpText('after', `\nRun \`dbops ${name} <command> --help\` for a command's flags and examples.`);
  }
  return program;
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
function unknownCommand(commands: CommandSummary[], argv: string[]): string | undefined {
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

async function dispatch(argv: string[], io: CliIo, printers: Printers): Promise<ExitCode> {
  const commands = await commandCatalog();
  const unknown = unknownCommand(commands, argv);
  if (unknown) {
    printers.err(unknown);
    return ExitCode.Usage;
  }
  let selected: Selected | undefined;
  const program = buildProgram(commands, printers, (s) => {
    selected = s;
  });
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
  const { runCommand } = await import('./execute.ts');
  return runCommand(selected, io, printers);
}
