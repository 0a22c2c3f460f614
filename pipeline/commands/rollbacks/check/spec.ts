import { z } from 'zod';
import { dirs, json, reports, rollbacks } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

export const RollbacksInputs = z.object({ ...dirs, ...rollbacks, ...reports, ...json });
export type RollbacksInputs = z.output<typeof RollbacksInputs>;

export const spec = defineCommand({
  path: ['rollbacks', 'check'],
  summary: 'check that every migration has rollbacks/<name>.sql, and every rollback a migration',
  examples: ['dbops rollbacks check', 'dbops rollbacks check --json'],
  inputs: RollbacksInputs,
  report: 'rollbacks',
});
