import { z } from 'zod';
import { VerdictSchema } from '../../core/result.ts';
import { LintData } from '../lint/index.ts';
import { RehearseData } from '../rehearsal/index.ts';

/** What `dbops migrate new` wrote and proved: the data of `reports/migrate-new.json`. */
export const NewMigrationData = z.object({
  /** The migration folder's name (`<UTC timestamp>_<name>`); null when schema.prisma matched the migrations. */
  migration: z.string().nullable(),
  prismaSchema: z.string(),
  migrationFile: z.string().nullable(),
  rollbackFile: z.string().nullable(),
  /** The `-- dbops:irreversible` reason pre-filled in the rollback (the migration drops data). */
  irreversible: z.string().nullable(),
  /** Columns the rollback re-adds nullable although they were NOT NULL. */
  nullable: z.array(z.string()),
  /** Statements of the generated migration (Prisma's `-- Step` blocks). */
  statements: z.number(),
  /** The schema engine build that generated the SQL (prisma-engines commit). */
  engine: z.string(),
  createOnly: z.boolean(),
  lint: z.object({ verdict: VerdictSchema, data: LintData }).nullable(),
  rehearsal: z.object({ verdict: VerdictSchema, data: RehearseData }).nullable(),
});
export type NewMigrationData = z.output<typeof NewMigrationData>;
