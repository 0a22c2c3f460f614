import { LocalInputs } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

export const spec = defineCommand({
  path: ['local', 'up'],
  summary: 'create (first time) and start the embedded PostgreSQL cluster in .dbops/',
  examples: ['dbops local up'],
  inputs: LocalInputs,
});
