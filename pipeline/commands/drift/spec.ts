import { z } from 'zod';
import { connection, dirs, json, prismaSchema, reports } from '../flags.ts';
import { defineCommand } from '../../cli/contract.ts';

export const DriftInputs = z.object({
  ...dirs,
  ...reports,
  ...json,
  ...prismaSchema,
  databaseUrl: z
    .string()
    .min(1)
    .optional()
    .describe('the live database to compare (default: $DATABASE_URL; neither: only schema.prisma against the migrations)'),
  environment: z
    .string()
    .min(1)
    .optional()
    .describe(
      'environment of policies/environments.yaml: its database (URL from the variable the policy names) and its evidence bundles; not with --database-url',
    ),
  schema: connection.schema,
  record: z
    .boolean()
    .default(false)
    .describe("seal the result into the environment's evidence chain as a `drift` bundle (with --environment; the monthly `audit review` lists them)"),
  notify: z.boolean().default(false).describe('post to the webhook of drift.notifications.webhook_env (policies/migrations.yaml) when drift is found'),
  scratchUrl: z
    .string()
    .min(1)
    .optional()
    .describe('server for the throwaway databases the expected schema is built on (default: the embedded cluster); its own database is never changed'),
});
export type DriftInputs = z.output<typeof DriftInputs>;

export const spec = defineCommand({
  path: ['drift'],
  summary: 'compare schema.prisma, the migrations, the live database and its evidence; name every difference with the SQL that restores it',
  description:
    "Three comparisons, each a finding with a readable difference. (1) schema.prisma against the schema the migrations build, with Prisma's own schema engine (WebAssembly, offline) on throwaway databases of the embedded cluster: a model changed without a migration. (2) With a database (--database-url, $DATABASE_URL or --environment): its schema against the one its applied migrations build on a throwaway database, compared by schema fingerprint with owners and grants left out (`dbops access audit` judges those); every object dropped, added or changed by hand is named with the statements that restore the expected state. drift.ignore in policies/migrations.yaml leaves out what the application does not own (by default extensions and the dbops schema). (3) With --environment: _prisma_migrations against the evidence bundles, as `dbops evidence reconcile`. The live database is only read. Exit 1 on drift.",
  examples: ['dbops drift', 'dbops drift --database-url "$STAGING_DATABASE_URL"', 'dbops drift --environment production --notify'],
  inputs: DriftInputs,
  report: 'drift',
});
