import { z } from 'zod';
import type { MigrationsPolicy } from '../../policy/schema.ts';
import { MaskedSnapshot, type MaskedSnapshotLocation } from '../../protection/masking/index.ts';

/** What a rehearsal measured: the data of `reports/rehearse.json`. */
/** One interval during which a session of the migration held (granted) or waited for (not granted) a lock. */
export const LockSpan = z.object({
  relation: z.string(),
  /** PostgreSQL lock mode name, e.g. AccessExclusiveLock. */
  mode: z.string(),
  granted: z.boolean(),
  /** Milliseconds since the migration started. */
  startMs: z.number(),
  endMs: z.number(),
});

export const RelationLock = z.object({
  relation: z.string(),
  /** Strongest mode held on the relation during the migration. */
  mode: z.string(),
  heldMs: z.number(),
  /** Rows in the relation before the migration (reltuples or count), when it is a table. */
  rows: z.number().nullable(),
});

export const ProbeStats = z.object({
  table: z.string(),
  operation: z.enum(['read', 'write']),
  samples: z.number(),
  p50Ms: z.number(),
  p95Ms: z.number(),
  p99Ms: z.number(),
  maxMs: z.number(),
  /** Longest single probe that waited on a lock held by the migration. */
  maxBlockedMs: z.number(),
  errors: z.number(),
});

export const TableChange = z.object({
  relation: z.string(),
  rewritten: z.boolean().describe('relfilenode changed'),
  rowsBefore: z.number().nullable(),
  rowsAfter: z.number().nullable(),
  bytesBefore: z.number().nullable(),
  bytesAfter: z.number().nullable(),
});

export const RollbackProof = z.object({
  status: z.enum(['proven', 'mismatch', 'irreversible', 'failed', 'missing', 'not-run']),
  reason: z.string().optional(),
  durationMs: z.number().optional(),
  /** Readable schema diff (expected = before the migration, actual = after the rollback). */
  diff: z.string().optional(),
  reapply: z.enum(['matched', 'mismatch', 'failed', 'not-run']),
  reapplyDiff: z.string().optional(),
  /** Why the second apply failed (reapply = failed). */
  reapplyError: z.string().optional(),
});
export type RollbackProof = z.output<typeof RollbackProof>;

export const MigrationRehearsal = z.object({
  name: z.string(),
  mode: z.enum(['atomic', 'split']),
  status: z.enum(['applied', 'failed', 'not-run']),
  error: z.string().optional(),
  durationMs: z.number(),
  sampleIntervalMs: z.number(),
  samples: z.number(),
  touched: z.array(z.string()),
  locks: z.array(RelationLock),
  timeline: z.array(LockSpan),
  probes: z.array(ProbeStats),
  tables: z.array(TableChange),
  rollback: RollbackProof,
});

export const PlanSummary = z.object({
  ms: z.number(),
  shape: z.string().describe('node types and relations, indented'),
  totalCost: z.number(),
  sharedHit: z.number(),
  sharedRead: z.number(),
});

export const WorkloadResult = z.object({
  name: z.string(),
  before: PlanSummary.nullable(),
  after: PlanSummary.nullable(),
  planChanged: z.boolean(),
  ratio: z.number().nullable().describe('after / before execution time'),
  error: z.string().optional(),
});

export const RehearseData = z.object({
  snapshot: z.object({
    source: z.enum(['url', 'file', 'synthetic', 'masked']),
    /** Redacted: never a password. */
    label: z.string(),
    scale: z.number().optional(),
    cloneMs: z.number(),
    /** Template database the clone was made from (a cached synthetic or restored-file template, or the snapshot URL's database). */
    template: z.string().optional(),
    /** The cached template existed already: this rehearsal only cloned it. */
    reused: z.boolean().optional(),
    /** Name of the clone database (dropped at the end unless --keep). */
    clone: z.string().optional(),
    /** source masked: the attestation of the masked template (which backup, which masking policy, when). */
    masked: MaskedSnapshot.optional(),
  }),
  base: z.object({ ref: z.string().nullable(), applied: z.array(z.string()) }),
  pending: z.array(z.string()),
  migrations: z.array(MigrationRehearsal),
  workload: z.array(WorkloadResult),
});
export type RehearseData = z.output<typeof RehearseData>;
export type MigrationRehearsal = z.output<typeof MigrationRehearsal>;

/** Where `dbops snapshot mask` installed the masked template. */

/** What to rehearse, where, and with which policy (the flags of `dbops rehearse`). */
export interface RehearseRequest {
  migrationsDir: string;
  rollbacksDir: string;
  policiesDir: string;
  /** The lint report of the same run is read from here, to judge its lock findings against measurements. */
  reportsDir: string;
  base?: string | undefined;
  all: boolean;
  last?: number | undefined;
  snapshotUrl?: string | undefined;
  snapshotFile?: string | undefined;
  /** --snapshot masked: where the masked template lives (policies/masking.yaml snapshot, or --database-url). */
  masked?: MaskedSnapshotLocation | undefined;
  scale?: number | undefined;
  /** Server for synthetic and file snapshots (default: the embedded cluster). */
  databaseUrl?: string | undefined;
  keep: boolean;
  /** policies/migrations.yaml. */
  policies: MigrationsPolicy;
}
