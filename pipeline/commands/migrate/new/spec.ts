import { z } from 'zod';
import { dirs, json, prismaSchema, reports, rollbacks } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

export const MigrateNewInputs = z.object({
  ...dirs,
  ...rollbacks,
  ...reports,
  ...json,
  ...prismaSchema,
  name: z.string().min(1).describe('what the migration does, e.g. add_invoice_due_date (made into the folder name as Prisma makes it)'),
  createOnly: z.boolean().default(false).describe('stop after writing the migration and its rollback (no lint, no rehearsal)'),
  databaseUrl: z
    .string()
    .min(1)
    .optional()
    .describe(
      'server for the throwaway databases and the rehearsal clone (default: the embedded cluster, never $DATABASE_URL); its own database is never changed',
    ),
  scale: z.coerce.number().positive().optional().describe('synthetic dataset size of the rehearsal (default: rehearse.scale in policy)'),
});
export type MigrateNewInputs = z.output<typeof MigrateNewInputs>;

export const spec = defineCommand({
  path: ['migrate', 'new'],
  summary: 'write the migration schema.prisma needs (as `prisma migrate dev --create-only`) and its rollback, then lint and rehearse both',
  description:
    "Offline, with Prisma's own schema engine compiled to WebAssembly (no native engine, no network): the migrations are replayed on throwaway databases of the embedded cluster (or --database-url's server) and compared with schema.prisma. The difference is written to prisma/migrations/<UTC timestamp>_<name>/migration.sql exactly as `prisma migrate dev --create-only` writes it, and the reverse difference to rollbacks/<timestamp>_<name>.sql. When the migration drops a column or a table, the rollback starts with `-- dbops:irreversible <reason>` for you to confirm (the data does not come back), and a dropped NOT NULL column comes back nullable. Then both files are linted and the migration is rehearsed on a clone (forward, rollback, forward), with the summary the pull request shows. With no schema change nothing is written and the exit is 0. Exit 1 when lint or the rehearsal reports an error.",
  examples: [
    'dbops migrate new --name add_invoice_due_date',
    'dbops migrate new --name drop_legacy_erp_id --create-only',
    'dbops migrate new --name add_customer_tax_id --scale 0.05 --json',
  ],
  inputs: MigrateNewInputs,
  report: 'migrate-new',
});
