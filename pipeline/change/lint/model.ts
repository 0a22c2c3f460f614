import { z } from 'zod';

/** What `dbops lint` found out, beside its findings: the data of `reports/lint.json`. */
export const LintFile = z.object({
  path: z.string(),
  kind: z.enum(['migration', 'rollback']),
  migration: z.string(),
  /** How the executor runs it, which decides squawk's transaction assumption. */
  mode: z.enum(['atomic', 'split']).nullable(),
  change: z.enum(['added', 'modified', 'renamed', 'unchanged']),
});

export const LintData = z.object({
  scope: z.enum(['changed', 'all', 'last', 'only']),
  base: z.string().nullable(),
  pgVersion: z.string(),
  profile: z.string(),
  files: z.array(LintFile),
  counts: z.object({ error: z.number(), warning: z.number(), notice: z.number() }),
  /** Findings turned off by the profile or policy (not shown), for the noise measurement. */
  suppressed: z.number(),
  irreversible: z.array(z.object({ migration: z.string(), reason: z.string() })),
  squawk: z
    .object({
      version: z.string(),
      durationMs: z.number(),
      invocations: z.number().int().optional().describe('squawk processes started: one per transaction assumption in use, never one per file'),
      excluded: z
        .array(z.string())
        .optional()
        .describe('squawk rules not run at all because the profile or policy turns them off for every file of the run (their findings are not in suppressed)'),
    })
    .nullable(),
});
export type LintData = z.output<typeof LintData>;
