// What the `dbops dr drill` tests share: a home folder with its own embedded-cluster and evidence folder, a
// policy with 200 ms heartbeats (so the RPO a drill achieves is measured finely), and a drill runner that
// keeps every run for the "no internal error" check.
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dbops, testEnv, type CliRun } from './cli.ts';
import { tempDir } from './migrations.ts';

export interface DrillFixture {
  home: string;
  localDir: string;
  env: NodeJS.ProcessEnv;
  policies: string;
  /** The local evidence chain the drills append to. */
  folder: string;
  runs: CliRun[];
  /** `dbops dr drill … --workload 1500ms --json`, kept in `runs`. */
  drill(...args: string[]): Promise<CliRun>;
}

export async function drillFixture(label: string, scenarioArgs: string[] = []): Promise<DrillFixture> {
  const home = await tempDir(`dbops-${label}-test-`);
  await chmod(home, 0o755);
  const localDir = join(home, 'local');
  const env = testEnv({ DBOPS_LOCAL_DIR: localDir });
  const policies = join(home, 'policies');
  await mkdir(policies);
  await writeFile(join(policies, 'backups.yaml'), 'version: 1\npitr:\n  heartbeat:\n    interval: 200ms\n');
  const runs: CliRun[] = [];
  const drill = async (...args: string[]) => {
    const r = await dbops(['dr', 'drill', ...scenarioArgs, '--policies-dir', policies, '--workload', '1500ms', '--json', ...args], env);
    runs.push(r);
    return r;
  };
  return { home, localDir, env, policies, folder: join(localDir, 'evidence', 'local'), runs, drill };
}

/** The command lines of the PostgreSQL servers running on a data directory under `dir`. */
export const serversUnder = (dir: string): string[] =>
  execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(dir) && /postgres/.test(l) && !l.includes('ps -eo'));
