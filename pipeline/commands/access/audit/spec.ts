import { z } from 'zod';
import { databaseFlags } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

export const AccessAuditInputs = z.object(databaseFlags('to audit'));
export type AccessAuditInputs = z.output<typeof AccessAuditInputs>;

export const spec = defineCommand({
  path: ['access', 'audit'],
  summary: 'compare roles, memberships, privileges, default privileges, ownership and row security with policies/access.yaml; read-only',
  description:
    "Reads pg_roles, pg_auth_members, the privileges (aclexplode) on the database, the managed schemas and their tables, views, sequences and functions, the owner's default privileges (pg_default_acl), ownership, row security and SECURITY DEFINER functions, and compares them with policies/access.yaml: a declared role missing or with other attributes (SUPERUSER, CREATEROLE, BYPASSRLS never unless declared), a role the policy does not name, a membership missing or undeclared, a privilege missing or not granted by the policy (PUBLIC included: PostgreSQL's own defaults count), a default privilege that leaves the next migration's tables uncovered, an object not owned by the owner, row security other than declared, a SECURITY DEFINER function without a fixed search_path, a password that does not expire within password_max_age. Each finding has its severity and the exact statements that fix it (`dbops access apply` runs them). The bootstrap superuser and the predefined pg_* roles are shown, never drift. Objects of extensions are left out. Exit 1 on any drift; changes nothing.",
  examples: ['dbops access audit', 'dbops access audit --environment production', 'dbops access audit --database-url "$STAGING_DATABASE_URL" --json'],
  inputs: AccessAuditInputs,
  report: 'access-audit',
});
