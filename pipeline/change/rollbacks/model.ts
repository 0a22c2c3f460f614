import { z } from 'zod';

/** How migrations and rollback scripts pair up: the data of `reports/rollbacks.json`. */
export const RollbackPair = z.object({
  migration: z.string().nullable(),
  rollback: z.string().nullable().describe('path of rollbacks/<name>.sql'),
  status: z.enum(['paired', 'irreversible', 'missing', 'empty', 'orphan']),
  reason: z.string().optional(),
});
export type RollbackPair = z.output<typeof RollbackPair>;
export const RollbacksData = z.object({ migrationsDir: z.string(), rollbacksDir: z.string(), pairs: z.array(RollbackPair) });
export type RollbacksData = z.output<typeof RollbacksData>;
