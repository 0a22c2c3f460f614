import { describe, expect, it } from 'vitest';
import { parseInfo, parseVerify } from '../../pipeline/infra/pgbackrest/info.ts';
import { renderConfig } from '../../pipeline/infra/pgbackrest/pgbackrest.ts';
import { exposureOf, pgbackrestTime, statusFindings, type PitrStatusData } from '../../pipeline/protection/pitr/index.ts';

// pgBackRest 2.45's own output, as `info --output=json` and `verify` printed it for a real repository.
const INFO = `[{"archive":[{"database":{"id":1,"repo-key":1},"id":"15-1","max":"000000010000000000000021","min":"00000001000000000000001D"}],
"backup":[{"archive":{"start":"00000001000000000000001E","stop":"00000001000000000000001F"},"backrest":{"format":5,"version":"2.45"},
"database":{"id":1,"repo-key":1},"error":false,"info":{"delta":99575039,"repository":{"delta":12157344,"size":12157344},"size":99575039},
"label":"20261207-061525F","lsn":{"start":"0/1E000028","stop":"0/1F004080"},"prior":null,"reference":null,"timestamp":{"start":1796624125,"stop":1796624129},"type":"full"}],
"cipher":"none","db":[{"id":1,"repo-key":1,"system-id":7716440964111210749,"version":"15"}],"name":"main",
"repo":[{"cipher":"none","key":1,"status":{"code":0,"message":"ok"}}],"status":{"code":0,"lock":{"backup":{"held":false}},"message":"ok"}}]`;

const CORRUPT = `2026-12-07 06:16:29.725 P00   INFO: verify command begin 2.45: --config=/etc/pgbackrest.conf --stanza=main
2026-12-07 06:16:29.821 P02   INFO: invalid checksum '20261207-061525F/pg_data/base/28326/2838.zst'
2026-12-07 06:16:30.125 P00   INFO: stanza: main
                                    status: error
                                      backup: 20261207-061525F, status: invalid, total files checked: 3808, total valid files: 3807
                                        checksum invalid: 1
2026-12-07 06:16:30.125 P00   INFO: verify command end: completed successfully (401ms)`;

describe('pgBackRest output', () => {
  it('keeps the 64-bit system identifier exact and lists backups with ISO times', () => {
    const info = parseInfo(INFO, 'main');
    expect(info.systemId).toBe('7716440964111210749');
    expect(info.archive).toEqual({ min: '00000001000000000000001D', max: '000000010000000000000021' });
    expect(info.backups).toEqual([
      expect.objectContaining({
        label: '20261207-061525F',
        type: 'full',
        repo: 1,
        stoppedAt: '2026-12-07T06:15:29.000Z',
        walStop: '00000001000000000000001F',
        repositoryBytes: 12157344,
      }),
    ]);
    expect(parseInfo(INFO, 'other').status.code).toBe(1);
  });

  it('reads a verify report that exits 0 as the corruption it describes', () => {
    const bad = parseVerify(CORRUPT);
    expect(bad.ok).toBe(false);
    expect(bad.problems).toContain('checksum invalid: 20261207-061525F/pg_data/base/28326/2838.zst');
    const good = parseVerify(
      CORRUPT.split('\n')
        .filter((l) => /command (begin|end)/.test(l))
        .join('\n'),
    );
    expect(good).toEqual({ ok: true, problems: [] });
  });

  it('refuses a configuration value that would start a new line', () => {
    expect(renderConfig({ global: { 'repo1-path': '/srv/repo' } }, 'c')).toContain('repo1-path=/srv/repo\n');
    expect(() => renderConfig({ global: { 'repo1-cipher-pass': 'a\nrepo1-path=/tmp' } }, 'c')).toThrow(/line break/);
  });
});

describe('RPO exposure', () => {
  const now = new Date('2026-12-07T10:00:00Z');
  it('is the age of the oldest waiting segment, else the time since the last archive when WAL follows it, else none', () => {
    expect(exposureOf({ oldestReadyAt: '2026-12-07T09:40:00Z', lastArchivedAt: '2026-12-07T09:59:00Z', unarchivedBytes: 5n }, now)).toBe(20 * 60_000);
    expect(exposureOf({ oldestReadyAt: null, lastArchivedAt: '2026-12-07T09:59:00Z', unarchivedBytes: 5n }, now)).toBe(60_000);
    expect(exposureOf({ oldestReadyAt: null, lastArchivedAt: '2026-12-07T09:00:00Z', unarchivedBytes: 0n }, now)).toBe(0);
  });

  it('fails the status over the objective and while archiving fails', () => {
    const base: PitrStatusData = {
      stanza: 'main',
      archiving: {
        lastArchivedWal: 'x',
        lastArchivedAt: '2026-12-07T09:00:00.000Z',
        failedCount: 0,
        lastFailedWal: null,
        lastFailedAt: null,
        ready: 0,
        oldestReadyAt: null,
        currentWal: 'y',
      },
      repository: { archiveMax: 'x', backups: { full: {} as never } },
      lastVerification: null,
      heartbeat: { at: '2026-12-07T09:59:30.000Z', ageMs: 30_000, staleAfterMs: 180_000 },
      exposureMs: 60_000,
      rpoMs: 15 * 60_000,
    };
    expect(statusFindings(base)).toEqual([]);
    expect(statusFindings({ ...base, exposureMs: 16 * 60_000 }).map((f) => f.rule)).toEqual(['pitr/rpo-exceeded']);
    const failing = { ...base, archiving: { ...base.archiving, failedCount: 3, lastFailedWal: 'z', lastFailedAt: '2026-12-07T09:30:00.000Z' } };
    expect(statusFindings(failing).map((f) => f.rule)).toEqual(['pitr/archiving-failing']);
    // A failure older than the last success is history, not a failing archive.
    expect(statusFindings({ ...failing, archiving: { ...failing.archiving, lastFailedAt: '2026-12-07T08:00:00.000Z' } })).toEqual([]);
    // No heartbeat, or a stopped one, is said, as a warning: archiving may be fine without it.
    expect(statusFindings({ ...base, heartbeat: null }).map((f) => [f.rule, f.severity])).toEqual([['pitr/no-heartbeat', 'warning']]);
    expect(statusFindings({ ...base, heartbeat: { ...base.heartbeat!, ageMs: 200_000 } }).map((f) => f.rule)).toEqual(['pitr/heartbeat-stopped']);
  });
});

describe('restore targets', () => {
  it("are written as pgBackRest's backup selection reads them, microseconds kept", () => {
    expect(pgbackrestTime('2026-12-07T06:54:52.845527Z', Date.parse('2026-12-07T06:54:52.845527Z'))).toBe('2026-12-07 06:54:52.845527+00');
    expect(pgbackrestTime('2026-12-07T06:54:52Z', Date.parse('2026-12-07T06:54:52Z'))).toBe('2026-12-07 06:54:52+00');
    // Another zone goes through UTC.
    expect(pgbackrestTime('2026-12-07T08:54:52.5+02:00', Date.parse('2026-12-07T08:54:52.5+02:00'))).toBe('2026-12-07 06:54:52.500+00');
  });
});
