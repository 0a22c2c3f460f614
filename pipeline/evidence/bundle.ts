import { z } from 'zod';
import {
  AccessChange,
  AuditLog,
  BreakGlass,
  DrDrill,
  DriftCheck,
  ExecutionData,
  InterruptedDeploy,
  QueryReview,
  RunIdentity,
  SettingsChange,
} from './records.ts';

/**
 * One evidence bundle: everything an auditor samples about one production change, stored as
 * `<prefix>/<environment>/<sequence 6 digits>-<compact UTC>-<kind>.json` (+ `.md`, the same content for
 * humans) in the primary backup target. Bundles of one environment form a hash chain: each carries the
 * SHA-256 of the previous one, and its own over everything else, so editing any byte of any bundle is
 * found by `dbops evidence verify`.
 */

export const BUNDLE_KIND = ['deploy', 'rollback', 'interrupted', 'dr-drill', 'settings', 'query-review', 'access', 'audit-log', 'drift'] as const;

export const EvidenceBundle = z.object({
  formatVersion: z.literal(1),
  environment: z.string(),
  /** 1, 2, 3 … per environment, no gaps (a gap is a deleted bundle, unless a retention checkpoint covers it). */
  sequence: z.number().int().positive(),
  kind: z.enum(BUNDLE_KIND),
  createdAt: z.string().describe('ISO 8601 UTC'),
  /** The link: the previous bundle of this environment (null for the first one). */
  previous: z.object({ sequence: z.number().int().positive(), sha256: z.string().regex(/^[0-9a-f]{64}$/) }).nullable(),
  /** Repeated at the top so no reader can miss it. */
  breakGlass: BreakGlass.nullable(),
  /** For kind deploy/rollback: what happened; for kind interrupted: reconstructed from the in-flight marker. */
  execution: ExecutionData.nullable(),
  interrupted: InterruptedDeploy.nullable(),
  /** For kind dr-drill only; absent from every other bundle (so bundles written before drills keep their hashes). */
  drill: DrDrill.optional(),
  /** For kind settings only; absent from every other bundle, like drill. */
  settings: SettingsChange.optional(),
  /** For kind audit-log only; absent from every other bundle, like drill. */
  auditLog: AuditLog.optional(),
  /** For kind query-review only; absent from every other bundle, like drill. */
  queryReview: QueryReview.optional(),
  /** For kind access only; absent from every other bundle, like drill. */
  access: AccessChange.optional(),
  /** For kind drift only; absent from every other bundle, like drill. */
  drift: DriftCheck.optional(),
  run: RunIdentity.nullable(),
  dbops: z.object({ version: z.string(), commit: z.string().nullable() }),
  /**
   * SHA-256 of the Markdown page's body (everything before its trailer naming `sha256`), as rendered when the
   * bundle was sealed. The page is checked against this hash, not re-rendered: a later dbops that renders
   * pages differently must still verify the pages of years-old bundles.
   */
  markdownSha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** SHA-256 (hex) of the canonical serialization of every other field (pipeline/evidence/chain.ts). */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type EvidenceBundle = z.output<typeof EvidenceBundle>;
/** A bundle before it is sealed (sequence, previous and sha256 are assigned by appendBundle). */
export type BundleDraft = Omit<
  EvidenceBundle,
  | 'formatVersion'
  | 'environment'
  | 'sequence'
  | 'previous'
  | 'sha256'
  | 'markdownSha256'
  | 'createdAt'
  | 'dbops'
  | 'drill'
  | 'settings'
  | 'queryReview'
  | 'auditLog'
  | 'access'
  | 'drift'
> & {
  drill?: DrDrill | undefined;
  settings?: SettingsChange | undefined;
  queryReview?: QueryReview | undefined;
  auditLog?: AuditLog | undefined;
  access?: AccessChange | undefined;
  drift?: DriftCheck | undefined;
};

/**
 * Written when a deploy or rollback starts and removed when its bundle is stored: a marker that is still
 * there while no deploy holds the database's deploy lock is a deploy that died (kill -9, lost runner).
 * `<prefix>/<environment>/inflight.json`.
 */
export const InflightMarker = z.object({
  formatVersion: z.literal(1),
  environment: z.string(),
  action: z.enum(['deploy', 'rollback']),
  startedAt: z.string(),
  run: RunIdentity.nullable(),
  by: z.string(),
  database: z.object({ name: z.string(), systemIdentifier: z.string() }),
  /** Migrations the action set out to apply (oldest first) or roll back (newest first). */
  planned: z.array(z.string()),
  /** Only for a human reading the folder. */
  pid: z.number().int(),
  host: z.string(),
});
export type InflightMarker = z.output<typeof InflightMarker>;
