import { z } from 'zod';
import { json, reports } from '../flags.ts';
import { defineCommand } from '../../cli/contract.ts';

export const ReportInputs = z.object({
  ...reports,
  ...json,
  format: z
    .enum(['terminal', 'markdown', 'sarif'])
    .default('terminal')
    .describe('terminal, markdown (PR comment / job summary) or sarif (2.1.0, for code scanning)'),
  output: z.string().min(1).optional().describe('write the rendering to this file instead of stdout'),
  // Optional rather than default(false): unset means "publish when running inside GitHub Actions".
  github: z
    .boolean()
    .optional()
    .describe(
      'publish to GitHub: sticky PR comment, annotations, job summary, step outputs, <reports-dir>/dbops.sarif (default inside GitHub Actions unless --output is given)',
    ),
});
export type ReportInputs = z.output<typeof ReportInputs>;

export const spec = defineCommand({
  path: ['report'],
  summary: 'render reports/*.json for a terminal, as Markdown or SARIF, or publish them to GitHub',
  examples: [
    'dbops report',
    'dbops report --format markdown --output reports/summary.md',
    'dbops report --format sarif --output reports/dbops.sarif',
    'dbops report --github',
  ],
  inputs: ReportInputs,
  reportsDirUse: 'reads',
});
