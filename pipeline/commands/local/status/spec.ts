import { defineCommand } from '../../../core/step.ts';
import { LocalInputs } from '../../flags.ts';

export const spec = defineCommand({
  path: ['local', 'status'],
  summary: 'show whether the embedded cluster exists and runs, its port, version and data directory',
  examples: ['dbops local status', 'dbops local status --json'],
  inputs: LocalInputs,
});
