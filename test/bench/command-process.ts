// A process of its own that runs dbops commands in-process on request, for benchmarks that time a command
// without Node's start-up but must not inherit the heap of the benchmark process. The backup benchmark
// seeds a gigabyte and runs migrations in-process first; with their modules and objects alive, every
// garbage collection that the backup's buffers trigger marks a heap several times the size a `./dbops
// backup …` process has, and that (not the command) was a third of the measured time. One request per line
// on stdin: {"args": [...], "env": {...}}; one answer per line on stdout: {code, stdout, ms, cpuS}.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface CommandRun {
  code: number;
  stdout: string;
  all: string;
  ms: number;
  /** CPU seconds of that process (all its threads) while the command ran. */
  cpuS: number;
}

export interface CommandProcess {
  run(args: string[], env: NodeJS.ProcessEnv): Promise<CommandRun>;
  close(): Promise<void>;
}

/** Starts the process; close it when done. */
export function startCommandProcess(): CommandProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--serve'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const waiting: Array<(line: string) => void> = [];
  lines.on('line', (line) => waiting.shift()?.(line));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return {
    run(args, env) {
      return new Promise((resolve, reject) => {
        waiting.push((line) => {
          const answer = JSON.parse(line) as CommandRun | { error: string };
          if ('error' in answer) reject(new Error(answer.error));
          else resolve(answer);
        });
        child.stdin!.write(`${JSON.stringify({ args, env })}\n`);
      });
    },
    async close() {
      child.stdin!.end();
      await exited;
    },
  };
}

async function serve(): Promise<void> {
  const { runCli } = await import('../../pipeline/cli/main.ts');
  for await (const line of createInterface({ input: process.stdin })) {
    try {
      const { args, env } = JSON.parse(line) as { args: string[]; env: NodeJS.ProcessEnv };
      let stdout = '';
      let stderr = '';
      const cpu = process.cpuUsage();
      const started = performance.now();
      const code = await runCli(args, { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) }, env });
      const ms = performance.now() - started;
      const used = process.cpuUsage(cpu);
      process.stdout.write(`${JSON.stringify({ code, stdout, all: stdout + stderr, ms, cpuS: (used.user + used.system) / 1e6 })}\n`);
    } catch (e) {
      process.stdout.write(`${JSON.stringify({ error: (e as Error).message })}\n`);
    }
  }
}

if (process.argv.includes('--serve')) await serve();
