import { z } from 'zod';
import { backupTarget, connection, json, policiesOnly, selector } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

export const BackupListInputs = z.object({
  ...policiesOnly,
  ...json,
  ...backupTarget,
  tier: selector.tier,
  // Only for the physical tier (pitr: in policies/backups.yaml): the logical tier needs no database.
  databaseUrl: connection.databaseUrl,
});
export type BackupListInputs = z.output<typeof BackupListInputs>;

export const spec = defineCommand({
  path: ['backup', 'list'],
  summary: 'list the complete backups of a target with tier, age, size and verification status, and the physical (PITR) backups when pitr: is configured',
  description:
    'The logical tier: the complete backups of one storage target (the primary unless --target), oldest first. When policies/backups.yaml has a pitr: section, also the physical tier, as `dbops pitr list` gives it for the database (--database-url, else DATABASE_URL, else the embedded cluster, which is never created or started for it): a reason replaces it when PITR is not set up or pgBackRest cannot list it, and the logical list stands.',
  examples: [
    'dbops backup list',
    'dbops backup list --target offsite --json',
    'dbops backup list --tier monthly',
    'dbops backup list --database-url "$DATABASE_URL"',
  ],
  inputs: BackupListInputs,
});
