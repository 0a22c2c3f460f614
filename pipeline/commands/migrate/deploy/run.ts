import { resolve } from 'node:path';
import type { StepContext } from '../../../cli/contract.ts';
import { deployMigrations, renderDeploy, type DeployData, checkLockfile, readMigrationsFolder } from '../../../change/migrations/index.ts';
import type { StepResult } from '../../../core/result.ts';
import type { MigrateInputs } from '../../flags.ts';

export type { DeployData };

/** `dbops migrate deploy`: the folder is checked before the policy and the database are touched. */
export async function run(input: MigrateInputs, ctx: StepContext): Promise<StepResult<DeployData>> {
  const folder = await readMigrationsFolder(resolve(input.migrationsDir), { willPlan: true });
  for (const w of folder.warnings) ctx.log.warn(w);
  checkLockfile(folder);
  const { migrations } = await ctx.policies('migrations');
  return deployMigrations({ migrationsDir: input.migrationsDir, folder, target: await ctx.database(), executor: migrations.value.executor }, ctx);
}

export const render = renderDeploy;
