import { AlertState, planAlerts } from './alerts.ts';
import type { MonitorStore } from './store.ts';

/** The alert state of the backup and PITR announcements (`dbops backup notify`), beside the backups. */
export const ANNOUNCEMENTS_OBJECT = 'announcements';

export interface AnnounceDecision {
  /** open: the first failure, announce it; still-open: announced before, stay quiet; close: the recovery, announce it; none: a success with nothing open. */
  transition: 'open' | 'still-open' | 'close' | 'none';
  /** When the alert opened (still-open, close). */
  openedAt: string | null;
  /** Writes the new state; call it once the announcement was made (or not wanted). */
  commit(): Promise<void>;
}

/**
 * Announces a recurring outcome once: a failure opens an alert (announce it), the same failure again while it
 * is open is not announced again, and the next success closes it (announce the recovery). The same planner as
 * `monitor check`'s alerts, with one passing run enough to close: a backup or an archiving status that passes
 * has recovered. Keyed by what failed (`pitr status of astro`), so one source's recovery closes only its own.
 */
export async function announceOnce(store: MonitorStore, key: string, failing: boolean, summary: string, at = new Date()): Promise<AnnounceDecision> {
  const previous = AlertState.safeParse(await store.read(ANNOUNCEMENTS_OBJECT));
  const plan = planAlerts(
    previous.success ? previous.data : undefined,
    [{ check: key, status: failing ? 'critical' : 'ok', summary, value: null, unit: null }],
    {
      at: at.toISOString(),
      resolveAfter: 1,
    },
  );
  const t = plan.transitions.find((x) => x.check === key);
  const transition = t?.kind === 'open' || t?.kind === 'escalate' ? 'open' : t?.kind === 'still-open' ? 'still-open' : t?.kind === 'close' ? 'close' : 'none';
  return {
    transition,
    openedAt: transition === 'open' || transition === 'none' ? null : (t?.alert.openedAt ?? null),
    commit: () => store.write(ANNOUNCEMENTS_OBJECT, plan.state),
  };
}
