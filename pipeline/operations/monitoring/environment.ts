import { buffer } from 'node:stream/consumers';
import { parseDuration } from '../../core/duration.ts';
import { formatMs, plural } from '../../core/format.ts';
import type { Runtime } from '../../core/runtime.ts';
import type { DbTarget } from '../../infra/db/url.ts';
import { openTargets } from '../../infra/storage/open.ts';
import type { Policies } from '../../policy/schema.ts';
import type { MonitoringChecks } from '../../policy/monitoring.ts';
import { listBackups } from '../../protection/backup/index.ts';
import { pitrStatus, statusFindings } from '../../protection/pitr/index.ts';
import { compareStatements, takeSnapshot, listSnapshots, readSnapshot, evidenceSnapshots, replicaTargets } from '../queries/index.ts';
import { reviewAudit } from '../audit/index.ts';
import { levelOf } from './checks.ts';
import type { CheckResult } from './model.ts';

/**
 * The checks tied to an environment, from what dbops itself keeps: the backup catalog (freshness, the newest
 * restore test), the physical tier (archiving, RPO exposure), the query snapshots (slow and regressed
 * statements since the newest one) and the audit collection (security events of the last day). Each reads
 * only what it needs; a source that cannot be read makes its check unknown, never the run fail.
 */
export interface EnvironmentSources {
  database: DbTarget;
  environment: string;
  replicas: Array<{ name: string; database_url_env: string }>;
  policies: Pick<Policies, 'backups' | 'queries' | 'audit'>;
  /** The environment's evidence folder (query snapshots, audit segments). */
  evidence: { storage: import('../../infra/storage/types.ts').Storage; folder: string };
}

const DAY_MS = 24 * 3600_000;
const ms = (d: string) => parseDuration(d) ?? 0;
const age = (iso: string, now: Date) => Math.max(0, now.getTime() - Date.parse(iso));
const unknown = (check: string, e: unknown): CheckResult => ({
  check,
  status: 'unknown',
  summary: `not measured: ${((e as Error).message ?? String(e)).split('\n')[0]}`,
  value: null,
  unit: null,
});

async function backupChecks(s: EnvironmentSources, c: MonitoringChecks, rt: Runtime, now: Date): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const entries = (await listBackups(openTargets(s.policies.backups, rt.env, rt.log).primary, rt.log)).filter(
    (e) => e.manifest.database.name === s.database.database,
  );
  if (c.backup_age.enabled) {
    const newest = entries.filter((e) => e.status === 'verified').at(-1);
    if (!newest)
      out.push({
        check: 'backup_age',
        status: 'critical',
        summary: `no verified backup of ${s.database.database} on the primary target`,
        value: null,
        unit: 'seconds',
      });
    else {
      const a = age(newest.manifest.finishedAt ?? newest.manifest.startedAt, now);
      out.push({
        check: 'backup_age',
        status: levelOf(a, ms(c.backup_age.warning), ms(c.backup_age.critical)),
        summary: `newest verified backup ${newest.manifest.id}, ${formatMs(a)} old`,
        value: a / 1000,
        unit: 'seconds',
        subject: newest.manifest.id,
      });
    }
  }
  if (c.restore_test.enabled) {
    const tests = entries
      .flatMap((e) => e.verifications.filter((v) => v.level === 'restore').map((v) => ({ id: e.manifest.id, v })))
      .sort((a, b) => a.v.at.localeCompare(b.v.at));
    const newest = tests.at(-1);
    if (!newest)
      out.push({
        check: 'restore_test',
        status: 'critical',
        summary: `no restore test of ${s.database.database} on record (backup verify --restore)`,
        value: null,
        unit: 'seconds',
      });
    else if (!newest.v.ok)
      out.push({
        check: 'restore_test',
        status: 'critical',
        summary: `the newest restore test (${newest.id}, ${newest.v.at}) failed: ${newest.v.checks
          .filter((x) => !x.ok)
          .map((x) => x.name)
          .join(', ')}`,
        value: age(newest.v.at, now) / 1000,
        unit: 'seconds',
        subject: newest.id,
      });
    else {
      const a = age(newest.v.at, now);
      out.push({
        check: 'restore_test',
        status: levelOf(a, ms(c.restore_test.warning), ms(c.restore_test.critical)),
        summary: `the newest restore test passed (${newest.id}), ${formatMs(a)} ago`,
        value: a / 1000,
        unit: 'seconds',
        subject: newest.id,
      });
    }
  }
  return out;
}

async function pitrCheck(s: EnvironmentSources, rt: Runtime): Promise<CheckResult> {
  if (!s.policies.backups.pitr)
    return { check: 'pitr', status: 'not-configured', summary: 'no pitr: section in policies/backups.yaml', value: null, unit: null };
  const { data } = await pitrStatus({ target: s.database, backups: s.policies.backups }, rt);
  const problems = statusFindings(data).filter((f) => f.severity === 'error');
  const share = data.rpoMs > 0 ? (100 * data.exposureMs) / data.rpoMs : 0;
  return {
    check: 'pitr',
    status: problems.length > 0 ? 'critical' : share >= 80 ? 'warning' : 'ok',
    summary:
      problems.length > 0
        ? problems.map((p) => p.message).join(' ')
        : `RPO exposure ${formatMs(data.exposureMs)} of ${formatMs(data.rpoMs)}, archiving healthy`,
    value: data.exposureMs / 1000,
    unit: 'seconds',
  };
}

async function slowQueries(s: EnvironmentSources, c: MonitoringChecks, rt: Runtime): Promise<CheckResult> {
  const store = evidenceSnapshots(s.evidence.storage, s.evidence.folder);
  const entry = (await listSnapshots(store)).at(-1);
  if (!entry)
    return {
      check: 'slow_queries',
      status: 'not-configured',
      summary: 'no query snapshot yet: `dbops queries snapshot --environment` takes one',
      value: null,
      unit: null,
    };
  const before = (await readSnapshot(store, entry)).snapshot;
  const now = await takeSnapshot(s.database, replicaTargets(s.replicas, rt.env), { label: 'monitor', environment: s.environment }, rt);
  const cmp = compareStatements(before, now, s.policies.queries);
  const slow = cmp.slow.filter((x) => x.newlySlow).length;
  const n = slow + cmp.regressions.length;
  return {
    check: 'slow_queries',
    status: n === 0 ? 'ok' : levelOf(n, c.slow_queries.warning, c.slow_queries.critical),
    summary: `since the snapshot of ${entry.takenAt.toISOString()}: ${plural(slow, 'newly slow statement')}, ${plural(cmp.regressions.length, 'regression')}`,
    value: n,
    unit: 'count',
  };
}

async function securityEvents(s: EnvironmentSources, c: MonitoringChecks, rt: Runtime, now: Date): Promise<CheckResult> {
  const { EvidenceBundle } = await import('../../evidence/index.ts');
  // The newest daily segments only: a pass every few minutes must not read a year of evidence.
  const keys = (await s.evidence.storage.list(s.evidence.folder))
    .map((o) => o.key)
    .filter((k) => k.endsWith('-audit-log.json') && !k.slice(s.evidence.folder.length).includes('/'))
    .sort()
    .slice(-3);
  if (keys.length === 0)
    return {
      check: 'security_events',
      status: 'not-configured',
      summary: 'no audit collection in the evidence yet (dbops audit collect)',
      value: null,
      unit: null,
    };
  const bundles: Array<import('../../evidence/index.ts').EvidenceBundle> = [];
  for (const k of keys) {
    const parsed = EvidenceBundle.safeParse(JSON.parse((await buffer(await s.evidence.storage.get(k))).toString('utf8')));
    if (parsed.success) bundles.push(parsed.data);
  }
  const months = [...new Set(bundles.map((b) => b.auditLog?.day.slice(0, 7)).filter((m): m is string => m !== undefined))];
  const events = months
    .flatMap((m) => reviewAudit(bundles, m, s.environment, s.policies.audit).events)
    .filter((e) => now.getTime() - Date.parse(e.at) <= DAY_MS);
  rt.log.debug({ segments: keys.length, events: events.length }, 'security events read');
  return {
    check: 'security_events',
    status: events.length === 0 ? 'ok' : levelOf(events.length, c.security_events.warning, c.security_events.critical),
    summary:
      events.length === 0
        ? 'no security event in the audit collection of the last day'
        : `${plural(events.length, 'security event')} in the last day: ${events
            .slice(0, 3)
            .map((e) => `${e.kind} by ${e.user}`)
            .join(', ')}${events.length > 3 ? ', …' : ''}`,
    value: events.length,
    unit: 'count',
  };
}

/** Every enabled environment-tied check; each source failing on its own makes only its checks unknown. */
export async function environmentChecks(s: EnvironmentSources, c: MonitoringChecks, rt: Runtime, now = new Date()): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  if (c.backup_age.enabled || c.restore_test.enabled) {
    try {
      out.push(...(await backupChecks(s, c, rt, now)));
    } catch (e) {
      for (const name of ['backup_age', 'restore_test'] as const) if (c[name].enabled) out.push(unknown(name, e));
    }
  }
  const guarded = async (name: 'pitr' | 'slow_queries' | 'security_events', fn: () => Promise<CheckResult>) => {
    if (!c[name].enabled) return;
    try {
      out.push(await fn());
    } catch (e) {
      out.push(unknown(name, e));
    }
  };
  await guarded('pitr', () => pitrCheck(s, rt));
  await guarded('slow_queries', () => slowQueries(s, c, rt));
  await guarded('security_events', () => securityEvents(s, c, rt, now));
  return out;
}
