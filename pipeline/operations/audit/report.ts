import { z } from 'zod';

/** One row of `dbops audit check`: what the server has, what policies/audit.yaml wants, and the fix. */
export const AuditCheckRow = z.object({
  name: z.string(),
  status: z.enum(['pass', 'fail', 'warn']),
  /** The server's value; null when it has none (pgaudit not loaded, a role or table missing). */
  server: z.string().nullable(),
  wanted: z.string(),
  detail: z.string().optional(),
  fix: z.string().optional(),
});
export type AuditCheckRow = z.output<typeof AuditCheckRow>;

/** The data of reports/audit-check.json, validated when `dbops report` reads it back. */
export const AuditCheckData = z.object({
  database: z.string(),
  environment: z.string().nullable(),
  /** policies/audit.yaml, or null when the file is absent and its defaults were checked. */
  policy: z.string().nullable(),
  checks: z.array(AuditCheckRow),
  counts: z.object({ pass: z.number(), fail: z.number(), warn: z.number() }),
});
export type AuditCheckData = z.output<typeof AuditCheckData>;

/** The data of reports/audit-collect.json: the segments stored (their lines are in the evidence bundles). */
export const AuditCollectData = z.looseObject({
  database: z.string(),
  logDir: z.string(),
  environment: z.string(),
  from: z.object({ file: z.string(), offset: z.number() }).nullable(),
  position: z.object({ file: z.string(), offset: z.number() }).nullable(),
  segments: z.array(z.looseObject({ day: z.string(), lines: z.number(), sequence: z.number(), key: z.string() })),
});

/** The data of reports/audit-review.json (the review itself, and where its Markdown page was written). */
export const AuditReviewData = z.looseObject({
  month: z.string(),
  environment: z.string(),
  segments: z.array(z.object({ day: z.string(), sequence: z.number(), sha256: z.string(), database: z.string(), lines: z.number() })),
  daysWithout: z.array(z.string()),
  totals: z.record(z.string(), z.number()),
  events: z.array(z.object({ kind: z.string(), at: z.string(), user: z.string(), message: z.string(), sequence: z.number() })),
  markdown: z.string(),
});

export const AUDIT_REPORT_DATA = {
  'audit-check': AuditCheckData,
  'audit-collect': AuditCollectData,
  'audit-review': AuditReviewData,
};
