import { EnvError, UsageError } from '../../core/errors.ts';
import { didYouMean } from '../../core/suggest.ts';
import { parseDatabaseUrl, type DbTarget } from '../../infra/db/url.ts';
import type { EnvironmentPolicy, EnvironmentsPolicy } from '../../policy/environments.ts';

/** A deploy target of policies/environments.yaml, with its database. */
export interface Environment {
  name: string;
  policy: EnvironmentPolicy;
  /** GitHub environment whose approvals count. */
  githubEnvironment: string;
  /** The variable the URL came from (named in messages and restore commands; the URL itself never is). */
  urlEnv: string;
  target: DbTarget;
}

/** Names the environments a policy defines, for messages. */
const known = (policy: EnvironmentsPolicy) => Object.keys(policy.environments);

/**
 * Resolves `--environment NAME`: an unknown name is a usage error listing the defined ones; an unset URL
 * variable is an environment error naming the variable (in GitHub: an environment secret of the job).
 */
export function resolveEnvironment(policy: EnvironmentsPolicy, name: string, env: NodeJS.ProcessEnv, schema?: string): Environment {
  const found = policy.environments[name];
  if (!found) {
    const names = known(policy);
    throw new UsageError(
      names.length === 0
        ? `No environments are defined, so there is no "${name}".`
        : `Unknown environment "${name}"; policies/environments.yaml defines ${names.map((n) => `"${n}"`).join(', ')}.${didYouMean(name, names)}`,
      { hint: names.length === 0 ? 'Declare it under environments: in policies/environments.yaml.' : `Pass one of: ${names.join(', ')}.` },
    );
  }
  const url = env[found.database_url_env];
  if (!url) {
    throw new EnvError(`The database URL of environment "${name}" is not set: the variable ${found.database_url_env} is empty.`, {
      hint: `Set ${found.database_url_env} (in GitHub Actions: a secret of the "${found.github_environment ?? name}" environment passed to the step's env).`,
    });
  }
  return {
    name,
    policy: found,
    githubEnvironment: found.github_environment ?? name,
    urlEnv: found.database_url_env,
    target: parseDatabaseUrl(url, schema, `${found.database_url_env} (the database URL of environment "${name}")`),
  };
}
