import { z } from 'zod';
import { PhysicalBackup } from '../../infra/pgbackrest/info.ts';

/**
 * `data` of reports/pitr-*.json: what `dbops backup notify` and `dbops report` read back. The TS types of
 * the pitr commands' results are derived from these schemas, so the data a command returns and the data
 * its report is validated against cannot drift apart.
 */

/** A `dbops pitr verify` run, kept in the state folder where status, list and the gate read it. */
export const PitrVerification = z.object({
  at: z.string(),
  ok: z.boolean(),
  problems: z.array(z.string()),
  /** The backups the repository held when it was verified: a backup is verified when its newest record passed. */
  backups: z.array(z.string()),
  durationMs: z.number(),
});
export type PitrVerification = z.output<typeof PitrVerification>;

export const PitrBackupData = z.object({
  stanza: z.string(),
  /** One per repository it went to, repo1 first (each repository holds its own copy; WAL reaches all of them). */
  backups: z.array(PhysicalBackup),
  durationMs: z.number(),
});
export type PitrBackupData = z.output<typeof PitrBackupData>;

export const PitrVerifyData = z.object({
  stanza: z.string(),
  record: PitrVerification,
});
export type PitrVerifyData = z.output<typeof PitrVerifyData>;

/** What `pitr status` measures. */
export const PitrStatusData = z.object({
  stanza: z.string(),
  archiving: z.object({
    lastArchivedWal: z.string().nullable(),
    lastArchivedAt: z.string().nullable(),
    failedCount: z.number().int(),
    lastFailedWal: z.string().nullable(),
    lastFailedAt: z.string().nullable(),
    /** WAL segments waiting for archive_command (.ready files), and how long the oldest has waited. */
    ready: z.number().int(),
    oldestReadyAt: z.string().nullable(),
    currentWal: z.string(),
  }),
  repository: z.object({
    archiveMax: z.string().nullable(),
    /** The newest backup of each type. */
    backups: z.object({ full: PhysicalBackup.optional(), diff: PhysicalBackup.optional(), incr: PhysicalBackup.optional() }),
  }),
  lastVerification: PitrVerification.nullable(),
  /** The newest dbops.heartbeat and the age after which it counts as stopped; null when the database has none. */
  heartbeat: z.object({ at: z.string(), ageMs: z.number(), staleAfterMs: z.number() }).nullable(),
  /** How much committed work a disaster now would lose, at most (ms), against the objective. */
  exposureMs: z.number(),
  rpoMs: z.number(),
});
export type PitrStatusData = z.output<typeof PitrStatusData>;

/** One full backup of a repository and what `pitr expire` decided for it. */
export const FullDecision = z.object({
  label: z.string(),
  stoppedAt: z.string(),
  status: z.enum(['verified', 'unverified']),
  keep: z.boolean(),
  /** Why it is kept ("weekly 2026-W48", "start of the 14d WAL window", …) or expired; never empty. */
  reasons: z.array(z.string()),
  /** The diff and incr backups built on it: pgBackRest expires them with it. */
  dependents: z.array(z.string()),
});
export type FullDecision = z.output<typeof FullDecision>;

export const RepoExpirePlan = z.object({
  repo: z.number().int(),
  /** Newest first. */
  fulls: z.array(FullDecision),
  /** The kept full backup WAL is kept from: every moment since it ended can be restored. Null: no full backup. */
  walFrom: z.object({ label: z.string(), stoppedAt: z.string() }).nullable(),
  /** pgBackRest's repo-retention-archive (type full) that keeps WAL from `walFrom` on. */
  archiveFulls: z.number().int(),
});
export type RepoExpirePlan = z.output<typeof RepoExpirePlan>;

export const PitrExpireData = z.object({
  stanza: z.string(),
  dryRun: z.boolean(),
  zone: z.string(),
  walWindow: z.string(),
  /** Per repository: the plan, and the labels pgBackRest no longer lists after the expiry. */
  repos: z.array(RepoExpirePlan.extend({ expired: z.array(z.string()) })),
});
export type PitrExpireData = z.output<typeof PitrExpireData>;

/** Step name → schema of its report's data (pipeline/report/schema.ts merges it into REPORT_DATA). */
export const PITR_REPORT_DATA = {
  'pitr-backup': PitrBackupData,
  'pitr-verify': PitrVerifyData,
  'pitr-expire': PitrExpireData,
  'pitr-status': PitrStatusData,
} as const;
