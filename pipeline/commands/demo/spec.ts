import { z } from 'zod';
import { dirs, json, prismaSchema, reports, rollbacks, scale } from '../flags.ts';
import { defineCommand } from '../../cli/contract.ts';

export const DemoInputs = z.object({
  ...dirs,
  ...rollbacks,
  ...reports,
  ...json,
  ...prismaSchema,
  scale: scale.default(0.02),
  last: z.coerce.number().int().positive().default(2).describe('how many of the newest migrations play the pull request'),
  labels: z
    .string()
    .default('allow-destructive')
    .describe('labels of the demo pull request (the newest AstroFinance migration drops a column, which its PR was allowed to with allow-destructive)'),
});

export const spec = defineCommand({
  path: ['demo'],
  summary: 'the whole pull request path on the embedded cluster: migrations, synthetic data, drift, lint, rehearsal, Markdown report',
  description:
    'Starts the embedded cluster, applies the AstroFinance migrations to its dbops database and seeds it, checks that schema.prisma, the migrations and that database agree (drift), then treats the newest --last migrations as a pull request: lint, rehearsal on a clone of a synthetic snapshot (rollbacks proven, locks measured) and the Markdown report, printed and written to reports/report.md. Never touches DATABASE_URL or STAGING_SNAPSHOT_URL.',
  examples: ['dbops demo', 'dbops demo --scale 0.1', 'dbops demo --last 3 --labels ""'],
  inputs: DemoInputs,
  reportsDirUse: 'writes',
});
