import { acquireOperationLock, DEPLOY_LOCK, lockHolder, releaseOperationLock } from '../../infra/db/locks.ts';
import type { Session } from '../migrations/index.ts';

export { DEPLOY_LOCK };

/** Who holds the deploy lock (another session), for messages; undefined when nobody does. */
export const deployLockHolder = (s: Session): Promise<string | undefined> => lockHolder(s.client, DEPLOY_LOCK);

/**
 * `dbops deploy` and `dbops rollback` take the deploy mode of the one operation lock (infra/db/locks.ts):
 * from the gate to the evidence bundle, so two deploys of one database never interleave. Without `waitMs`
 * a held lock fails at once (exit 3) naming the holder; with it, waits and reports the holder through `onWait`.
 */
export const acquireDeployLock = (s: Session, options: { waitMs?: number; signal?: AbortSignal; onWait?: (holder: string) => void } = {}): Promise<void> =>
  acquireOperationLock(s.client, 'deploy', { ...options, what: 'A deploy or rollback' });

export const releaseDeployLock = (s: Session): Promise<void> => releaseOperationLock(s.client, 'deploy');
