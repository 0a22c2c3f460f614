import { z } from 'zod';
import { backupTarget, json, policiesOnly, selector } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

export const BackupListInputs = z.object({ ...policiesOnly, ...json, ...backupTarget, tier: selector.tier });
export type BackupListInputs = z.output<typeof BackupListInputs>;

export const spec = defineCommand({
  path: ['backup', 'list'],
  summary: 'list the complete backups of a target with tier, age, size and verification status',
  examples: ['dbops backup list', 'dbops backup list --target offsite --json', 'dbops backup list --tier monthly'],
  inputs: BackupListInputs,
});
