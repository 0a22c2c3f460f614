import { DeployInputs } from '../flags.ts';
import { defineCommand } from '../../cli/contract.ts';

export const spec = defineCommand({
  path: ['deploy'],
  summary: 'deploy pending migrations to an environment: gate, executor, verification, automatic rollback on failure, evidence bundle',
  description:
    "Holds the database's deploy lock (a second deploy fails at once, or queues with --wait), runs the gate, applies the pending migrations with the executor (Prisma's advisory lock, lock timeouts and retries), verifies (status up to date, the policy's smoke queries), and writes a hash-chained evidence bundle (JSON + Markdown) to the evidence storage and <reports-dir>/evidence/. On failure, per on_failure: stop, or run the paired rollbacks of the migrations this deploy applied, newest first, marking them rolled back; when the schema is not back to its pre-deploy fingerprint, the exact restore command for the pre-deploy backup is printed. Exit 1 when refused or failed.",
  examples: [
    'dbops deploy --environment staging --take-backup',
    'dbops deploy --environment production',
    'dbops deploy --environment production --wait --wait-timeout 1h --json',
  ],
  inputs: DeployInputs,
  report: 'deploy',
});
