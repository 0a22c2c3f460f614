import { z } from 'zod';

export const RuleLevel = z.enum(['error', 'warning', 'notice', 'off']);

export const LintPolicy = z
  .strictObject({
    pg_version: z
      .string()
      .regex(/^\d+(\.\d+)?$/, 'expected a PostgreSQL version such as 15 or 15.4')
      .default('15')
      .describe('PostgreSQL version of production; squawk judges locks and rewrites for this version.'),
    base: z.string().min(1).default('origin/main').describe('Git ref a pull request is compared with when --base is not given.'),
    profile: z
      .enum(['prisma', 'squawk'])
      .default('prisma')
      .describe('prisma: curated levels for Prisma-generated SQL (signal, not noise); squawk: every squawk rule as a warning.'),
    rules: z
      .record(z.string().min(1), RuleLevel)
      .default({})
      .describe('Per-rule level, overriding the profile: squawk rule names (adding-field-with-default) or dbops rule ids (destructive/drop-column).'),
    destructive: z
      .strictObject({
        allow_labels: z
          .array(z.string().min(1))
          .default(['allow-destructive'])
          .describe(
            'A pull request carrying one of these labels may drop tables, columns or schemas, truncate, or narrow types (reported as warnings instead of errors).',
          ),
      })
      .prefault({})
      .describe('Statements that lose data.'),
  })
  .describe('How `dbops lint` checks migrations and rollbacks.');
export type LintPolicy = z.output<typeof LintPolicy>;
