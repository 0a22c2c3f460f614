import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { parseDatabaseUrl, type DbTarget } from '../db/url.ts';
import { loadPolicies } from '../policy/load.ts';
import type { PolicyName } from '../policy/schema.ts';
import type { Logger } from './logger.ts';
import { createShell, type Shell } from './shell.ts';
import type { StepContext } from './step.ts';

export interface ContextOptions {
  log: Logger;
  signal: AbortSignal;
  policiesDir?: string;
  databaseUrl?: string | undefined;
  schema?: string | undefined;
  env?: NodeJS.ProcessEnv;
  progress?: (line: string) => void;
}

/**
 * Builds what a step gets. Everything expensive (policies, the database, the embedded cluster) is
 * resolved only when the step asks for it, so steps that need no database never connect.
 */
export function createContext({ log, signal, policiesDir = 'policies', databaseUrl, schema, env = process.env, progress }: ContextOptions): StepContext {
  let target: Promise<DbTarget> | undefined;
  let shell: Shell | undefined;
  return {
    log,
    signal,
    env,
    get sh() {
      shell ??= createShell(log);
      return shell;
    },
    async policies<K extends PolicyName>(...names: K[]) {
      const loaded = await loadPolicies(resolve(policiesDir), names);
      for (const p of Object.values(loaded) as Array<{ name: string; path: string | undefined }>) {
        if (!p.path) log.info({ policy: p.name }, `${policiesDir}/${p.name}.yaml not found: using the documented defaults`);
      }
      return loaded;
    },
    database() {
      target ??= (async () => {
        const url = databaseUrl ?? env['DATABASE_URL'];
        if (url) return parseDatabaseUrl(url, schema);
        const { ensureLocalDatabase } = await import('../pg/local.ts');
        const local = await ensureLocalDatabase(log);
        progress?.(`Using the embedded PostgreSQL ${local.major} cluster in ${local.dir} (port ${local.port}); pass --database-url or set DATABASE_URL to use another database.`);
        return parseDatabaseUrl(local.url, schema);
      })();
      return target;
    },
    progress: progress ?? ((line) => log.info(line)),
    interactive(command, args, childEnv) {
      return new Promise((done, fail) => {
        const child = spawn(command, args, { stdio: 'inherit', env: childEnv });
        child.on('error', fail);
        child.on('exit', (code, sig) => done(code ?? (sig ? 128 : 1)));
      });
    },
  };
}
