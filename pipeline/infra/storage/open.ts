import { UsageError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { BackupsPolicy } from '../../policy/backups.ts';
import { DirectoryStorage } from './directory.ts';
import { S3Storage } from './s3.ts';
import type { Storage } from './types.ts';

/** The storage targets of policies/backups.yaml, by name. */
export interface Targets {
  /** The target `backup create` writes to and every other command reads from by default. */
  primary: Storage;
  /** Every target name, the primary first, then in policy order. */
  names: string[];
  /** The named target, or the primary when no name is given; an unknown name is a UsageError listing the names. */
  get(name?: string): Storage;
  /** Every target, in the order of `names`. */
  all(): Storage[];
}

/**
 * Builds one Storage per target. Nothing is contacted here and no credential is required yet: an S3
 * target reads its credentials (registering the secret ones for redaction) and connects on first use, so
 * a command that only touches the primary folder runs where the offsite credentials are not set.
 */
export function openTargets(policy: BackupsPolicy, env: NodeJS.ProcessEnv, log?: Logger, cwd: string = process.cwd()): Targets {
  const byName = new Map<string, Storage>();
  let primary: Storage | undefined;
  for (const [name, target] of Object.entries(policy.targets)) {
    const storage: Storage =
      target.type === 'directory' ? new DirectoryStorage({ name, path: target.path, cwd }) : new S3Storage({ name, target, env, ...(log ? { log } : {}) });
    byName.set(name, storage);
    if (target.primary) primary = storage;
  }
  // The policy schema enforces exactly one primary; this only guards a policy object built without it.
  if (!primary) throw new UsageError('policies/backups.yaml: no target has primary: true.', { hint: 'Mark exactly one target with primary: true.' });
  const names = [primary.name, ...[...byName.keys()].filter((n) => n !== primary.name)];
  return {
    primary,
    names,
    get(name) {
      if (name === undefined) return primary;
      const found = byName.get(name);
      if (!found) {
        throw new UsageError(`Unknown storage target "${name}"; policies/backups.yaml defines ${names.map((n) => `"${n}"`).join(', ')}.`, {
          hint: `Pass one of: ${names.join(', ')}.`,
        });
      }
      return found;
    },
    all: () => names.map((n) => byName.get(n)!),
  };
}
