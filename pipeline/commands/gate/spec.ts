import { GateInputs } from '../flags.ts';
import { defineCommand } from '../../cli/contract.ts';

export const spec = defineCommand({
  path: ['gate'],
  summary: 'check everything a deploy of an environment needs: verified fresh backup, approvals with four-eyes, staging first, clean state, change window',
  description:
    "Judges the pending migrations of --environment against policies/environments.yaml and reports every reason it refuses, not only the first: a verified backup of this very database (system identifier + name) younger than backup.max_age (--take-backup takes and verifies a pre-deploy one first); inside GitHub Actions the run's environment approvals, counted only from users who are not authors of the pull requests behind the migrations, committers of the migration or rollback files, or the run's triggering actor (outside Actions an environment that needs approvals refuses unless --break-glass is given and allowed); every pending migration applied on the staging_first environment with the same checksum; no failed, modified-after-apply or missing migration; lint and rollback pairing of the pending set; an open change window or --outside-window with extra approvals. Changes nothing (except the backup --take-backup takes). Exit 1 when refused.",
  examples: [
    'dbops gate --environment production',
    'dbops gate --environment production --take-backup --json',
    'dbops gate --environment production --outside-window "INC-4711: ledger index needed before month-end close"',
    'dbops gate --environment production --break-glass "GitHub outage; CAB call 2026-11-24 02:10, approved by J. Doe"',
  ],
  inputs: GateInputs,
  report: 'gate',
});
