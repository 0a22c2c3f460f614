import { z } from 'zod';
import { json, policiesOnly, reports } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

export const AuditReviewInputs = z.object({
  environment: z
    .string()
    .min(1)
    .optional()
    .describe(
      'environment of policies/environments.yaml whose evidence chain holds the segments (without it: the local chain in .dbops/evidence, environment local)',
    ),
  ...policiesOnly,
  ...reports,
  ...json,
  month: z
    .string()
    .regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'expected a month such as 2026-11')
    .optional()
    .describe('the month reviewed, YYYY-MM (default: the previous month, UTC)'),
  notify: z.boolean().default(false).describe('post the security events to the webhook of notifications.webhook_env of policies/audit.yaml'),
});
export type AuditReviewInputs = z.output<typeof AuditReviewInputs>;

export const spec = defineCommand({
  path: ['audit', 'review'],
  summary: "the monthly review of the audit trail an auditor samples (Markdown + JSON), with the month's security events",
  description:
    "Reads the month's audit segments (bundles of kind audit-log written by `dbops audit collect`) from the evidence chain and adds them up: DDL by user, role and privilege changes, statements on audited tables, failed logins by user and host, superuser sessions, and the days without a segment. Security events: a role or privilege change by a role not in pipeline_roles of policies/audit.yaml, failed_login_burst.count failed logins of one user within failed_login_burst.within, a superuser session. Writes reports/audit-review.json and reports/audit-review-YYYY-MM.md (each segment named by bundle and SHA-256, so a sample is found and verified with `dbops evidence verify`). --notify posts the security events, when there are any. Exit 0 whatever it finds (the events are warnings); 3 when the evidence storage cannot be read.",
  examples: ['dbops audit review', 'dbops audit review --month 2026-11 --environment production --notify'],
  inputs: AuditReviewInputs,
  report: 'audit-review',
});
