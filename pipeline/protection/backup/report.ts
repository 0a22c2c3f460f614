import { z } from 'zod';
import { Tier } from '../../policy/backups.ts';
import { BackupManifest, VerificationRecord } from './manifest.ts';

/** `data` of reports/backup-*.json: what `dbops backup notify`, `dbops report` and the gate read back. */

const TargetRef = z.object({ name: z.string(), location: z.string().describe('folder or s3://bucket/prefix, never a credential') });

export const BackupCreateData = z.object({
  target: TargetRef,
  manifest: BackupManifest,
  /** Ciphertext bytes per second over the whole run, MiB/s. */
  throughputMiBs: z.number(),
  /** Partial uploads of killed earlier runs that were removed first. */
  swept: z.array(z.string()),
});
export type BackupCreateData = z.output<typeof BackupCreateData>;

export const BackupVerifyData = z.object({
  target: TargetRef,
  backupId: z.string(),
  tier: Tier,
  database: z.string(),
  ciphertextBytes: z.number().int(),
  record: VerificationRecord,
});
export type BackupVerifyData = z.output<typeof BackupVerifyData>;

export const RetentionDecision = z.object({
  id: z.string(),
  tier: Tier,
  finishedAt: z.string(),
  status: z.enum(['verified', 'failed', 'unverified']),
  /** Retention is computed per database (name): backups of two databases in one target never evict each other. */
  database: z.string().optional(),
  keep: z.boolean(),
  /** Why it is kept ("daily 2026-11-23", "weekly 2026-W47", "newest verified", "keep_last 2/3", …) or deleted. */
  reasons: z.array(z.string()),
});
export type RetentionDecision = z.output<typeof RetentionDecision>;

export const BackupPruneData = z.object({
  dryRun: z.boolean(),
  zone: z.string(),
  targets: z.array(
    TargetRef.extend({
      decisions: z.array(RetentionDecision),
      deleted: z.array(z.string()),
      swept: z.array(z.string()),
    }),
  ),
});
export type BackupPruneData = z.output<typeof BackupPruneData>;

export const BackupReplicateData = z.object({
  from: TargetRef,
  targets: z.array(
    TargetRef.extend({
      copied: z.array(z.object({ id: z.string(), bytes: z.number().int(), durationMs: z.number() })),
      present: z.array(z.string()),
      failed: z.array(z.object({ id: z.string(), message: z.string() })),
    }),
  ),
});
export type BackupReplicateData = z.output<typeof BackupReplicateData>;

export const BackupRestoreData = z.object({
  source: TargetRef,
  backupId: z.string(),
  tier: Tier,
  /** Redacted URL of the database restored into. */
  targetUrl: z.string(),
  createdDatabase: z.boolean(),
  forced: z.boolean(),
  rolesCreated: z.array(z.string()),
  phases: z.array(z.object({ name: z.string(), durationMs: z.number() })),
  manifestMatched: z.boolean(),
  tables: z.number().int(),
});
export type BackupRestoreData = z.output<typeof BackupRestoreData>;

export const BACKUP_REPORT_DATA = {
  'backup-create': BackupCreateData,
  'backup-verify': BackupVerifyData,
  'backup-prune': BackupPruneData,
  'backup-replicate': BackupReplicateData,
  'backup-restore': BackupRestoreData,
} as const;
