// The judgement of one pass from measured facts: thresholds (pgmonitor's defaults and an environment's
// overrides, key by key), the host checks only where dbops runs beside the server, replicas declared but
// not streaming, capacity not declared.
import { describe, expect, it } from 'vitest';
import { parseDatabaseUrl } from '../../pipeline/infra/db/url.ts';
import { checksFor, MonitoringPolicy } from '../../pipeline/policy/monitoring.ts';
import { judgeDatabase, levelOf, type DatabaseFacts, type HostFacts, type MonitorTarget } from '../../pipeline/operations/monitoring/index.ts';

const facts = (over: Partial<DatabaseFacts> = {}): DatabaseFacts => ({
  database: 'astro',
  inRecovery: false,
  connections: { clients: 10, max: 100, reserved: 3 },
  wraparound: { xidAge: 200_000_000, mxidAge: 0, database: 'astro' },
  idleInTransaction: { seconds: 0, pid: null, user: null },
  longestQuery: { seconds: 0, pid: null, user: null },
  longestBlocked: { seconds: 0, pid: null, blockedBy: [] },
  replicas: [],
  inactiveSlots: [],
  checksums: { enabled: true, failures: 0, lastFailure: null },
  sizes: { databaseBytes: 850 * 1024 ** 2, walBytes: 100 * 1024 ** 2 },
  dataDirectory: '/var/lib/postgresql/15/main',
  archiver: { archived: 0, failed: 0, lastArchivedAt: null, lastFailedAt: null, lastFailedWal: null },
  load: { xacts: 1000, activeSessions: 1 },
  ...over,
});
const host: HostFacts = { unseen: null, cpuPercent: 96, memoryPercent: 50, disk: { usedPercent: 85, freeBytes: 10, totalBytes: 100 } };
const policy = MonitoringPolicy.parse({
  version: 1,
  checks: { connections: { warning: 60 } },
  environments: { production: { checks: { connections: { critical: 70 } }, capacity: { database: '1GB' } } },
});
const target = (environment: string | null, replicas: string[] = []): MonitorTarget => ({
  database: parseDatabaseUrl('postgresql://u:secret@db.internal:5432/astro'),
  environment,
  checks: checksFor(policy, environment),
  capacity: environment ? (policy.environments[environment]?.capacity ?? {}) : {},
  replicas,
});
const by = (list: ReturnType<typeof judgeDatabase>, name: string) => list.find((c) => c.check === name)!;

describe('monitoring checks', () => {
  it('takes an environment’s override key by key over the file-wide thresholds and pgmonitor’s defaults', () => {
    expect(checksFor(policy, null).connections).toMatchObject({ warning: 60, critical: 90 });
    expect(checksFor(policy, 'production').connections).toMatchObject({ warning: 60, critical: 70 });
    expect(checksFor(policy, 'production').wraparound).toMatchObject({ warning: 50, critical: 75 });
    expect(levelOf(70, 60, 70)).toBe('critical');
    const many = facts({ connections: { clients: 70, max: 100, reserved: 3 } });
    expect(by(judgeDatabase(many, host, target(null), []), 'connections').status).toBe('warning');
    expect(by(judgeDatabase(many, host, target('production'), []), 'connections').status).toBe('critical');
  });

  it('takes the lag the topology tolerates (replication.max_lag, the gate’s limit) as replication_lag’s critical threshold, unless monitoring.yaml sets it', () => {
    expect(checksFor(policy, 'production', { maxLag: '16MB' }).replication_lag).toMatchObject({ warning: `${8 * 1024 ** 2}B`, critical: `${16 * 1024 ** 2}B` });
    const lag = (bytes: number) =>
      by(
        judgeDatabase(
          facts({ replicas: [{ name: 'replica-1', state: 'streaming', lagBytes: bytes }] }),
          host,
          { ...target('production', ['replica-1']), checks: checksFor(policy, 'production', { maxLag: '16MB' }) },
          [],
        ),
        'replication_lag',
      ).status;
    expect(lag(4 * 1024 ** 2)).toBe('ok');
    expect(lag(10 * 1024 ** 2)).toBe('warning');
    expect(lag(20 * 1024 ** 2)).toBe('critical');
    const own = MonitoringPolicy.parse({ version: 1, environments: { production: { checks: { replication_lag: { critical: '1GB' } } } } });
    expect(checksFor(own, 'production', { maxLag: '16MB' }).replication_lag.critical).toBe('1GB');
    expect(checksFor(own, 'production').replication_lag).toMatchObject({ warning: '50MB', critical: '1GB' });
  });

  it('judges the host only where dbops runs beside the server, and says why not otherwise', () => {
    const beside = judgeDatabase(facts(), host, target('production'), []);
    expect(by(beside, 'cpu')).toMatchObject({ status: 'critical', value: 96 });
    expect(by(beside, 'disk').status).toBe('warning');
    const away = judgeDatabase(
      facts(),
      { unseen: 'the server (db.internal) is on another machine', cpuPercent: null, memoryPercent: null, disk: null },
      target('production'),
      [],
    );
    expect(by(away, 'cpu')).toMatchObject({ status: 'not-configured', summary: expect.stringContaining('db.internal') });
  });

  it('is critical for a declared replica that does not stream, and compares sizes only with a declared capacity', () => {
    const list = judgeDatabase(
      facts({ replicas: [{ name: 'replica-1', state: 'streaming', lagBytes: 10 }] }),
      host,
      target('production', ['replica-1', 'replica-2']),
      [],
    );
    expect(by(list, 'replication_lag')).toMatchObject({ status: 'critical', subject: 'replica-2' });
    expect(by(list, 'database_size')).toMatchObject({ status: 'warning', unit: 'percent' });
    expect(by(judgeDatabase(facts(), host, target(null), []), 'database_size').status).toBe('not-configured');
    expect(
      by(
        judgeDatabase(facts({ checksums: { enabled: true, failures: 2, lastFailure: '2026-12-07T10:00:00.000Z' } }), host, target(null), [
          'public.ledger (block 0)',
        ]),
        'checksum_failures',
      ),
    ).toMatchObject({
      status: 'critical',
      subject: 'public.ledger (block 0)',
    });
  });
});
