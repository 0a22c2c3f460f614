import { z } from 'zod';
import { EvidenceReconcileData } from '../../evidence/index.ts';

/** One object that differs between the schema the migrations build and the live database. */
export const DriftItemData = z.object({
  key: z.string(),
  kind: z.string(),
  /** missing: the migrations create it and the database lacks it; unexpected: the reverse; changed: both, defined differently. */
  change: z.enum(['missing', 'unexpected', 'changed']),
  /** Fingerprint line(s) on the expected side (several lines of one object joined by a newline); null when missing there. */
  expected: z.string().nullable(),
  /** The same on the live side. */
  actual: z.string().nullable(),
  /** Statements that bring the live database back to the expected state, in order. */
  restore: z.array(z.string()),
  /** What to do when no statement can be derived (a table dropped by hand, a column order). */
  manual: z.string().optional(),
});

/** What `dbops drift` compared: the data of `reports/drift.json`. */
export const DriftData = z.object({
  prismaSchema: z.string(),
  migrations: z.number(),
  /** schema.prisma against the schema the migrations build (Prisma's engine, `migrate diff`). */
  schema: z.object({
    agree: z.boolean(),
    /** Tables (models) the difference touches. */
    models: z.array(z.string()),
    /** Prisma's human summary of the difference, and the SQL a migration would need. */
    summary: z.string().nullable(),
    script: z.string().nullable(),
  }),
  /** The live database against the schema its applied migrations build; null without a database. */
  live: z
    .object({
      database: z.string(),
      schema: z.string(),
      applied: z.array(z.string()),
      /** Applied migrations the folder does not have: the expected schema cannot be built. */
      unknown: z.array(z.string()),
      agree: z.boolean(),
      items: z.array(DriftItemData),
      /** Differences left out by drift.ignore of the policy. */
      ignored: z.number(),
    })
    .nullable(),
  /** _prisma_migrations against the evidence bundles (`--environment` only): `evidence reconcile`'s data. */
  evidence: EvidenceReconcileData.nullable(),
  /** `--record`: the `drift` bundle the result was sealed into. */
  recorded: z.object({ sequence: z.number(), key: z.string() }).nullable().default(null),
  /** `--notify`: what became of the announcement (null without --notify). */
  notification: z
    .object({ status: z.enum(['sent', 'failed', 'not-configured', 'not-wanted']), host: z.string().nullable(), reason: z.string().nullable() })
    .nullable()
    .default(null),
});
export type DriftData = z.output<typeof DriftData>;
