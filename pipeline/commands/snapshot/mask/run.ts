import type { StepContext } from '../../../cli/contract.ts';
import { UsageError } from '../../../core/errors.ts';
import type { StepResult } from '../../../core/result.ts';
import { maskSnapshot, type SnapshotMaskData } from '../../../protection/masking/index.ts';
import { maskedSnapshotLocation } from '../../flags.ts';
import type { SnapshotMaskInputs } from './spec.ts';

export { renderSnapshotMask as render } from '../../../protection/masking/index.ts';

/** `dbops snapshot mask`: which backup, the policies and where the template goes; protection/masking does the rest. */
export async function run(input: SnapshotMaskInputs, ctx: StepContext): Promise<StepResult<SnapshotMaskData>> {
  if ((input.from === undefined) === !input.latest) {
    throw new UsageError(
      input.latest ? 'Give either --from ID or --latest, not both.' : 'Which backup? Give --from ID or --latest (the newest verified backup).',
      {
        hint: '`dbops backup list` shows the backups and which are verified.',
      },
    );
  }
  const { masking, backups } = await ctx.policies('masking', 'backups');
  const location = await maskedSnapshotLocation(input.databaseUrl, ctx);
  return maskSnapshot(
    {
      backupId: input.from,
      latest: input.latest,
      tier: input.tier,
      target: input.target,
      identityFile: input.identityFile,
      scratchUrl: input.scratchUrl,
      location,
      policy: masking.value,
      policyPath: masking.path,
      backups: backups.value,
    },
    ctx,
  );
}
