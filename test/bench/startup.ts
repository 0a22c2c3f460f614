// Start-up: dbops as its own process, median of 10 runs each, against a bare `node -e 0` measured in the
// same run. `node pipeline/bin/dbops.js` is the package's bin; `./dbops` is how the README and the
// workflows start it; `npx dbops` is shown for reference (what they used to call).
// Goals: --version and --help ≤ 150 ms; ./dbops adds ≤ 100 ms to the bin.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { bundleEntry } from '../../pipeline/bin/bundle.js';
import { BIN, ROOT } from '../helpers/cli.ts';
import type { BenchResult } from './run.ts';

const run = promisify(execFile);
const RUNS = 10;

async function medianMs(command: string, args: string[], runs = RUNS): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await run(command, args, { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
    times.push(performance.now() - t);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
}

export async function bench(): Promise<BenchResult> {
  await bundleEntry(); // built (or found fresh) before anything is timed
  const node = await medianMs(process.execPath, ['-e', '0']);
  const version = await medianMs(process.execPath, [BIN, '--version']);
  const help = await medianMs(process.execPath, [BIN, '--help']);
  const commandHelp = await medianMs(process.execPath, [BIN, 'migrate', 'deploy', '--help']);
  const repo = await medianMs(join(ROOT, 'dbops'), ['--version']);
  const npx = await medianMs('npx', ['--no-install', 'dbops', '--version'], 5);
  const ms = (n: number) => `${Math.round(n)} ms`;
  return {
    name: `start-up, median of ${RUNS} runs, each its own process`,
    metrics: {
      'node -e 0': ms(node),
      'node pipeline/bin/dbops.js --version': ms(version),
      'node pipeline/bin/dbops.js --help': ms(help),
      'node pipeline/bin/dbops.js migrate deploy --help': ms(commandHelp),
      './dbops --version (README, workflows)': ms(repo),
      'npx dbops --version (reference, median of 5)': ms(npx),
      './dbops over the bin': ms(repo - version),
    },
    goal: { description: '--version and --help ≤ 150 ms; ./dbops adds ≤ 100 ms', met: version <= 150 && help <= 150 && repo - version <= 100 },
  };
}
