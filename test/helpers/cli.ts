import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../pipeline/cli/main.ts';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout + stderr, for "this never appears anywhere" assertions. */
  all: string;
}

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = fileURLToPath(new URL('../../pipeline/bin/dbops.js', import.meta.url));

/** A clean environment: nothing from the developer's shell (DATABASE_URL, PG_BIN…) leaks into a test. */
export function testEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const { PATH, HOME, TMPDIR, LANG } = process.env;
  // No S3 test may fall back to the EC2 instance metadata endpoint when a test leaves the keys unset.
  return { PATH, HOME, TMPDIR, LANG, DBOPS_LOG_LEVEL: 'warn', AWS_EC2_METADATA_DISABLED: 'true', ...extra };
}

/** Runs the real CLI code path in this process, capturing what it prints. */
export async function dbops(args: string[], env: NodeJS.ProcessEnv = testEnv()): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) }, env });
  return { code, stdout, stderr, all: stdout + stderr };
}

/** Runs the package bin as its own process (for kill -9, concurrency and signal tests). */
export function spawnDbops(args: string[], env: NodeJS.ProcessEnv = testEnv()) {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliRun>((resolve) =>
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr, all: stdout + stderr })),
  );
  return { child, done, output: () => stdout + stderr };
}

export const runDbops = (args: string[], env?: NodeJS.ProcessEnv) => spawnDbops(args, env).done;
