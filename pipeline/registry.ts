import { z } from 'zod';
import { defineCommand, type CommandSpec } from './core/step.ts';

// Flag groups shared by commands. Keys are camelCase here and --kebab-case on the command line.
const connection = {
  databaseUrl: z.string().min(1).optional().describe('PostgreSQL URL (default: $DATABASE_URL, else the embedded cluster in .dbops/)'),
  schema: z.string().min(1).optional().describe("schema to migrate (default: the URL's ?schema= parameter, else public)"),
};
const dirs = {
  migrationsDir: z.string().default('prisma/migrations').describe('Prisma migrations folder'),
  policiesDir: z.string().default('policies').describe('policy files folder'),
};
const json = { json: z.boolean().default(false).describe('print the result as JSON on stdout') };

export const MigrateInputs = z.object({ ...connection, ...dirs, ...json });
export type MigrateInputs = z.output<typeof MigrateInputs>;
export const ResolveInputs = MigrateInputs.extend({
  applied: z.string().min(1).optional().describe('record migration NAME as applied without running it (hotfix done by hand, or baselining)'),
  rolledBack: z.string().min(1).optional().describe('record the failed migration NAME as rolled back'),
});
export type ResolveInputs = z.output<typeof ResolveInputs>;
export const LocalInputs = z.object({ ...json });
export const LocalDownInputs = LocalInputs.extend({ destroy: z.boolean().default(false).describe('also delete the cluster and its data') });
export const LocalPsqlInputs = z.object({ args: z.array(z.string()).default([]), database: z.string().default('dbops').describe('database to open') });
export const SeedInputs = z.object({
  ...connection,
  ...json,
  scale: z.coerce.number().positive().default(1).describe('volume multiplier: 1 ≈ 1,000,000 journal lines'),
  seed: z.coerce.number().int().nonnegative().default(42).describe('random seed; the same seed and scale give the same data'),
});
export const DemoInputs = z.object({ ...dirs, ...json, scale: SeedInputs.shape.scale.default(0.02) });

/** Every command: metadata and flags here; the implementation is imported only when the command runs. */
export const commands: CommandSpec[] = [
  defineCommand({
    path: ['migrate', 'status'],
    summary: 'show applied, pending, failed, rolled-back, modified and missing migrations (Prisma-compatible)',
    description:
      'Compares prisma/migrations with _prisma_migrations. Exit 1 when migrations are pending or failed or the histories diverge, as `prisma migrate status` does; modified-after-apply and missing-locally migrations are shown as warnings.',
    examples: ['dbops migrate status', 'dbops migrate status --database-url "$STAGING_DATABASE_URL" --json'],
    inputs: MigrateInputs,
    load: () => import('./steps/migrate/status.ts'),
  }),
  defineCommand({
    path: ['migrate', 'deploy'],
    summary: 'apply pending migrations (Prisma-compatible, atomic per file, lock timeouts with retry)',
    description:
      'Applies every pending migration in order under the advisory lock Prisma uses (72707369), recording each in _prisma_migrations exactly as `prisma migrate deploy` does. Each file runs as one transaction; files with statements that cannot run in a transaction (CREATE INDEX CONCURRENTLY, …) are split with the PostgreSQL parser. lock_timeout, statement_timeout and retries come from policies/migrations.yaml.',
    examples: ['dbops migrate deploy', 'DATABASE_URL=postgresql://app@db:5432/astro?schema=public dbops migrate deploy --json'],
    inputs: MigrateInputs,
    load: () => import('./steps/migrate/deploy.ts'),
  }),
  defineCommand({
    path: ['migrate', 'resolve'],
    summary: 'mark a migration as applied or rolled back without running it (Prisma-compatible)',
    examples: ['dbops migrate resolve --rolled-back 20260301090000_add_invoices', 'dbops migrate resolve --applied 20260112093000_init'],
    inputs: ResolveInputs,
    load: () => import('./steps/migrate/resolve.ts'),
  }),
  defineCommand({
    path: ['local', 'up'],
    summary: 'create (first time) and start the embedded PostgreSQL cluster in .dbops/',
    examples: ['dbops local up'],
    inputs: LocalInputs,
    load: () => import('./steps/local/index.ts').then((m) => m.up),
  }),
  defineCommand({
    path: ['local', 'down'],
    summary: 'stop the embedded cluster (--destroy also deletes it)',
    examples: ['dbops local down', 'dbops local down --destroy'],
    inputs: LocalDownInputs,
    load: () => import('./steps/local/index.ts').then((m) => m.down),
  }),
  defineCommand({
    path: ['local', 'status'],
    summary: 'show whether the embedded cluster exists and runs, its port, version and data directory',
    examples: ['dbops local status', 'dbops local status --json'],
    inputs: LocalInputs,
    load: () => import('./steps/local/index.ts').then((m) => m.status),
  }),
  defineCommand({
    path: ['local', 'psql'],
    summary: 'open psql on the embedded cluster (arguments after -- go to psql)',
    examples: ['dbops local psql', 'dbops local psql -- -c "select count(*) from \\"JournalLine\\""'],
    inputs: LocalPsqlInputs,
    rest: { name: 'psql-args', description: 'arguments passed to psql' },
    load: () => import('./steps/local/index.ts').then((m) => m.psql),
  }),
  defineCommand({
    path: ['seed'],
    summary: 'load AstroFinance reference data (Prisma Client) and reproducible synthetic volume',
    examples: ['dbops seed', 'dbops seed --scale 0.1 --seed 7', 'dbops seed --database-url "$DATABASE_URL" --scale 2'],
    inputs: SeedInputs,
    load: () => import('./steps/seed/index.ts'),
  }),
  defineCommand({
    path: ['demo'],
    summary: 'start the embedded cluster, apply the AstroFinance migrations, seed a small dataset, show status',
    examples: ['dbops demo', 'dbops demo --scale 0.1'],
    inputs: DemoInputs,
    load: () => import('./steps/demo/index.ts'),
  }),
];
