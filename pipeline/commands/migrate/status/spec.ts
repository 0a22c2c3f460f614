import { MigrateInputs } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

export const spec = defineCommand({
  path: ['migrate', 'status'],
  summary: 'show applied, pending, failed, rolled-back, modified and missing migrations (Prisma-compatible)',
  description:
    'Compares prisma/migrations with _prisma_migrations. Exit 1 when migrations are pending or failed or the histories diverge, as `prisma migrate status` does; modified-after-apply and missing-locally migrations are shown as warnings.',
  examples: ['dbops migrate status', 'dbops migrate status --database-url "$STAGING_DATABASE_URL" --json'],
  inputs: MigrateInputs,
});
