import { z } from 'zod';
import { deployFlags } from '../flags.ts';
import { defineCommand } from '../../cli/contract.ts';

export const RollbackInputs = z.object({
  ...deployFlags,
  to: z.string().min(1).describe('the migration that stays applied: every applied migration newer than it is rolled back by its paired script, newest first'),
});
export type RollbackInputs = z.output<typeof RollbackInputs>;

export const spec = defineCommand({
  path: ['rollback'],
  summary: 'roll an environment back to a migration with the paired rollback scripts, behind the same gate, with an evidence bundle',
  description:
    'Behind the gate (approvals with four-eyes, a fresh verified backup, clean state, change window), runs rollbacks/<name>.sql of every applied migration newer than --to, newest first, each in one transaction with marking its _prisma_migrations row rolled back (as `prisma migrate resolve --rolled-back` would); the migrations become pending again. Refuses up front when one of them is irreversible (`-- dbops:irreversible`) and prints the restore command instead. Writes an evidence bundle.',
  examples: [
    'dbops rollback --environment production --to 20260915160000_audit_event_entity_index',
    'dbops rollback --environment staging --to 20260818134500_journal_entry_source --take-backup',
  ],
  inputs: RollbackInputs,
  report: 'rollback',
});
