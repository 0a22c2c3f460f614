import { spawn, type SpawnOptions } from 'node:child_process';
import { packageRequire } from './package.ts';
import type { $ as Zx, Shell } from 'zx/core';
import type { Logger } from './logger.ts';
import { redact } from './redact.ts';

export type { Shell };

export interface RunAs {
  uid: number;
  gid: number;
  user: string;
  home: string;
}

/**
 * zx preset used by every step: quiet, throws on non-zero exit unless `nothrow`, command lines logged at
 * debug level (redacted). With `runAs`, children are spawned under that OS user: PostgreSQL server
 * binaries refuse to start as root.
 */
export function createShell(log: Logger, runAs?: RunAs): Shell {
  // Loaded on first use: commands that never start a process (deploy, status) skip zx's ~40 ms load.
  const { $ } = packageRequire('zx/core') as { $: typeof Zx };
  const options: Parameters<typeof Zx>[0] = {
    quiet: true,
    verbose: false,
    preferLocal: true,
    // The directory when the shell is made: zx otherwise keeps the one current when zx was first loaded.
    cwd: process.cwd(),
    log: (entry) => {
      if (entry.kind === 'cmd') log.debug({ cmd: redact(entry.cmd), cwd: entry.cwd }, 'exec');
      else if (entry.kind === 'end') log.debug({ exitCode: entry.exitCode, ms: Math.round(entry.duration) }, 'exec done');
    },
  };
  if (runAs) {
    options.spawn = ((command: string, args: readonly string[], opts: SpawnOptions) =>
      spawn(command, args, {
        ...opts,
        uid: runAs.uid,
        gid: runAs.gid,
        env: { ...opts.env, HOME: runAs.home, USER: runAs.user, LOGNAME: runAs.user },
      })) as typeof spawn;
  }
  return $(options) as Shell;
}
