import { sleep } from '../../core/duration.ts';
import { EnvError } from '../../core/errors.ts';
import { replaceFileIfChanged } from '../../core/fs.ts';
import type { Logger } from '../../core/logger.ts';
import { redact } from '../../core/redact.ts';
import type { RunAs } from '../../core/shell.ts';
import { runTool, type ToolRun } from '../../core/tool.ts';

/** pgBackRest options by section (`global`, the stanza), in the order they are written. */
export type PgbackrestConfig = Record<string, Record<string, string | number | boolean>>;

/**
 * The configuration file's text. pgBackRest reads an INI file whose values run to the end of the line, so a
 * value holding a line break would smuggle in another option: refused here rather than written.
 */
export function renderConfig(config: PgbackrestConfig, comment: string): string {
  const lines = comment
    .split('\n')
    .map((l) => `# ${l}`.trimEnd())
    .concat('');
  for (const [section, options] of Object.entries(config)) {
    lines.push(`[${section}]`);
    for (const [key, value] of Object.entries(options)) {
      const text = typeof value === 'boolean' ? (value ? 'y' : 'n') : String(value);
      if (/[\r\n]/.test(text)) throw new EnvError(`The pgBackRest option ${key} would contain a line break; it cannot be written to the configuration file.`);
      lines.push(`${key}=${text}`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

/**
 * Writes the configuration when its text changed (mode 0600: it can hold the repository cipher passphrase
 * and S3 keys), owned by the OS user pgBackRest runs as; atomically, because archive-push, which PostgreSQL
 * may start at any moment, must never read half a file. Returns whether it changed.
 */
export const writeConfig = (path: string, text: string, runAs: RunAs | undefined): Promise<boolean> =>
  replaceFileIfChanged(path, text, { mode: 0o600, owner: runAs });

/** How dbops runs pgBackRest for one stanza. */
export interface Pgbackrest {
  configPath: string;
  stanza: string;
  /** The OS user owning the data directory (pgBackRest reads and writes its files); unset: this process's user. */
  runAs: RunAs | undefined;
  /** Environment of every run: libpq variables for the database connection (PGHOST, PGPASSWORD …). */
  env: NodeJS.ProcessEnv;
  log: Logger;
  signal: AbortSignal;
}

export const PGBACKREST_INSTALL = 'Install pgBackRest: `apt-get install pgbackrest` (Debian/Ubuntu) or `brew install pgbackrest` (macOS).';

/** pgBackRest's "unable to acquire lock" (error 50) on the archive lock, which its asynchronous archive-push holds for moments at a time. */
const ARCHIVE_LOCK_BUSY = /\[050\]: unable to acquire lock on file '[^']*-archive\.lock'/;

/**
 * Runs `pgbackrest --config … --stanza … <command> [args]`; the result whatever the exit code. A command
 * that finds the archive lock taken by the asynchronous archiver (stanza-create, check) is run again for
 * up to 30 s: the archiver holds it only while it pushes a segment.
 */
export async function runPgbackrest(p: Pgbackrest, command: string, args: string[] = []): Promise<ToolRun> {
  const argv = [`--config=${p.configPath}`, `--stanza=${p.stanza}`, '--log-level-console=info', '--log-level-stderr=off', ...args, command];
  const deadline = Date.now() + 30_000;
  for (;;) {
    let out: ToolRun;
    try {
      out = await runTool('pgbackrest', argv, { env: p.env, signal: p.signal, log: p.log, keepStdout: true, runAs: p.runAs });
    } catch (e) {
      if ((e as { cause?: NodeJS.ErrnoException }).cause?.code === 'ENOENT')
        throw new EnvError('pgBackRest is not installed (no `pgbackrest` on PATH).', { hint: PGBACKREST_INSTALL });
      throw e;
    }
    if (out.code !== 50 || !ARCHIVE_LOCK_BUSY.test(out.stdout + out.stderr) || Date.now() > deadline || p.signal.aborted) return out;
    p.log.debug({ command }, 'pgBackRest archive lock busy; trying again');
    await sleep(250, p.signal);
  }
}

/** The lines of pgBackRest's output that say what went wrong: its ERROR lines and their HINTs, redacted. */
export function pgbackrestError(out: ToolRun): string {
  const lines = `${out.stdout}\n${out.stderr}`.split('\n').map((l) => l.trim());
  const picked: string[] = [];
  lines.forEach((line, i) => {
    if (!/\bERROR: \[\d+\]|^ERROR:|\bWARN:/.test(line)) return;
    picked.push(line.replace(/^.*?P\d\d\s+/, ''));
    for (let j = i + 1; j < lines.length && /^HINT:|^[a-z]/i.test(lines[j]!) && !/P\d\d\s/.test(lines[j]!); j++) picked.push(lines[j]!);
  });
  return redact((picked.length ? picked : lines.filter(Boolean).slice(-3)).slice(0, 8).join('\n') || `exit code ${out.code}`);
}

/** Runs a pgBackRest command that must succeed; an EnvError (exit 3) naming its error otherwise. */
export async function mustPgbackrest(p: Pgbackrest, command: string, args: string[] = []): Promise<ToolRun> {
  const out = await runPgbackrest(p, command, args);
  if (p.signal.aborted) throw new EnvError(`pgbackrest ${command} was stopped (Ctrl-C).`);
  if (out.code !== 0) throw new EnvError(`pgbackrest ${command} failed (exit ${out.code}):\n${pgbackrestError(out)}`);
  return out;
}
