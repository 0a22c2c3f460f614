import { resolve as resolvePath } from 'node:path';
import { RefusedError, UsageError } from '../../../core/errors.ts';
import { parseDuration } from '../../../core/duration.ts';
import type { ResolveInputs } from './spec.ts';
import { checksum, checkLockfile, readMigrationsFolder } from '../../../change/migrations/index.ts';
import type { StepContext } from '../../../cli/contract.ts';
import type { StepResult } from '../../../core/result.ts';
import {
  acquireAdvisoryLock,
  createMigrationsTable,
  ensureSchema,
  insertResolvedAppliedRow,
  isFailed,
  loadRows,
  markRolledBack,
  migrationsTableExists,
  openOwnSession,
} from '../../../change/migrations/index.ts';

export interface ResolveData {
  migration: string;
  action: 'applied' | 'rolled-back';
  /** Rows changed: failed rows marked rolled back, plus the new applied row. */
  rowsRolledBack: number;
  rowInserted: boolean;
  createdMigrationsTable: boolean;
}

const EXAMPLE = '(example: "20201207184859_initial_migration")';

/** `prisma migrate resolve` (spec §5): bookkeeping only, no migration SQL is ever run. */
export async function run(input: ResolveInputs, ctx: StepContext): Promise<StepResult<ResolveData>> {
  if ((input.applied === undefined) === (input.rolledBack === undefined)) {
    throw new UsageError(
      input.applied === undefined
        ? '--applied or --rolled-back must be part of the command, like: dbops migrate resolve --rolled-back 20201231000000_add_users'
        : 'Pass either --applied or --rolled-back, not both.',
    );
  }
  const folder = await readMigrationsFolder(resolvePath(input.migrationsDir));
  const { migrations: policy } = await ctx.policies('migrations');
  const lockTimeout = parseDuration(policy.value.executor.advisory_lock_timeout) ?? 10_000;

  if (input.applied !== undefined) {
    const name = input.applied;
    checkLockfile(folder);
    const local = folder.migrations.find((m) => m.name === name);
    if (local?.script === undefined) {
      throw new UsageError(
        `The migration ${name} could not be found. Please make sure that the migration exists, and that you included the whole name of the directory. ${EXAMPLE}`,
        {
          code: 'P3017',
          hint: `Local migrations are the folders of ${input.migrationsDir} that contain a migration.sql.`,
        },
      );
    }
    const target = await ctx.database();
    const s = await openOwnSession(target, ctx.log, 'dbops migrate resolve');
    try {
      await acquireAdvisoryLock(s, lockTimeout);
      await ensureSchema(s);
      // Baselining path: the table is created without Prisma's emptiness check.
      const created = !(await migrationsTableExists(s));
      if (created) await createMigrationsTable(s);
      const rows = (await loadRows(s)).filter((r) => r.migrationName === name);
      if (rows.some((r) => r.finishedAt !== null)) {
        throw new RefusedError(`The migration \`${name}\` is already recorded as applied in the database.`, {
          code: 'P3008',
          hint: 'Nothing to do; `dbops migrate status` shows the full state.',
        });
      }
      const failedIds = rows.filter(isFailed).map((r) => r.id);
      await s.client.query('BEGIN');
      await markRolledBack(s, failedIds);
      await insertResolvedAppliedRow(s, name, checksum(local.script));
      await s.client.query('COMMIT');
      return {
        verdict: 'pass',
        findings: [],
        data: { migration: name, action: 'applied', rowsRolledBack: failedIds.length, rowInserted: true, createdMigrationsTable: created },
      };
    } finally {
      await s.close();
    }
  }

  const name = input.rolledBack!;
  const target = await ctx.database();
  const s = await openOwnSession(target, ctx.log, 'dbops migrate resolve');
  try {
    await acquireAdvisoryLock(s, lockTimeout);
    if (!(await migrationsTableExists(s))) {
      throw new RefusedError(
        `There is no _prisma_migrations table in schema "${target.schema}": no migration was ever applied here, so none can be rolled back.`,
        {
          hint: 'Check --database-url and --schema.',
        },
      );
    }
    const rows = (await loadRows(s)).filter((r) => r.migrationName === name);
    if (rows.length === 0) {
      throw new UsageError(
        `Migration \`${name}\` cannot be rolled back because it was never applied to the database. Hint: did you pass in the whole migration name? ${EXAMPLE}`,
        { code: 'P3011' },
      );
    }
    if (rows.every((r) => r.finishedAt !== null)) {
      throw new RefusedError(`Migration \`${name}\` cannot be rolled back because it is not in a failed state.`, {
        code: 'P3012',
        hint: 'Only failed migrations can be marked rolled back. To revert an applied migration, run its rollback script and write a new forward migration (Prisma has no down state).',
      });
    }
    const failedIds = rows.filter(isFailed).map((r) => r.id);
    await markRolledBack(s, failedIds);
    return {
      verdict: 'pass',
      findings: [],
      data: { migration: name, action: 'rolled-back', rowsRolledBack: failedIds.length, rowInserted: false, createdMigrationsTable: false },
    };
  } finally {
    await s.close();
  }
}

export function render(result: StepResult<ResolveData>): string {
  const { migration, action } = result.data;
  return `\nMigration ${migration} marked as ${action === 'applied' ? 'applied' : 'rolled back'}.\n`;
}
