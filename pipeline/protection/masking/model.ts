import { z } from 'zod';
import type { BackupsPolicy } from '../../policy/backups.ts';
import type { BackupManifest } from '../backup/index.ts';
import type { MaskingPolicy } from '../../policy/masking.ts';
import { MaskedSnapshot, type MaskedSnapshotLocation } from './attest.ts';

/** Which backup to mask, where the result goes, under which policies (the flags of `dbops snapshot mask`). */
export interface MaskRequest {
  backupId?: string | undefined;
  latest: boolean;
  /** With latest: only backups of this tier (the production dailies, not a staging pre-deploy backup on the same target). */
  tier?: BackupManifest['tier'] | undefined;
  /** Storage target of policies/backups.yaml (default: snapshot.backup_target, else the primary). */
  target?: string | undefined;
  identityFile?: string | undefined;
  /** Server that restores and masks (default: a throwaway cluster dbops starts and deletes). */
  scratchUrl?: string | undefined;
  /** Where the template goes: undefined server = the embedded cluster. */
  location: MaskedSnapshotLocation;
  policy: MaskingPolicy;
  /** policies/masking.yaml, when it exists (its SHA-256 is attested). */
  policyPath: string | undefined;
  backups: BackupsPolicy;
}

export const MaskedColumn = z.object({
  table: z.string(),
  column: z.string(),
  rule: z.string(),
  /** Rows the UPDATE changed (non-NULL values). */
  rows: z.number(),
});

export const ScanHit = z.object({
  table: z.string(),
  column: z.string(),
  /** Cells holding an original value (the whole value, a word of it, or a string inside JSON). */
  cells: z.number(),
  /** The columns whose original values were found there ("public.User.email"). Never the values. */
  from: z.array(z.string()),
});

export const CheckResult = z.object({
  kind: z.enum(['foreign-key', 'policy']),
  name: z.string(),
  /** Rows breaking it. */
  violations: z.number(),
});

export const SnapshotMaskData = z.object({
  backup: z.object({ id: z.string(), takenAt: z.string(), database: z.string(), target: z.string(), verifiedAt: z.string().nullable() }),
  /** The template as installed, or the one that would have been when the run failed before. */
  template: z.object({ database: z.string(), server: z.string(), installed: z.boolean(), replaced: z.string().nullable() }),
  scratch: z.string(),
  policySha256: z.string(),
  columns: z.array(MaskedColumn),
  scan: z.object({ columns: z.number(), values: z.number(), hits: z.array(ScanHit) }),
  checks: z.array(CheckResult),
  phases: z.array(z.object({ name: z.string(), durationMs: z.number() })),
  snapshot: MaskedSnapshot.nullable(),
});
export type SnapshotMaskData = z.output<typeof SnapshotMaskData>;
