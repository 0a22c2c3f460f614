import { BACKUP_REPORT_DATA } from '../../pipeline/protection/backup/report.ts';
import { ReportEnvelope } from '../../pipeline/core/result.ts';

/**
 * Report files of the backup steps, as the steps write them: every envelope and its data are checked
 * against the schemas `dbops report` and `dbops backup notify` validate with, so a schema change that
 * the fixtures no longer satisfy fails here first.
 */

export const ID = '20261124T020003Z-daily-3f9a';
export const CIPHERTEXT = 1_288_490_189; // 1.2 GiB
export const target = { name: 'backup-server', location: '/srv/dbops-backups/astrofinance' };
export const offsite = { name: 'offsite', location: 's3://astrofinance-db-backups/postgres/astrofinance/' };

export const manifest = {
  formatVersion: 1,
  id: ID,
  tier: 'daily',
  database: { name: 'astrofinance', systemIdentifier: '7312345678901234567', serverVersion: '15.8', serverVersionNum: 150008 },
  startedAt: '2026-11-24T02:00:03.000Z',
  finishedAt: '2026-11-24T02:03:05.000Z',
  dump: { format: 'custom', compressionLevel: 1, pgDump: 'pg_dump (PostgreSQL) 15.8', plaintextBytes: 1_200_000_000, durationMs: 180_000 },
  object: { key: 'backup.dump.age', ciphertextBytes: CIPHERTEXT, sha256: 'c'.repeat(64) },
  encryption: {
    format: 'age-v1',
    recipients: [{ name: 'ops-oncall', recipient: 'age1xy0gsm09d4v3htt3n27a76pzjce9ztr82nkhty0t7dwpf8xjeqdsdwrfkl', fingerprint: '0123456789abcdef' }],
  },
  tables: [
    { schema: 'public', name: 'JournalLine', rows: '1000000', hash: '9223372036854775807' },
    { schema: 'public', name: 'Invoice', rows: '80000', hash: '12345' },
  ],
  dbops: { version: '0.1.0', commit: '9f3c2a1b7d4e5f60718293a4b5c6d7e8f9012345' },
};

/** The read-level checks, one of them failed when asked. */
export const checks = (failed?: { name: string; message: string }) =>
  (['sha256', 'decrypt', 'archive'] as const).map((name) => ({
    name,
    ok: failed?.name !== name,
    durationMs: 40_000,
    ...(failed?.name === name ? { message: failed.message } : {}),
  }));

export const DATA = {
  'backup-create': { target, manifest, throughputMiBs: 6.75, swept: [] },
  'backup-verify': {
    target,
    backupId: ID,
    tier: 'daily',
    database: 'astrofinance',
    ciphertextBytes: CIPHERTEXT,
    record: {
      formatVersion: 1,
      backupId: ID,
      target: 'backup-server',
      at: '2026-11-24T02:05:10.000Z',
      level: 'read',
      ok: true,
      checks: checks(),
      durationMs: 120_000,
      dbops: manifest.dbops,
    },
  },
  'backup-replicate': {
    from: target,
    targets: [{ ...offsite, copied: [{ id: ID, bytes: CIPHERTEXT, durationMs: 60_000 }], present: ['20261123T020004Z-daily-0b1c'], failed: [] }],
  },
  'backup-prune': {
    dryRun: false,
    zone: 'Europe/Berlin',
    targets: [
      {
        ...target,
        decisions: [
          { id: ID, tier: 'daily', finishedAt: manifest.finishedAt, status: 'verified', keep: true, reasons: ['daily 2026-11-24', 'newest verified'] },
          {
            id: '20261115T020001Z-daily-aaaa',
            tier: 'daily',
            finishedAt: '2026-11-15T02:03:00.000Z',
            status: 'verified',
            keep: false,
            reasons: ['no tier keeps it'],
          },
        ],
        deleted: ['20261115T020001Z-daily-aaaa'],
        swept: [],
      },
    ],
  },
  'backup-restore': {
    source: target,
    backupId: ID,
    tier: 'daily',
    targetUrl: 'postgresql://restore:***@restore-host:5432/astro_restored',
    createdDatabase: true,
    forced: false,
    rolesCreated: ['app'],
    phases: [
      { name: 'download and decrypt', durationMs: 70_000 },
      { name: 'pg_restore', durationMs: 95_000 },
      { name: 'compare manifest', durationMs: 900 },
    ],
    manifestMatched: true,
    tables: 2,
  },
} as const;

export type BackupStep = keyof typeof DATA;

export function envelope(step: BackupStep, over: Partial<ReportEnvelope> = {}): ReportEnvelope {
  const e: ReportEnvelope = {
    schemaVersion: 1,
    step,
    command: step.replace('backup-', 'backup '),
    verdict: 'pass',
    exitCode: 0,
    startedAt: '2026-11-24T02:00:01.000Z',
    finishedAt: '2026-11-24T02:03:06.000Z',
    durationMs: 185_000,
    commit: manifest.dbops.commit,
    dbopsVersion: '0.1.0',
    findings: [],
    data: structuredClone(DATA[step]),
    ...over,
  };
  ReportEnvelope.parse(e);
  if (e.data !== null) BACKUP_REPORT_DATA[step].parse(e.data);
  return e;
}

/** A verify report whose SHA-256 check failed, with the finding verify writes for it. */
export function failedVerify(): ReportEnvelope {
  const data = structuredClone(DATA['backup-verify']) as unknown as { record: { ok: boolean; checks: unknown } };
  data.record.ok = false;
  const message = `SHA-256 of ${ID}/backup.dump.age is ${'e'.repeat(64)}, the manifest says ${'c'.repeat(64)}`;
  data.record.checks = checks({ name: 'sha256', message });
  return envelope('backup-verify', {
    verdict: 'fail',
    exitCode: 1,
    data,
    findings: [{ rule: 'backup/sha256', severity: 'error', message: `${ID}: sha256: ${message}` }],
  });
}
