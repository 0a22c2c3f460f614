import { z } from 'zod';

/** One row of `dbops access encryption`: `info` is the plain statement about TDE, never a failure. */
export const EncryptionCheck = z.object({
  name: z.string(),
  status: z.enum(['pass', 'fail', 'not-checked', 'info']),
  detail: z.string(),
  /** Each problem of a failed row on its own (a pg_hba.conf line, a repository). */
  problems: z.array(z.string()).optional(),
  fix: z.string().optional(),
});
export type EncryptionCheck = z.output<typeof EncryptionCheck>;

/** The data of reports/access-encryption.json, validated when `dbops report` reads it back. */
export const AccessEncryptionData = z.object({
  database: z.string(),
  environment: z.string().nullable(),
  checks: z.array(EncryptionCheck),
  counts: z.object({ pass: z.number(), fail: z.number(), notChecked: z.number() }),
});
export type AccessEncryptionData = z.output<typeof AccessEncryptionData>;

const Finding = z.looseObject({
  kind: z.string(),
  severity: z.enum(['error', 'warning']),
  subject: z.string(),
  message: z.string(),
  fix: z.array(z.string()),
  prune: z.boolean(),
});
const Audit = z.looseObject({
  database: z.string(),
  user: z.string(),
  roles: z.array(z.object({ name: z.string(), status: z.string(), attributes: z.array(z.string()) })),
  findings: z.array(Finding),
  counts: z.object({ objects: z.number(), privileges: z.number() }),
});

/** The data of reports/access-audit.json and reports/access-apply.json. */
export const AccessAuditData = Audit.extend({ environment: z.string().nullable(), policy: z.string() });
export const AccessApplyData = z.looseObject({
  before: Audit,
  statements: z.array(z.string()),
  applied: z.boolean(),
  after: Audit.nullable(),
  remaining: z.array(Finding),
  environment: z.string().nullable(),
  policy: z.string(),
  dryRun: z.boolean(),
  prune: z.boolean(),
  /** With --environment: the gate's decision and the evidence bundle (none with --dry-run); absent from older reports. */
  gate: z
    .looseObject({ decision: z.enum(['allowed', 'refused']), checks: z.array(z.looseObject({ name: z.string(), status: z.string() })) })
    .nullable()
    .optional(),
  bundle: z.object({ environment: z.string(), sequence: z.number(), key: z.string(), sha256: z.string() }).nullable().optional(),
});

export const ACCESS_REPORT_DATA = {
  'access-audit': AccessAuditData,
  'access-apply': AccessApplyData,
  'access-encryption': AccessEncryptionData,
} as const;
