import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { EnvError } from './errors.ts';
import type { Logger } from './logger.ts';
import type { RunAs } from './shell.ts';

export interface ToolRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

/**
 * Runs a tool to completion (as `runAs` when given: PostgreSQL's and pgBackRest's files belong to the server's OS user). Ctrl-C (the signal) kills it; the caller checks `signal.aborted`.
 * Spawned directly rather than through the zx shell: zx goes through bash, whose start-up files can add
 * their own lines to stderr (which toolError reads) and which turns a missing binary into exit 127 instead
 * of an error that names it.
 */
export function runTool(
  path: string,
  args: string[],
  opts: { env: NodeJS.ProcessEnv; signal: AbortSignal; log: Logger; keepStdout?: boolean; runAs?: RunAs | undefined },
): Promise<ToolRun> {
  const started = performance.now();
  opts.log.debug({ tool: path, args }, 'exec');
  return new Promise((resolve, reject) => {
    if (opts.signal.aborted) return resolve({ code: null, signal: null, stdout: '', stderr: '', durationMs: 0 });
    const asUser = opts.runAs
      ? { uid: opts.runAs.uid, gid: opts.runAs.gid, env: { ...opts.env, HOME: opts.runAs.home, USER: opts.runAs.user, LOGNAME: opts.runAs.user } }
      : { env: opts.env };
    const child = spawn(path, args, { ...asUser, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout = opts.keepStdout ? stdout + d : (stdout + d).slice(-16_384);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr = (stderr + d).slice(-65_536);
    });
    const kill = () => child.kill('SIGTERM');
    opts.signal.addEventListener('abort', kill, { once: true });
    child.once('error', (e) => {
      opts.signal.removeEventListener('abort', kill);
      reject(new EnvError(`Could not run ${path}: ${e.message}`, { cause: e }));
    });
    child.once('close', (code, signal) => {
      opts.signal.removeEventListener('abort', kill);
      resolve({ code, signal, stdout, stderr, durationMs: performance.now() - started });
    });
  });
}

/** coreutils' `stdbuf`, when installed (looked up once). */
let stdbufPath: string | null | undefined;
function findStdbuf(env: NodeJS.ProcessEnv): string | undefined {
  if (stdbufPath !== undefined) return stdbufPath ?? undefined;
  stdbufPath = null;
  for (const dir of ['/usr/bin', '/bin', ...(env['PATH'] ?? '').split(delimiter).filter(Boolean)]) {
    try {
      accessSync(join(dir, 'stdbuf'), constants.X_OK);
      stdbufPath = join(dir, 'stdbuf');
      break;
    } catch {
      // not here
    }
  }
  return stdbufPath ?? undefined;
}

/**
 * `[command, args]` that run `path args` with bigger stdio buffers through coreutils' `stdbuf` (which sets them
 * and then execs the tool: same pid, same arguments), or the tool itself where stdbuf is not installed.
 * PostgreSQL's client tools read and write their archives through stdio, which uses 4 KiB buffers on a pipe:
 * one system call and one wake-up of the other side per 4 KiB.
 */
export function buffered(env: NodeJS.ProcessEnv, sizes: { stdin?: string; stdout?: string }, path: string, args: string[]): [string, string[]] {
  const stdbuf = findStdbuf(env);
  if (!stdbuf) return [path, args];
  const flags = [...(sizes.stdin ? ['-i', sizes.stdin] : []), ...(sizes.stdout ? ['-o', sizes.stdout] : [])];
  return [stdbuf, [...flags, path, ...args]];
}
