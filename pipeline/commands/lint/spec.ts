import { z } from 'zod';
import { connection, dirs, json, reports, rollbacks, scope } from '../flags.ts';
import { defineCommand } from '../../cli/contract.ts';

export const LintInputs = z.object({
  ...dirs,
  ...rollbacks,
  ...reports,
  ...json,
  ...scope,
  databaseUrl: z.string().min(1).optional().describe('also refuse edits to migrations applied on this database (lint connects only when given)'),
  schema: connection.schema,
  labels: z.string().default('').describe('comma-separated pull request labels; a label named in lint.destructive.allow_labels allows destructive statements'),
  only: z
    .string()
    .min(1)
    .optional()
    .describe('comma-separated migration names: lint exactly these and their rollbacks (the gate lints the pending set this way)'),
});
export type LintInputs = z.output<typeof LintInputs>;

export const spec = defineCommand({
  path: ['lint'],
  summary: 'lint the change: squawk with a Prisma profile, history integrity, rollback pairing, destructive statements, access',
  description:
    'Lints the migration and rollback files the change adds or edits (against --base, default lint.base = origin/main), every file with --all, or the newest N migrations with --last N. squawk runs once for all files, with the transaction assumption matching how the executor runs each file, and the prisma profile of policies/migrations.yaml. dbops rules: history integrity (no edit, rename or deletion of a migration on the base ref or, with --database-url, applied there; new migrations sort last), rollback pairing, destructive statements (errors unless --labels names an allowed label), access in migrations (GRANT/REVOKE, roles, default privileges, ownership: declare them in policies/access.yaml instead) and new tables policies/access.yaml does not cover. Exit 1 when a finding is an error.',
  examples: [
    'dbops lint',
    'dbops lint --base origin/release --labels allow-destructive',
    'dbops lint --all --json',
    'dbops lint --last 1',
    'dbops lint --database-url "$PRODUCTION_DATABASE_URL"',
  ],
  inputs: LintInputs,
  report: 'lint',
});
