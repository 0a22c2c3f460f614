import { z } from 'zod';
import type { QueriesNotification } from './notify.ts';
import type { QueriesReview } from './review.ts';

/**
 * The data of reports/queries-snapshot.json and reports/queries-report.json, validated when `dbops report`
 * reads them back. The nested statement and index records are kept as written (passthrough): their fields are
 * those of compare.ts and indexes.ts.
 */
const Stored = z.object({ place: z.enum(['local', 'evidence']), location: z.string(), key: z.string(), sha256: z.string() });
const Info = z.object({ version: z.string(), dealloc: z.number().nullable(), statsReset: z.string().nullable(), max: z.number(), track: z.string() });
const Statement = z.looseObject({ queryid: z.string(), query: z.string(), calls: z.number(), totalMs: z.number(), meanMs: z.number() });

export const QueriesSnapshotData = z.object({
  database: z.string(),
  environment: z.string().nullable(),
  at: z.string(),
  label: z.string(),
  stored: z.array(Stored),
  statements: z.number(),
  tables: z.number(),
  indexes: z.number(),
  nodes: z.array(z.string()),
  unreachable: z.array(z.object({ node: z.string(), reason: z.string() })),
  statementsInfo: Info,
});
export type QueriesSnapshotData = z.output<typeof QueriesSnapshotData>;

export const QueriesReportData = z.object({
  database: z.string(),
  environment: z.string().nullable(),
  at: z.string(),
  snapshot: z.array(Stored),
  previous: z.object({ key: z.string(), at: z.string(), label: z.string(), sha256: z.string() }).nullable(),
  baseline: z.object({ key: z.string(), at: z.string() }).nullable(),
  sinceDeploy: z.number().nullable(),
  statementsInfo: Info,
  statements: z.object({
    from: z.object({ at: z.string(), label: z.string() }).nullable(),
    to: z.object({ at: z.string(), label: z.string() }),
    breaks: z.array(z.object({ kind: z.string(), message: z.string() })),
    totals: z.object({ statements: z.number(), calls: z.number(), totalMs: z.number() }),
    slow: z.array(Statement.extend({ newlySlow: z.boolean() })),
    regressions: z.array(
      Statement.extend({ before: z.object({ calls: z.number(), meanMs: z.number() }), ratio: z.number().nullable(), increaseMs: z.number() }),
    ),
    top: z.array(Statement),
    newStatements: z.array(Statement),
  }),
  indexes: z.object({
    findings: z.array(z.looseObject({ kind: z.string(), subject: z.string(), table: z.string(), message: z.string(), fix: z.string() })),
    notJudged: z.array(z.object({ index: z.string(), reason: z.string() })),
    nodes: z.array(z.string()),
  }),
  hypopg: z.boolean(),
  verdict: z.enum(['pass', 'warn']),
  evidence: z.object({ sequence: z.number(), key: z.string(), sha256: z.string() }).nullable(),
  notification: z.object({ status: z.string(), host: z.string().nullable(), reason: z.string().nullable() }).nullable(),
});
/** What `queries report` returns (the schema above checks a file read back against it). */
export type QueriesReportData = QueriesReview & {
  verdict: 'pass' | 'warn';
  evidence: { sequence: number; key: string; sha256: string } | null;
  notification: QueriesNotification | null;
};

export const QUERIES_REPORT_DATA = { 'queries-snapshot': QueriesSnapshotData, 'queries-report': QueriesReportData } as const;
