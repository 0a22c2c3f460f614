import { z } from 'zod';
import type { MaintenanceRun } from './run.ts';

/**
 * `data` of reports/maintain-run.json, for validation when `dbops report` reads it back (from a downloaded
 * artifact, possibly written by another version: objects are open, so additions of a later version pass).
 * The shape is MaintenanceRun's; the assignment at the end keeps the two from drifting apart.
 */

const Measurement = z.record(z.string(), z.union([z.number(), z.string(), z.boolean(), z.null()]));

const PlanData = z.object({
  at: z.string(),
  database: z.string(),
  pgstattuple: z.boolean(),
  scope: z.enum(['all', 'tables', 'indexes']),
  actions: z.array(
    z.object({
      kind: z.enum(['vacuum-analyze', 'analyze', 'reindex', 'drop-invalid']),
      target: z.string(),
      table: z.string(),
      reason: z.string(),
      method: z.enum(['pgstattuple', 'pgstatindex', 'statistics', 'estimated', 'catalog']),
      measurement: z.record(z.string(), z.number().nullable()),
      expectedGainBytes: z.number(),
      sql: z.string(),
    }),
  ),
  warnings: z.array(
    z.object({
      kind: z.enum(['xid-age', 'multixact-age', 'long-transaction', 'invalid-index', 'build-in-progress', 'unmeasured-index']),
      subject: z.string(),
      message: z.string(),
      measurement: z.record(z.string(), z.union([z.number(), z.string(), z.null()])),
    }),
  ),
  expectedGainBytes: z.number(),
  measured: z.object({ tables: z.number(), indexes: z.number() }),
  excluded: z.array(z.string()),
});

export const MaintenanceRunData = z.object({
  database: z.string(),
  dryRun: z.boolean(),
  plan: PlanData,
  outcomes: z.array(
    z.object({
      kind: z.enum(['vacuum-analyze', 'analyze', 'reindex', 'drop-invalid']),
      target: z.string(),
      table: z.string(),
      sql: z.string(),
      status: z.enum(['ok', 'skipped', 'failed']),
      detail: z.string(),
      before: Measurement,
      after: Measurement,
      reclaimedBytes: z.number(),
      attempts: z.number().int(),
      durationMs: z.number(),
    }),
  ),
  reclaimedBytes: z.number(),
  counts: z.object({ ok: z.number().int(), skipped: z.number().int(), failed: z.number().int() }),
  durationMs: z.number(),
  window: z
    .object({
      environment: z.string(),
      zone: z.string(),
      open: z.boolean(),
      window: z.string().optional(),
      closesAt: z.string().optional(),
      nextOpen: z.string().optional(),
      summary: z.string(),
    })
    .optional(),
  budget: z.object({ limit: z.string(), startedAt: z.string().nullable() }),
  stopped: z.object({ reason: z.string(), at: z.string(), skipped: z.number().int() }).optional(),
  throttle: z
    .object({
      costDelayMs: z.number(),
      costLimit: z.number(),
      effective: z.object({ vacuumCostDelay: z.string(), vacuumCostLimit: z.string() }),
    })
    .nullable(),
  pgstattuple: z.enum(['installed', 'created', 'would-create', 'absent']),
});
export type MaintenanceRunData = z.output<typeof MaintenanceRunData>;

export const MAINTENANCE_REPORT_DATA = { 'maintain-run': MaintenanceRunData } as const;

// Compile-time only: every MaintenanceRun the applier returns is valid report data.
export const assertRunIsReportData = (run: MaintenanceRun): MaintenanceRunData => run;
