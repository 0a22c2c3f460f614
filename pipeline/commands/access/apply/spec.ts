import { z } from 'zod';
import { databaseFlags, gateFlags } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

export const AccessApplyInputs = z.object({
  ...databaseFlags('whose gate (approvals, change window) the change passes, with an evidence bundle'),
  dryRun: z.boolean().default(false).describe('print the statements without running them'),
  prune: z.boolean().default(false).describe('also act on roles the policy does not name: revoke what they hold and drop those that own nothing'),
  breakGlass: gateFlags.breakGlass,
  outsideWindow: gateFlags.outsideWindow,
});
export type AccessApplyInputs = z.output<typeof AccessApplyInputs>;

export const spec = defineCommand({
  path: ['access', 'apply'],
  summary: 'make the roles, memberships, privileges and ownership what policies/access.yaml declares, in one transaction',
  description:
    'Audits (as `dbops access audit`) and runs the fixes in one transaction, in order: CREATE ROLE (never with a password: set it yourself), ALTER ROLE, memberships, ownership, GRANT and REVOKE, default privileges, row security, the search_path of SECURITY DEFINER functions; then audits again and fails (exit 1) if anything still differs. Idempotent: a second run finds nothing to do. Roles the policy does not name are left alone unless --prune, which revokes what they hold and drops them; a role that owns objects is never dropped. --dry-run prints the statements and changes nothing. With --environment the change passes the gate like a migration (environment approvals with four-eyes over the commits to policies/access.yaml since its previous applied change, the change window; --break-glass and --outside-window as for deploys) and writes an access evidence bundle. Exit 1 when refused, when a statement fails (nothing is changed) or when the audit after it still finds drift.',
  examples: ['dbops access apply --dry-run', 'dbops access apply', 'dbops access apply --environment production', 'dbops access apply --prune --dry-run'],
  inputs: AccessApplyInputs,
  report: 'access-apply',
});
