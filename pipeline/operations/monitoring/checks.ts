import { parseDuration } from '../../core/duration.ts';
import { formatBytes, formatMs } from '../../core/format.ts';
import { parseSize } from '../../core/size.ts';
import type { CheckName, MonitoringChecks } from '../../policy/monitoring.ts';
import type { DatabaseFacts } from './facts.ts';
import type { HostFacts } from './host.ts';
import type { CheckResult, CheckStatus, MonitorTarget } from './model.ts';

/** The order checks are listed in (reports, the terminal table, metrics). */
export const CHECK_ORDER: CheckName[] = [
  'availability',
  'connections',
  'wraparound',
  'idle_in_transaction',
  'long_running_queries',
  'blocked_sessions',
  'replication_lag',
  'inactive_slots',
  'checksum_failures',
  'database_size',
  'wal_size',
  'disk',
  'cpu',
  'memory',
  'slow_queries',
  'backup_age',
  'restore_test',
  'pitr',
  'security_events',
];

/** Where a value stands against a warning and a critical threshold (both reached from below). */
export function levelOf(value: number, warning: number, critical: number): CheckStatus {
  return value >= critical ? 'critical' : value >= warning ? 'warning' : 'ok';
}

const pct = (x: number) => `${x.toFixed(x < 10 ? 1 : 0)} %`;
const seconds = (d: string) => (parseDuration(d) ?? 0) / 1000;
const bytes = (s: string) => parseSize(s) ?? 0;
const result = (
  check: CheckName,
  status: CheckStatus,
  summary: string,
  value: number | null = null,
  unit: CheckResult['unit'] = null,
  subject?: string,
): CheckResult => ({
  check,
  status,
  summary,
  value,
  unit,
  ...(subject ? { subject } : {}),
});

/** Every database and host check of one pass, judged against the thresholds; checks turned off are left out. */
export function judgeDatabase(facts: DatabaseFacts, host: HostFacts, target: MonitorTarget, corrupt: string[]): CheckResult[] {
  const c = target.checks;
  const out: CheckResult[] = [];
  const on = (name: keyof MonitoringChecks) => c[name].enabled;

  if (on('availability')) out.push(result('availability', 'ok', `${facts.database} answers${facts.inRecovery ? ' (a standby, in recovery)' : ''}`, 1, 'count'));
  if (on('connections')) {
    const usable = Math.max(1, facts.connections.max - facts.connections.reserved);
    const p = (100 * facts.connections.clients) / usable;
    out.push(
      result(
        'connections',
        levelOf(p, c.connections.warning, c.connections.critical),
        `${facts.connections.clients} of ${usable} client connections (${pct(p)}; max_connections ${facts.connections.max}, ${facts.connections.reserved} reserved)`,
        p,
        'percent',
      ),
    );
  }
  if (on('wraparound')) {
    const xid = (100 * facts.wraparound.xidAge) / 2 ** 31;
    const mxid = (100 * facts.wraparound.mxidAge) / 2 ** 31;
    const p = Math.max(xid, mxid);
    out.push(
      result(
        'wraparound',
        levelOf(p, c.wraparound.warning, c.wraparound.critical),
        `database ${facts.wraparound.database}: transaction IDs ${pct(xid)}, multixacts ${pct(mxid)} of the way to wraparound`,
        p,
        'percent',
        facts.wraparound.database,
      ),
    );
  }
  const lasting = (name: 'idle_in_transaction' | 'long_running_queries' | 'blocked_sessions', s: number, what: string, who: string | undefined) => {
    const t = c[name];
    out.push(
      result(
        name,
        levelOf(s, seconds(t.warning), seconds(t.critical)),
        s > 0 ? `${what} for ${formatMs(s * 1000)}${who ? ` (${who})` : ''}` : `no ${what.replace(/^the longest /, '')}`,
        s,
        'seconds',
        who,
      ),
    );
  };
  const session = (s: { pid: number | null; user: string | null }) => (s.pid === null ? undefined : `pid ${s.pid}, user ${s.user ?? '?'}`);
  if (on('idle_in_transaction'))
    lasting('idle_in_transaction', facts.idleInTransaction.seconds, 'the longest idle in transaction', session(facts.idleInTransaction));
  if (on('long_running_queries')) lasting('long_running_queries', facts.longestQuery.seconds, 'the longest running statement', session(facts.longestQuery));
  if (on('blocked_sessions'))
    lasting(
      'blocked_sessions',
      facts.longestBlocked.seconds,
      'the longest blocked session',
      facts.longestBlocked.pid === null ? undefined : `pid ${facts.longestBlocked.pid}, blocked by ${facts.longestBlocked.blockedBy.join(', ')}`,
    );
  if (on('replication_lag')) {
    if (target.replicas.length === 0 && facts.replicas.length === 0) {
      out.push(
        result(
          'replication_lag',
          'not-configured',
          target.environment ? `environment ${target.environment} declares no replicas` : 'no replicas declared (a bare --database-url)',
        ),
      );
    } else {
      const t = c.replication_lag;
      const missing = target.replicas.filter((r) => !facts.replicas.some((s) => s.name === r && s.state === 'streaming'));
      const worst = facts.replicas.reduce<{ name: string; lag: number } | null>(
        (w, r) => ((r.lagBytes ?? 0) > (w?.lag ?? -1) ? { name: r.name, lag: r.lagBytes ?? 0 } : w),
        null,
      );
      const lag = worst?.lag ?? 0;
      const status = missing.length > 0 ? 'critical' : levelOf(lag, bytes(t.warning), bytes(t.critical));
      out.push(
        result(
          'replication_lag',
          status,
          missing.length > 0
            ? `declared ${missing.length === 1 ? 'replica' : 'replicas'} not streaming: ${missing.join(', ')}`
            : `${facts.replicas.length} streaming, the most behind ${worst ? `${worst.name} by ${formatBytes(lag)}` : 'none'}`,
          lag,
          'bytes',
          missing[0] ?? worst?.name,
        ),
      );
    }
  }
  if (on('inactive_slots')) {
    const worst = facts.inactiveSlots.reduce<{ name: string; bytes: number } | null>(
      (w, s) => ((s.retainedBytes ?? 0) > (w?.bytes ?? -1) ? { name: s.name, bytes: s.retainedBytes ?? 0 } : w),
      null,
    );
    const t = c.inactive_slots;
    out.push(
      result(
        'inactive_slots',
        worst ? levelOf(worst.bytes, bytes(t.warning), bytes(t.critical)) : 'ok',
        worst ? `${facts.inactiveSlots.length} inactive, ${worst.name} holds ${formatBytes(worst.bytes)} of WAL` : 'no inactive replication slot',
        worst?.bytes ?? 0,
        'bytes',
        worst?.name,
      ),
    );
  }
  if (on('checksum_failures')) {
    if (!facts.checksums.enabled)
      out.push(
        result(
          'checksum_failures',
          'not-configured',
          'data checksums are off in this cluster (initdb --data-checksums, or pg_checksums --enable while stopped)',
        ),
      );
    else if (facts.checksums.failures === 0) out.push(result('checksum_failures', 'ok', 'no checksum failure', 0, 'count'));
    else
      out.push(
        result(
          'checksum_failures',
          'critical',
          `${facts.checksums.failures} checksum ${facts.checksums.failures === 1 ? 'failure' : 'failures'}, the last at ${facts.checksums.lastFailure}: ${corrupt.length > 0 ? corrupt.join(', ') : 'the server log names the relation (dbops may not read it: pg_monitor, pg_read_server_files)'}`,
          facts.checksums.failures,
          'count',
          corrupt[0],
        ),
      );
  }
  const capacity = (name: 'database_size' | 'wal_size', used: number | null, declared: string | undefined, key: string) => {
    if (!on(name)) return;
    if (declared === undefined)
      return out.push(
        result(
          name,
          'not-configured',
          `no capacity.${key} declared${target.environment ? ` for ${target.environment}` : ''} in policies/monitoring.yaml`,
          used,
          'bytes',
        ),
      );
    if (used === null) return out.push(result(name, 'unknown', 'the role may not list pg_wal (GRANT pg_monitor)'));
    const p = (100 * used) / Math.max(1, bytes(declared));
    out.push(result(name, levelOf(p, c[name].warning, c[name].critical), `${formatBytes(used)} of ${declared} (${pct(p)})`, p, 'percent'));
  };
  capacity('database_size', facts.sizes.databaseBytes, target.capacity.database, 'database');
  capacity('wal_size', facts.sizes.walBytes, target.capacity.wal, 'wal');
  const hostCheck = (name: 'disk' | 'cpu' | 'memory', value: number | null, summary: () => string) => {
    if (!on(name)) return;
    if (host.unseen !== null || value === null) return out.push(result(name, 'not-configured', `not measured: ${host.unseen ?? 'this machine has no /proc'}`));
    out.push(result(name, levelOf(value, c[name].warning, c[name].critical), summary(), value, 'percent'));
  };
  hostCheck(
    'disk',
    host.disk?.usedPercent ?? null,
    () => `${pct(host.disk!.usedPercent)} used, ${formatBytes(host.disk!.freeBytes)} free of ${formatBytes(host.disk!.totalBytes)} (${facts.dataDirectory})`,
  );
  hostCheck('cpu', host.cpuPercent, () => `${pct(host.cpuPercent!)} busy`);
  hostCheck('memory', host.memoryPercent, () => `${pct(host.memoryPercent!)} in use`);
  return out;
}

/** Every check of a run whose database did not answer: availability critical, the rest unknown. */
export function unreachable(target: MonitorTarget, reason: string): CheckResult[] {
  return CHECK_ORDER.filter((n) => target.checks[n].enabled).map((n) =>
    n === 'availability'
      ? result('availability', 'critical', `${target.database.display} does not answer: ${reason}`, 0, 'count')
      : result(n, 'unknown', 'not measured: the database does not answer'),
  );
}

/** Checks tied to an environment (backups, PITR, queries, audit), for a bare --database-url. */
export function environmentOnly(target: MonitorTarget, names: CheckName[]): CheckResult[] {
  return names
    .filter((n) => target.checks[n].enabled)
    .map((n) => result(n, 'not-configured', 'needs --environment (its backups, archive, query snapshots and audit trail)'));
}
