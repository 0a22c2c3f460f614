import { defineCommand } from '../../../core/step.ts';
import { LocalInputs } from '../../flags.ts';

export const spec = defineCommand({
  path: ['local', 'up'],
  summary: 'create (first time) and start the embedded PostgreSQL cluster in .dbops/',
  examples: ['dbops local up'],
  inputs: LocalInputs,
});
