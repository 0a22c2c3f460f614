import { z } from 'zod';
import { databaseFlags } from '../../flags.ts';
import { defineCommand } from '../../../cli/contract.ts';

export const AuditCheckInputs = z.object(
  databaseFlags('whose database is checked (the evidence retention of policies/environments.yaml is checked in either case)'),
);
export type AuditCheckInputs = z.output<typeof AuditCheckInputs>;

export const spec = defineCommand({
  path: ['audit', 'check'],
  summary: "check pgaudit and the server's log against policies/audit.yaml; read-only",
  description:
    "Checks that pgaudit is in shared_preload_libraries and its extension created in the database (CREATE EXTENSION pgaudit); that pgaudit.log holds exactly the policy's classes (in any order); that pgaudit.log_parameter is off, so statement parameters (personal data) stay out of the log; pgaudit.log_catalog off and pgaudit.log_relation on (warnings); that pgaudit.role is object_audit.role, that role exists (NOLOGIN is enough) and holds exactly the declared privileges on the declared tables (a privilege more audits more than declared: a warning); that each role under roles has its own pgaudit.log (ALTER ROLE … SET, for every database or this one); log_connections and log_disconnections on with connections: true; logging_collector on and log_destination including jsonlog; and that evidence.retention of policies/environments.yaml keeps the collected segments at least as long as retention. Each row has the server's value, the wanted one and its fix (a setting for policies/postgresql.yaml and `dbops settings apply`, or the SQL). Exit 1 on a failed row; warnings alone exit 0. Changes nothing.",
  examples: ['dbops audit check', 'dbops audit check --environment production', 'dbops audit check --database-url "$STAGING_DATABASE_URL" --json'],
  inputs: AuditCheckInputs,
  report: 'audit-check',
});
