import { z } from 'zod';
import { connection, json, policiesOnly, reports } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

export const EvidenceReconcileInputs = z.object({
  ...policiesOnly,
  ...reports,
  ...json,
  environment: z.string().min(1).describe('environment of policies/environments.yaml whose database is reconciled with its evidence'),
  schema: connection.schema,
});
export type EvidenceReconcileInputs = z.output<typeof EvidenceReconcileInputs>;

export const spec = defineCommand({
  path: ['evidence', 'reconcile'],
  summary: "match every change the database's _prisma_migrations records against the evidence bundles; name what changed outside the pipeline",
  description:
    'The periodic review auditors ask for (SOX program change, SOC 2 CC8.1 "detects changes"): every migration the environment\'s database records as applied, failed or rolled back must fall inside a deploy, rollback or interrupted-deploy bundle that did exactly that (times compared with 5 minutes of clock skew allowed). Anything else was changed outside the pipeline (prisma migrate deploy or dbops migrate deploy by hand, a resolve, a restore) and fails the command; changes older than the first bundle kept are listed as before the evidence. The chain is verified first. Read-only.',
  examples: ['dbops evidence reconcile --environment production', 'dbops evidence reconcile --environment production --json'],
  inputs: EvidenceReconcileInputs,
  report: 'evidence-reconcile',
});
