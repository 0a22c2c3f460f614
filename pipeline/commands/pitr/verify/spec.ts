import { defineCommand } from '../../../cli/contract.ts';
import { PitrInputs } from '../../flags.ts';

export const spec = defineCommand({
  path: ['pitr', 'verify'],
  summary: 'run pgbackrest verify and judge its report (it exits 0 on corruption); exit 1 on any problem; recorded for status, list and the gate',
  examples: ['dbops pitr verify'],
  inputs: PitrInputs,
});
