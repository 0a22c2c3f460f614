import { defineCommand } from '../../../cli/contract.ts';
import { PitrInputs } from '../../flags.ts';

export const spec = defineCommand({
  path: ['pitr', 'list'],
  summary: "list the repository's base backups (pgbackrest info) with their verification and the archived WAL range",
  examples: ['dbops pitr list', 'dbops pitr list --json'],
  inputs: PitrInputs,
});
