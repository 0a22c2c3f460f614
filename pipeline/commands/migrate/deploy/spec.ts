import { MigrateInputs } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

export const spec = defineCommand({
  path: ['migrate', 'deploy'],
  summary: 'apply pending migrations (Prisma-compatible, atomic per file, lock timeouts with retry)',
  description:
    'Applies every pending migration in order under the advisory lock Prisma uses (72707369), recording each in _prisma_migrations exactly as `prisma migrate deploy` does. Each file runs as one transaction; files with statements that cannot run in a transaction (CREATE INDEX CONCURRENTLY, …) are split with the PostgreSQL parser. lock_timeout, statement_timeout and retries come from policies/migrations.yaml.',
  examples: ['dbops migrate deploy', 'DATABASE_URL=postgresql://app@db:5432/astro?schema=public dbops migrate deploy --json'],
  inputs: MigrateInputs,
});
