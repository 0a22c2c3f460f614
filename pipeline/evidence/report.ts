import { z } from 'zod';

/** Report data of the evidence commands (reports/evidence-verify.json, reports/evidence-prune.json). */

export const ChainProblem = z.object({
  sequence: z.number().int().nullable(),
  key: z.string(),
  /** parse | schema | canonical | hash | key | environment | link | sequence | markdown | checkpoint | missing */
  check: z.string(),
  message: z.string(),
  /** For hash and link problems: the hash that should be there (recomputed) and the one found (stored). */
  expected: z.string().nullable().optional(),
  found: z.string().nullable().optional(),
});
export type ChainProblem = z.output<typeof ChainProblem>;

export const ChainReport = z.object({
  environment: z.string(),
  bundles: z.number().int(),
  firstSequence: z.number().int().nullable(),
  lastSequence: z.number().int().nullable(),
  /** SHA-256 of the newest bundle: anchor it elsewhere (job summary, ticket) to detect a rewritten tail. */
  head: z.string().nullable(),
  /**
   * What the first bundle links to when the chain does not start at 1: a retention checkpoint, or (in a
   * folder such as a workflow artifact, which holds only its run's bundles) a predecessor that is not there.
   */
  anchor: z
    .object({ sequence: z.number().int(), sha256: z.string(), via: z.enum(['checkpoint', 'outside']) })
    .nullable()
    .optional(),
  ok: z.boolean(),
  /** The first broken link, then any further problems. */
  problems: z.array(ChainProblem),
});

export type ChainReport = z.output<typeof ChainReport>;

export const EvidenceVerifyData = z.object({
  source: z.enum(['storage', 'directory']),
  location: z.string(),
  chains: z.array(ChainReport),
});
export type EvidenceVerifyData = z.output<typeof EvidenceVerifyData>;

export const EvidencePruneData = z.object({
  location: z.string(),
  retention: z.string(),
  dryRun: z.boolean(),
  environments: z.array(
    z.object({ environment: z.string(), deleted: z.array(z.string()), kept: z.number().int(), checkpointThrough: z.number().int().nullable() }),
  ),
});
export type EvidencePruneData = z.output<typeof EvidencePruneData>;

export const EvidenceReconcileData = z.object({
  environment: z.string(),
  database: z.string().describe('redacted URL'),
  chain: z.object({ ok: z.boolean(), bundles: z.number().int(), firstProblem: z.string().nullable() }),
  /** When the evidence begins (the oldest bundle kept): older changes cannot be judged. */
  evidenceStart: z.string().nullable(),
  rows: z.array(
    z.object({
      migration: z.string(),
      event: z.enum(['applied', 'failed', 'rolled-back']),
      at: z.string(),
      status: z.enum(['explained', 'outside', 'before-evidence']),
      bundle: z.string().nullable(),
    }),
  ),
});
export type EvidenceReconcileData = z.output<typeof EvidenceReconcileData>;

export const EVIDENCE_REPORT_DATA = {
  'evidence-verify': EvidenceVerifyData,
  'evidence-reconcile': EvidenceReconcileData,
  'evidence-prune': EvidencePruneData,
} as const;
