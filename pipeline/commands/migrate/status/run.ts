import { resolve } from 'node:path';
import type { StepContext } from '../../../cli/contract.ts';
import { checkLockfile, readMigrationsFolder, migrationStatus, renderStatus, type StatusData } from '../../../change/migrations/index.ts';
import type { StepResult } from '../../../core/result.ts';
import type { MigrateInputs } from '../../flags.ts';

/** `dbops migrate status`: read-only; the folder is checked before the database is. */
export async function run(input: MigrateInputs, ctx: StepContext): Promise<StepResult<StatusData>> {
  const folder = await readMigrationsFolder(resolve(input.migrationsDir));
  for (const w of folder.warnings) ctx.log.warn(w);
  checkLockfile(folder);
  return migrationStatus({ migrationsDir: input.migrationsDir, folder, target: await ctx.database() }, ctx);
}

export const render = renderStatus;
