import { z } from 'zod';
import { defineCommand } from '../../../cli/contract.ts';
import { DURATION_PATTERN } from '../../../core/duration.ts';
import { json, policiesOnly } from '../../flags.ts';

export const DrDrillInputs = z.object({
  ...policiesOnly,
  ...json,
  scenario: z
    .enum(['lost-primary', 'bad-migration', 'dropped-table', 'promote-replica'])
    .default('lost-primary')
    .describe(
      'the disaster: lost-primary (stop it, delete its data directory), bad-migration (a migration that destroys data, after a restore point), dropped-table, promote-replica (stop the primary hard, promote its streaming replica)',
    ),
  environment: z
    .string()
    .min(1)
    .optional()
    .describe(
      "restore this environment's database from its repository into scratch space (nothing of it is touched) and chain the bundle there; default: a scratch primary, environment local",
    ),
  workload: z
    .string()
    .regex(DURATION_PATTERN, 'expected a duration such as 5s')
    .default('5s')
    .describe('how long the scratch ledger workload and heartbeats run before the disaster'),
  keep: z.boolean().default(false).describe('keep the scratch folder (primary, repository, recovered cluster still running) for inspection'),
});
export type DrDrillInputs = z.output<typeof DrDrillInputs>;

export const spec = defineCommand({
  path: ['dr', 'drill'],
  summary: 'timed disaster-recovery drill: cause a disaster in scratch space, recover with pitr restore, measure RPO and RTO, write dr-drill evidence',
  description:
    "Builds its own scratch primary with its own pgBackRest stanza and repository (it never touches a cluster it did not create), writes ledger rows and heartbeats, causes the scenario's disaster there, recovers it with `dbops pitr restore` as the runbook does, and times each phase: detect, fetch, restore, WAL replay, verify, ready. RPO achieved: the newest heartbeat committed before the disaster minus the newest the recovered cluster holds; RTO: from the disaster to the first write on the recovered cluster. Both are compared with pitr.objectives, and a dr-drill bundle is appended to the environment's evidence chain (environment local, in the embedded cluster's folder, when no --environment is given). With --environment it restores that environment's database from its repository into scratch space instead. The promote-replica scenario recovers without a restore: it clones a streaming replica of the scratch primary (pg_basebackup -R), stops the primary hard, promotes the replica (pg_promote) and times build, replica, disaster, promote, verify; RPO is the primary's newest heartbeat minus the promoted replica's. Exit 1 when an objective is missed or the data did not come back.",
  examples: [
    'dbops dr drill',
    'dbops dr drill --scenario dropped-table',
    'dbops dr drill --scenario promote-replica',
    'dbops dr drill --environment production --json',
  ],
  inputs: DrDrillInputs,
});
