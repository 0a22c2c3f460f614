import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseDatabaseUrl, type DbTarget } from '../infra/db/url.ts';
import { loadPolicies, type LoadedPolicy } from '../policy/load.ts';
import type { PolicyName } from '../policy/schema.ts';
import type { Logger } from '../core/logger.ts';
import type { LiveLine } from '../core/runtime.ts';
import { createShell, type Shell } from '../core/shell.ts';
import { loadSpecs } from './registry.ts';
import { type StepContext } from './contract.ts';

export interface ContextOptions {
  log: Logger;
  signal: AbortSignal;
  policiesDir?: string;
  databaseUrl?: string | undefined;
  schema?: string | undefined;
  env?: NodeJS.ProcessEnv;
  progress?: (line: string) => void;
  /** A terminal's status line for meters (see Runtime.live); the caller makes `progress` clear it first. */
  live?: LiveLine | undefined;
}

/**
 * Builds what a step gets. Everything expensive (policies, the database, the embedded cluster) is
 * resolved only when the step asks for it, so steps that need no database never connect.
 */
export function createContext({ log, signal, policiesDir = 'policies', databaseUrl, schema, env = process.env, progress, live }: ContextOptions): StepContext {
  let target: Promise<DbTarget> | undefined;
  let shell: Shell | undefined;
  const policyCache = new Map<PolicyName, LoadedPolicy<PolicyName>>();
  return {
    log,
    signal,
    env,
    commands: loadSpecs,
    get sh() {
      shell ??= createShell(log);
      return shell;
    },
    async policies<K extends PolicyName>(...names: K[]) {
      // Each file is read and validated once per command, however many of its parts ask for it.
      const fresh = names.filter((n) => !policyCache.has(n));
      if (fresh.length > 0) {
        const loaded = await loadPolicies(resolve(policiesDir), fresh);
        const defaulted = (Object.values(loaded) as Array<{ name: string; path: string | undefined }>).filter((p) => !p.path).map((p) => p.name);
        // A repository without a policies folder runs on defaults: say so where it is seen (a missing single
        // file is normal, e.g. no backups.yaml in a repository that takes no backups).
        if (defaulted.length > 0 && !existsSync(resolve(policiesDir)))
          log.warn({ policies: defaulted }, `${policiesDir}/ does not exist: ${defaulted.join(', ')} use the documented defaults`);
        else for (const name of defaulted) log.info({ policy: name }, `${policiesDir}/${name}.yaml not found: using the documented defaults`);
        for (const name of fresh) policyCache.set(name, loaded[name]);
      }
      return Object.fromEntries(names.map((n) => [n, policyCache.get(n)])) as { [P in K]: LoadedPolicy<P> };
    },
    database() {
      target ??= (async () => {
        if (databaseUrl) return parseDatabaseUrl(databaseUrl, schema, '--database-url');
        if (env['DATABASE_URL']) return parseDatabaseUrl(env['DATABASE_URL'], schema, 'DATABASE_URL');
        const { ensureLocalDatabase } = await import('../infra/pg/local.ts');
        const local = await ensureLocalDatabase(log, env);
        progress?.(
          `Using the embedded PostgreSQL ${local.major} cluster in ${local.dir} (port ${local.port}); pass --database-url or set DATABASE_URL to use another database.`,
        );
        return parseDatabaseUrl(local.url, schema);
      })();
      return target;
    },
    progress: progress ?? ((line) => log.info(line)),
    live,
    async summarize(markdown) {
      const { appendJobSummary } = await import('../infra/github/actions.ts');
      return appendJobSummary(markdown, env);
    },
    interactive(command, args, childEnv) {
      return new Promise((done, fail) => {
        const child = spawn(command, args, { stdio: 'inherit', env: childEnv });
        child.on('error', fail);
        child.on('exit', (code, sig) => done(code ?? (sig ? 128 : 1)));
      });
    },
  };
}
