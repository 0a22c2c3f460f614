import { z } from 'zod';
import { Tier } from '../../policy/backups.ts';

/**
 * What a backup is, stored beside it as `<id>/manifest.json`. The manifest is written last: a backup exists
 * for every command only once it is there. Additive changes only within one formatVersion.
 */

export const TableManifest = z.object({
  schema: z.string(),
  name: z.string(),
  /** Exact row count inside the dump's snapshot (a string: bigint-safe). */
  rows: z.string().regex(/^\d+$/),
  /** Order-independent content hash inside the snapshot, computed as `tableHash.method` says. */
  hash: z.string(),
});
export type TableManifest = z.output<typeof TableManifest>;

/**
 * How the table hashes were computed, so a restore test computes them the same way (manifests written before
 * this field existed used `record-hash`):
 * - `record-hash`: in the database, inside the dump's snapshot: the sum of hash_record_extended over each
 *   row's values (text for types whose hash is not value-only, e.g. enums); tables.ts.
 * - `copy-xxh64`: from the archive as pg_dump streamed it: the sum modulo 2^64 of xxHash64 over each row's
 *   COPY text line; archive-manifest.ts. `encoding` and `settings` are the session pg_dump wrote the text
 *   in, which the restore side reproduces.
 */
export const TableHash = z.discriminatedUnion('method', [
  z.object({ method: z.literal('record-hash') }),
  z.object({
    method: z.literal('copy-xxh64'),
    encoding: z.string().describe("the archive's client encoding, e.g. UTF8"),
    settings: z.record(z.string(), z.string()).describe("session settings besides pg_dump's own that shape COPY text: TimeZone, bytea_output, lc_monetary"),
  }),
]);
export type TableHash = z.output<typeof TableHash>;

export const RecipientRecord = z.object({
  name: z.string(),
  recipient: z.string().describe('age1… (public)'),
  fingerprint: z.string().describe('first 16 hex digits of SHA-256 of the recipient string'),
});

export const BackupManifest = z.object({
  formatVersion: z.literal(1),
  id: z.string(),
  tier: Tier,
  database: z.object({
    name: z.string(),
    systemIdentifier: z.string().describe('pg_control_system().system_identifier: tells two clusters apart even when the database names match'),
    serverVersion: z.string().describe('e.g. 15.18'),
    serverVersionNum: z.number().int(),
    sizeBytes: z
      .number()
      .int()
      .optional()
      .describe('pg_database_size when the backup started (indexes included): growth over time, and the ETA of the next backup'),
  }),
  startedAt: z.string().describe('ISO 8601 UTC: the snapshot was exported at this time'),
  finishedAt: z.string().describe('ISO 8601 UTC: the ciphertext was stored'),
  dump: z.object({
    format: z.literal('custom'),
    compressionLevel: z.number().int(),
    pgDump: z.string().describe('pg_dump --version'),
    plaintextBytes: z.number().int(),
    durationMs: z.number(),
  }),
  object: z.object({
    key: z.string().describe('object name inside <id>/, e.g. backup.dump.age'),
    ciphertextBytes: z.number().int(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
  }),
  encryption: z.object({ format: z.literal('age-v1'), recipients: z.array(RecipientRecord).min(1) }),
  tables: z.array(TableManifest),
  /** Absent in manifests written before it existed: `record-hash`. */
  tableHash: TableHash.optional(),
  dbops: z.object({ version: z.string(), commit: z.string().nullable() }),
  /** Free text from --note, e.g. the deploy it precedes. */
  note: z.string().optional(),
});
export type BackupManifest = z.output<typeof BackupManifest>;

export const CHECKS = ['sha256', 'decrypt', 'archive', 'restore', 'manifest', 'amcheck', 'copy'] as const;
export const VerificationCheck = z.object({
  name: z.enum(CHECKS),
  ok: z.boolean(),
  durationMs: z.number(),
  /** Why it failed, or a short figure when it passed (e.g. "41 tables match"). */
  message: z.string().optional(),
});

/** One verification of one stored copy, stored as `<id>/verify/<compact UTC>-<level>.json`; never rewritten. */
export const VerificationRecord = z.object({
  formatVersion: z.literal(1),
  backupId: z.string(),
  target: z.string().describe('storage target name the verified copy lives in'),
  at: z.string().describe('ISO 8601 UTC, when the verification finished'),
  /** read: SHA-256 + decryption + full archive read; restore: also restored, manifest compared, amcheck; copy: replicate checked the SHA-256 of a copy of a verified backup. */
  level: z.enum(['read', 'restore', 'copy']),
  ok: z.boolean(),
  checks: z.array(VerificationCheck),
  durationMs: z.number(),
  /** Restore time (pg_restore until the copy is usable): the RTO evidence of a logical restore. */
  restoreMs: z.number().optional(),
  /** From the start of the verification until pg_restore finished: download, decryption, roles and restore, the whole time to a usable logical copy. */
  readyMs: z.number().optional(),
  dbops: z.object({ version: z.string(), commit: z.string().nullable() }),
});
export type VerificationRecord = z.output<typeof VerificationRecord>;

/** A listed backup: a manifest plus what the verifications of this copy say. */
export interface BackupEntry {
  manifest: BackupManifest;
  /** Oldest first. */
  verifications: VerificationRecord[];
  /** The newest verification decides: verified (passed), failed, or unverified (none yet). */
  status: 'verified' | 'failed' | 'unverified';
  /** The newest passing verification, when status is verified. */
  verified?: VerificationRecord;
}

/** Layout inside a target (under its prefix). */
export const LAYOUT = {
  manifest: (id: string) => `${id}/manifest.json`,
  object: (id: string) => `${id}/backup.dump.age`,
  verification: (id: string, at: Date, level: VerificationRecord['level']) => `${id}/verify/${compactUtc(at)}-${level}.json`,
  verificationPrefix: (id: string) => `${id}/verify/`,
} as const;

/** `2026-11-24T02:00:03.123Z` → `20261124T020003Z`: sorts as time, valid in file and object names. */
export const compactUtc = (d: Date): string =>
  d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');

/** Backup ids sort by time: `20261124T020003Z-daily-3f9a`. */
export const BACKUP_ID = /^\d{8}T\d{6}Z-(daily|weekly|monthly|pre-deploy)-[0-9a-f]{4}$/;
