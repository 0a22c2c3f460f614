import type { BackupManifest, VerificationRecord } from '../../pipeline/protection/backup/manifest.ts';
import type { Tier } from '../../pipeline/policy/backups.ts';

/** Hand-written catalog entries for tests of the catalog and of commands that only move stored bytes. */

/** A valid manifest; the object fields are placeholders unless the test overrides them. */
export function manifestFor(id: string, tier: Tier, finishedAt: string): BackupManifest {
  return {
    formatVersion: 1,
    id,
    tier,
    database: { name: 'astro', systemIdentifier: '7301234567890123456', serverVersion: '15.18', serverVersionNum: 150018 },
    startedAt: finishedAt,
    finishedAt,
    dump: { format: 'custom', compressionLevel: 1, pgDump: 'pg_dump (PostgreSQL) 15.18', plaintextBytes: 1000, durationMs: 12 },
    object: { key: 'backup.dump.age', ciphertextBytes: 1234, sha256: 'a'.repeat(64) },
    encryption: { format: 'age-v1', recipients: [{ name: 'ops', recipient: `age1${'q'.repeat(58)}`, fingerprint: '0123456789abcdef' }] },
    tables: [{ schema: 'public', name: 'Invoice', rows: '3', hash: '42' }],
    dbops: { version: '0.1.0', commit: null },
  };
}

/** One verification record with a single check (sha256, or copy for the copy level). */
export function record(id: string, at: string, level: VerificationRecord['level'], ok: boolean, target = 'local'): VerificationRecord {
  return {
    formatVersion: 1,
    backupId: id,
    target,
    at,
    level,
    ok,
    checks: [{ name: level === 'copy' ? 'copy' : 'sha256', ok, durationMs: 3, ...(ok ? {} : { message: 'SHA-256 differs from the manifest' }) }],
    durationMs: 3,
    dbops: { version: '0.1.0', commit: null },
  };
}
