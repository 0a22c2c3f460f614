import { spawn } from 'node:child_process';
import pg from 'pg';
import { join } from 'node:path';
import { ROOT } from '../helpers/cli.ts';

/** What the benchmarks share: the launcher they time, figures as they print them, and a timed child process. */

/** `./dbops`, the README's and the workflows' way to start dbops. */
export const DBOPS = join(ROOT, 'dbops');

export const min = (xs: number[]): number => Math.min(...xs);
export const ms = (x: number): number => Math.round(x);
export const ratio = (a: number, b: number, digits = 2): number => Number((a / b).toFixed(digits));

/** The admin URL with another database. */
export const urlOf = (admin: string, database: string): string => {
  const u = new URL(admin);
  u.pathname = `/${database}`;
  return u.toString();
};

/** Runs a program to an exit code of `ok` (0 by default: `access audit` exits 1 on the drift a bench puts there); its wall time, code and output. */
export async function timed(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  ok: readonly number[] = [0],
): Promise<{ ms: number; stdout: string; code: number }> {
  const started = performance.now();
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve, reject) => (child.on('error', reject), child.on('close', resolve)));
  const elapsed = performance.now() - started;
  if (code === null || !ok.includes(code)) throw new Error(`${command} ${args.join(' ')} exited ${code}:\n${stderr.trim()}\n${stdout.slice(0, 2000)}`);
  return { ms: elapsed, stdout, code };
}

/** One client for `fn`, closed afterwards. */
export async function withPg<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}
