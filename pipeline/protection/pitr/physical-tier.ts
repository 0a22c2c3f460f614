import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { isDbopsError } from '../../core/errors.ts';
import type { Runtime } from '../../core/runtime.ts';
import { parseDatabaseUrl, type DbTarget } from '../../infra/db/url.ts';
import { clusterUrl, openCluster } from '../../infra/pg/cluster.ts';
import { LOCAL_DATABASE, localDir } from '../../infra/pg/local.ts';
import type { BackupsPolicy } from '../../policy/backups.ts';
import { pitrList, type PitrListData } from './operate.ts';
import { pitrPolicyOf, stateDirsFor } from './site.ts';

/** The physical tier as `dbops backup list` shows it beside the logical one: what `dbops pitr list` returns, and of which database. */
export interface PhysicalTier extends PitrListData {
  /** The database whose cluster is archived (password masked). */
  database: string;
}

export interface PhysicalTierListing {
  /** Null when `pitr:` is not configured, PITR is not set up, or pgBackRest could not list it. */
  physical: PhysicalTier | null;
  /** Why `physical` is null although `pitr:` is configured (one line); null otherwise. */
  reason: string | null;
}

export const NOT_SET_UP = 'not set up (run dbops pitr enable)';

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/**
 * The physical tier for a listing that must work without it: only where `pitr:` is configured, and every
 * failure (no configuration, pgBackRest failing, a server that cannot be reached and was never saved) is a
 * reason instead of an error, so the logical list is never lost to it. `database` is given when a URL was
 * (--database-url, DATABASE_URL); otherwise the embedded cluster is used as it is, never created or started:
 * a stopped one is listed from what `pitr enable` saved (pitrList's offline mode).
 */
export async function physicalTierOf(
  input: { backups: BackupsPolicy; database: (() => Promise<DbTarget>) | undefined },
  rt: Runtime,
): Promise<PhysicalTierListing> {
  const { policy, configured } = pitrPolicyOf(input.backups);
  if (!configured) return { physical: null, reason: null };
  // No pgBackRest configuration where any site of this policy would keep it: nothing was ever enabled, and
  // no connection is needed to say so.
  const [embeddedState] = stateDirsFor(policy, rt.env);
  const stateDirs = input.database ? stateDirsFor(policy, rt.env) : [embeddedState!];
  if (!(await Promise.all(stateDirs.map((d) => exists(join(d, 'pgbackrest.conf'))))).some(Boolean)) return { physical: null, reason: NOT_SET_UP };
  try {
    let target: DbTarget;
    if (input.database) target = await input.database();
    else {
      const cluster = await openCluster(localDir(rt.env), rt.env);
      if (!cluster) return { physical: null, reason: NOT_SET_UP };
      target = parseDatabaseUrl(clusterUrl(cluster, LOCAL_DATABASE));
    }
    const list = await pitrList({ target, backups: input.backups }, rt);
    return { physical: { ...list, database: target.display }, reason: null };
  } catch (e) {
    if (rt.signal.aborted) throw e;
    // One line: pgBackRest's error lines follow the first line of the message.
    const oneLine = (text: string) =>
      text
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean)
        .join(' ');
    const message = oneLine((e as Error).message);
    const hint = isDbopsError(e) && e.hint ? ` (${oneLine(e.hint)})` : '';
    return { physical: null, reason: `not listed: ${message}${hint}` };
  }
}
