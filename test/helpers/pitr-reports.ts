import { ReportEnvelope } from '../../pipeline/core/result.ts';
import type { PhysicalBackup } from '../../pipeline/infra/pgbackrest/info.ts';
import { PITR_REPORT_DATA, statusFindings, type PitrStatusData } from '../../pipeline/protection/pitr/index.ts';

/**
 * Report files of the pitr steps, as `dbops pitr backup | verify | status` write them: every envelope and its
 * data are checked against the schemas `dbops report` and `dbops backup notify` validate with, and a status
 * report's findings are the pitr domain's own (statusFindings), not written by hand.
 */

export const FULL: PhysicalBackup = {
  label: '20261207-010003F',
  type: 'full',
  repo: 1,
  startedAt: '2026-12-07T01:00:03.000Z',
  stoppedAt: '2026-12-07T01:06:44.000Z',
  lsnStart: '41/A2000028',
  lsnStop: '41/A3000050',
  walStart: '0000000100000041000000A2',
  walStop: '0000000100000041000000A3',
  sizeBytes: 41_016_487_936, // 38.2 GiB
  repositoryBytes: 10_415_295_488, // 9.7 GiB
  prior: null,
  error: false,
  annotation: { dbops: 'pitr backup' },
};

/** A healthy status at 10:00: archived 41 s ago, the exposure within the objective. */
export const healthyStatus = (): PitrStatusData => ({
  stanza: 'main',
  archiving: {
    lastArchivedWal: '0000000100000041000000C7',
    lastArchivedAt: '2026-12-07T09:59:19.000Z',
    failedCount: 0,
    lastFailedWal: null,
    lastFailedAt: null,
    ready: 0,
    oldestReadyAt: null,
    currentWal: '0000000100000041000000C8',
  },
  repository: { archiveMax: '0000000100000041000000C7', backups: { full: structuredClone(FULL) } },
  lastVerification: { at: '2026-12-07T03:10:00.000Z', ok: true, problems: [], backups: [FULL.label], durationMs: 192_000 },
  heartbeat: { at: '2026-12-07T09:59:40.000Z', ageMs: 20_000, staleAfterMs: 180_000 },
  exposureMs: 41_000,
  rpoMs: 15 * 60_000,
});

/** archive_command has failed since 09:38: 22 segments wait, the exposure is 22 min against 15. */
export function failingStatus(): PitrStatusData {
  const d = healthyStatus();
  d.archiving = {
    ...d.archiving,
    lastArchivedAt: '2026-12-07T09:38:00.000Z',
    failedCount: 57,
    lastFailedWal: '0000000100000041000000C8',
    lastFailedAt: '2026-12-07T09:59:58.000Z',
    ready: 22,
    oldestReadyAt: '2026-12-07T09:38:00.000Z',
  };
  d.exposureMs = 22 * 60_000;
  return d;
}

type Step = keyof typeof PITR_REPORT_DATA;

export function pitrEnvelope(step: Step, data: unknown, over: Partial<ReportEnvelope> = {}): ReportEnvelope {
  const e: ReportEnvelope = {
    schemaVersion: 1,
    step,
    command: step.replace('pitr-', 'pitr '),
    verdict: 'pass',
    exitCode: 0,
    startedAt: '2026-12-07T09:59:59.000Z',
    finishedAt: '2026-12-07T10:00:00.000Z',
    durationMs: 1_000,
    commit: '9f3c2a1b7d4e5f60718293a4b5c6d7e8f9012345',
    dbopsVersion: '0.1.0',
    findings: [],
    data,
    ...over,
  };
  ReportEnvelope.parse(e);
  if (e.data !== null) PITR_REPORT_DATA[step].parse(e.data);
  return e;
}

/** A status report as `dbops pitr status` writes it: exit 1 when a finding is an error. */
export function statusEnvelope(data: PitrStatusData): ReportEnvelope {
  const findings = statusFindings(data);
  const failed = findings.some((f) => f.severity === 'error');
  return pitrEnvelope('pitr-status', data, { findings, verdict: failed ? 'fail' : 'pass', exitCode: failed ? 1 : 0 });
}

export const backupData = () => ({ stanza: 'main', backups: [structuredClone(FULL)], durationMs: 401_000 });
export const verifyData = (problems: string[] = []) => ({
  stanza: 'main',
  record: { at: '2026-12-07T01:10:00.000Z', ok: problems.length === 0, problems, backups: [FULL.label], durationMs: 192_000 },
});
