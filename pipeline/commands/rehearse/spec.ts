import { z } from 'zod';
import { dirs, json, reports, rollbacks, scope } from '../flags.ts';
import { defineCommand } from '../../cli/contract.ts';

export const RehearseInputs = z.object({
  ...dirs,
  ...rollbacks,
  ...reports,
  ...json,
  ...scope,
  snapshotUrl: z
    .string()
    .min(1)
    .optional()
    .describe('template database on a staging server to clone (CREATE DATABASE … TEMPLATE … STRATEGY FILE_COPY); default: $STAGING_SNAPSHOT_URL'),
  snapshotFile: z
    .string()
    .min(1)
    .optional()
    .describe(
      'pg_dump archive (-Fc) restored once into a template (reused while the file is unchanged) on the embedded cluster or --database-url, then cloned',
    ),
  snapshot: z
    .enum(['masked'])
    .optional()
    .describe(
      'masked: clone the masked snapshot `dbops snapshot mask` installed (policies/masking.yaml snapshot.location and snapshot.database, or the server of --database-url); the report and the deploy evidence name its backup, masking policy hash and time',
    ),
  scale: z.coerce.number().positive().optional().describe('synthetic dataset size when no snapshot is given (default: rehearse.scale in policy)'),
  databaseUrl: z
    .string()
    .min(1)
    .optional()
    .describe(
      'server that holds the synthetic, --snapshot-file or --snapshot masked template and the clones (default: the embedded cluster, never $DATABASE_URL); its own database is never changed',
    ),
  all: z.boolean().default(false).describe('rehearse every migration, from an empty database (no snapshot)'),
  keep: z.boolean().default(false).describe('keep the clone after the rehearsal (for debugging; its name is printed)'),
});
export type RehearseInputs = z.output<typeof RehearseInputs>;

export const spec = defineCommand({
  path: ['rehearse'],
  summary: 'apply the change to a clone of a staging snapshot, measure locks, duration and blocked traffic, prove the rollbacks',
  description:
    "Clones the snapshot (--snapshot-url, --snapshot-file or --snapshot masked, else $STAGING_SNAPSHOT_URL, else a cached synthetic AstroFinance dataset), applies the base ref's migrations, then for each pending migration: applies it while sampling pg_locks and probing the touched tables, applies its rollback and checks the schema fingerprint equals the one before, applies it again. Named workload queries (policies/workload.sql) are EXPLAIN ANALYZEd before and after. Budgets in policies/migrations.yaml turn measurements into findings; lock and rewrite findings of reports/lint.json are re-judged with them. The clone is dropped at the end, also after a failure or Ctrl-C (unless --keep). Exit 1 when a finding is an error.",
  examples: [
    'dbops rehearse',
    'dbops rehearse --snapshot-url "$STAGING_SNAPSHOT_URL"',
    'dbops rehearse --snapshot-file staging.dump --base origin/main',
    'dbops rehearse --snapshot masked --last 2',
    'dbops rehearse --last 2 --scale 0.05',
    'dbops rehearse --all --json',
  ],
  inputs: RehearseInputs,
  report: 'rehearse',
});
