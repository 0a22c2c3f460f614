import { LocalInputs } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

export const spec = defineCommand({
  path: ['local', 'status'],
  summary: 'show whether the embedded cluster exists and runs, its port, version and data directory',
  examples: ['dbops local status', 'dbops local status --json'],
  inputs: LocalInputs,
});
