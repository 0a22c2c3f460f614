import type { StepContext } from '../../../cli/contract.ts';
import { newMigration, renderNewMigration, type NewMigrationData } from '../../../change/authoring/index.ts';
import type { StepResult } from '../../../core/result.ts';
import type { MigrateNewInputs } from './spec.ts';

/** `dbops migrate new`: the policies lint and rehearse need, then change/authoring does the rest. */
export async function run(input: MigrateNewInputs, ctx: StepContext): Promise<StepResult<NewMigrationData>> {
  const { migrations, access, masking } = await ctx.policies('migrations', 'access', 'masking');
  // The coverage rule of the access domain (access/table-not-covered), as `dbops lint` passes it.
  const { uncoveredTables } = await import('../../../operations/access/index.ts');
  return newMigration(
    {
      ...input,
      policies: migrations.value,
      lint: { access: { policy: access.value, uncoveredTables }, masking: masking.path !== undefined ? masking.value : undefined },
    },
    ctx,
  );
}

export const render = (result: StepResult<NewMigrationData>, input: MigrateNewInputs): string => renderNewMigration(result, input);
