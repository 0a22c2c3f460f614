import type { Client } from '../../infra/db/client.ts';
import type { Storage } from '../../infra/storage/types.ts';
import type { LoadSample } from './model.ts';
import { monitorStore, type MonitorStore } from './store.ts';
import { emptyProfile, inQuietHours, nextQuietHour, quietHours, recordSample, type TrafficOptions, type TrafficProfile } from './traffic.ts';

/** The object of the monitor store that holds the weekly traffic profile (beside `alerts`). */
export const TRAFFIC_OBJECT = 'traffic';

/** The stored profile, or undefined when no `monitor check` has recorded one (or it is of another format). */
export async function readTraffic(store: MonitorStore): Promise<TrafficProfile | undefined> {
  const stored = await store.read<TrafficProfile>(TRAFFIC_OBJECT);
  return stored && stored.version === 1 && Array.isArray(stored.hours) && stored.hours.length === 168 ? stored : undefined;
}

/**
 * Adds one run's load sample to the stored profile (creating it), with the sample kept as `last` for the
 * next run's TPS. A profile kept in another zone than `zone` starts afresh: its hours would not line up.
 * A sample without any number (the database was unreachable) changes nothing.
 */
export async function recordTraffic(
  store: MonitorStore,
  load: LoadSample,
  options: TrafficOptions & { zone?: string } = {},
): Promise<TrafficProfile | undefined> {
  if (load.xacts === null && load.activeSessions === null) return undefined;
  const zone = options.zone ?? 'UTC';
  const stored = await readTraffic(store);
  const profile = stored && stored.zone === zone ? stored : emptyProfile(zone);
  const next = recordSample(profile, profile.last, load, options);
  await store.write(TRAFFIC_OBJECT, next);
  return next;
}

/**
 * The load right now: TPS from two readings of the xacts counter `intervalMs` apart (this session's own
 * transaction left out), and the active sessions. The counter moves as sessions publish their statistics (at
 * most once a second; on PostgreSQL 15 transactions that touch no table only with the next table statistics),
 * so a 1 s window is a rough measure of a steady load, not of a burst.
 */
export async function measureLoad(client: Client, intervalMs = 1000): Promise<{ tps: number; activeSessions: number; intervalMs: number }> {
  const read = async () => {
    // The statistics are read once per transaction (stats_fetch_consistency), and the caller may be inside one.
    await client.query('SELECT pg_stat_clear_snapshot()');
    const { rows } = await client.query<{ xacts: string; active: string; now: Date }>(
      `SELECT (SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database())::text AS xacts,
              (SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = 'client backend' AND state = 'active' AND datname = current_database())::text AS active,
              clock_timestamp() AS now`,
    );
    return { xacts: Number(rows[0]!.xacts), active: Number(rows[0]!.active), at: new Date(rows[0]!.now).getTime() };
  };
  // This session's own pending statistics go out first (PostgreSQL ≥ 15), so they do not land in the interval.
  await client.query('SELECT pg_stat_force_next_flush()').catch(() => undefined);
  const first = await read();
  await new Promise((r) => setTimeout(r, intervalMs));
  const second = await read();
  const seconds = Math.max(0.001, (second.at - first.at) / 1000);
  const tps = Math.max(0, second.xacts - first.xacts - 1) / seconds;
  return { tps: Math.round(tps * 10) / 10, activeSessions: Math.max(first.active, second.active), intervalMs: Math.round(seconds * 1000) };
}

/**
 * What the gate's traffic check (change/release, which cannot import this domain without a cycle) is given by
 * the command: the load now, and the quiet hours of the profile kept beside the environment's evidence.
 */
export const trafficGateProbe = {
  measure: measureLoad,
  async quiet(evidence: { storage: Storage; folder: string }, database: string, now: Date) {
    const profile = await readTraffic(monitorStore(evidence, database));
    if (!profile) return { profile: false, zone: null, quietNow: false, next: null, proposedHours: 0 };
    const quiet = quietHours(profile);
    return { profile: true, zone: profile.zone, quietNow: inQuietHours(quiet, now), next: nextQuietHour(profile, now), proposedHours: quiet.hours.length };
  },
};
