import { z } from 'zod';
import { LocalInputs } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

export const LocalDownInputs = LocalInputs.extend({ destroy: z.boolean().default(false).describe('also delete the cluster and its data') });

export const spec = defineCommand({
  path: ['local', 'down'],
  summary: 'stop the embedded cluster (--destroy also deletes it)',
  examples: ['dbops local down', 'dbops local down --destroy'],
  inputs: LocalDownInputs,
});
