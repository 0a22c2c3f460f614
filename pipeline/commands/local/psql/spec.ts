import { z } from 'zod';
import { defineCommand } from '../../../cli/contract.ts';

export const LocalPsqlInputs = z.object({ args: z.array(z.string()).default([]), database: z.string().default('dbops').describe('database to open') });

export const spec = defineCommand({
  path: ['local', 'psql'],
  summary: 'open psql on the embedded cluster (arguments after -- go to psql)',
  examples: ['dbops local psql', 'dbops local psql -- -c "select count(*) from \\"JournalLine\\""'],
  inputs: LocalPsqlInputs,
  rest: { name: 'psql-args', description: 'arguments passed to psql' },
});
