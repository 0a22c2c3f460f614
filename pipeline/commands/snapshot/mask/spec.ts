import { z } from 'zod';
import { backupTarget, identity, json, policiesOnly, reports, selector } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

export const SnapshotMaskInputs = z.object({
  ...policiesOnly,
  ...reports,
  ...json,
  ...backupTarget,
  ...identity,
  from: z.string().min(1).optional().describe('id of the verified backup to mask (see dbops backup list)'),
  latest: z.boolean().default(false).describe('the newest verified backup (of --tier, when given)'),
  tier: selector.tier,
  scratchUrl: z
    .string()
    .min(1)
    .optional()
    .describe(
      'server to restore and mask on, through its maintenance database (default: a throwaway cluster dbops starts and deletes; the original data never reaches the snapshot server)',
    ),
  databaseUrl: z
    .string()
    .min(1)
    .optional()
    .describe('server that holds the masked template (default: snapshot.location of policies/masking.yaml: the embedded cluster, or an environment’s server)'),
});
export type SnapshotMaskInputs = z.output<typeof SnapshotMaskInputs>;

export const spec = defineCommand({
  path: ['snapshot', 'mask'],
  summary: 'mask a verified backup into the snapshot rehearsals clone, and prove no original value is left',
  description:
    'Restores a verified backup (--from ID, or --latest: the newest verified one) into a throwaway cluster, collects the original values of the masked and personal-looking columns, masks every table with one set-based UPDATE per table (the rules of policies/masking.yaml, keyed by the seed in $DBOPS_MASKING_SEED: the same seed gives the same values), then scans every text-like column of the database for any original value (whole values, words of free text, strings inside JSON) and runs every foreign key and the policy’s checks. Only a database that passes is loaded into the snapshot server, and it replaces the template (`snapshot.database`, default dbops_masked) atomically; `dbops rehearse --snapshot masked` clones it. Exit 1 when an original value remains or a check fails (the template is then unchanged).',
  examples: [
    'dbops snapshot mask --latest',
    'dbops snapshot mask --from 20261207T020003Z-daily-3f9a --target offsite',
    'dbops snapshot mask --latest --database-url "$STAGING_ADMIN_URL"',
  ],
  inputs: SnapshotMaskInputs,
  report: 'snapshot-mask',
});
