import { z } from 'zod';
import { RETENTION } from './environments.ts';

/** pgaudit's session classes (pgaudit.log). */
export const AUDIT_CLASSES = ['read', 'write', 'function', 'role', 'ddl', 'misc', 'misc_set', 'all'] as const;

const RoleName = z.string().min(1).max(63);

export const AuditPolicy = z
  .strictObject({
    version: z.literal(1).describe('Policy file format version.'),
    classes: z
      .array(z.enum(AUDIT_CLASSES))
      .min(1)
      .default(['role', 'ddl'])
      .describe(
        "pgaudit.log: the classes of statements audited for every session. role (GRANT, REVOKE, CREATE/ALTER/DROP ROLE) and ddl are the strategy's sensitive operations; read and write for every session would log every query.",
      ),
    object_audit: z
      .strictObject({
        role: RoleName.default('audit_objects').describe(
          'pgaudit.role: the role whose privileges select what is audited by object. It needs no login; granting it SELECT, INSERT, UPDATE or DELETE on a table audits those statements on that table by anyone.',
        ),
        tables: z
          .array(
            z.strictObject({
              schema: z.string().min(1).default('public'),
              table: z.string().min(1),
              privileges: z
                .array(z.enum(['SELECT', 'INSERT', 'UPDATE', 'DELETE']))
                .min(1)
                .default(['SELECT', 'INSERT', 'UPDATE', 'DELETE'])
                .describe('The statements audited on it.'),
            }),
          )
          .default([])
          .describe('Tables whose reads and writes are audited whoever runs them (personal or card data).'),
      })
      .prefault({})
      .describe('Object-level auditing through the auditor role.'),
    roles: z
      .record(RoleName, z.strictObject({ classes: z.array(z.enum(AUDIT_CLASSES)).min(1).describe("pgaudit.log for this role's sessions (ALTER ROLE … SET).") }))
      .default({})
      .describe('Per-role classes, e.g. all for migrator. Settings are not inherited through role membership: each login role that needs more is named here.'),
    pipeline_roles: z
      .array(RoleName)
      .default(['migrator'])
      .describe(
        'Roles whose role and privilege changes are the pipeline’s own (migrations, `dbops access apply`): anyone else’s is a security event of the monthly review.',
      ),
    failed_login_burst: z
      .strictObject({
        count: z.number().int().min(1).default(5).describe('This many failed logins of one user …'),
        within: z
          .string()
          .regex(/^\d+(ms|s|min|h)$/, 'expected a duration such as 10min')
          .default('10min')
          .describe('… within this long are a burst, a security event of the monthly review.'),
      })
      .prefault({})
      .describe('When failed logins become a security event.'),
    notifications: z
      .strictObject({
        webhook_env: z
          .string()
          .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name such as DBOPS_AUDIT_WEBHOOK')
          .default('DBOPS_AUDIT_WEBHOOK')
          .describe('Environment variable holding the webhook URL (a secret) `audit review --notify` posts the security events to. Unset: nothing is sent.'),
      })
      .prefault({})
      .describe('Where the security events of a review are announced.'),
    connections: z.boolean().default(true).describe('log_connections and log_disconnections: who connected when, and failed logins (SQLSTATE 28P01).'),
    log_format: z
      .enum(['jsonlog', 'csvlog'])
      .default('jsonlog')
      .describe(
        'log_destination the collector reads: jsonlog (PostgreSQL 15+, one JSON object per line, `.json` files) or csvlog (`.csv` files, a record may span lines); both carry the user, database, session and SQLSTATE of every line.',
      ),
    retention: z
      .string()
      .regex(RETENTION, 'expected a retention such as 12mo, 400d or 7y')
      .default('12mo')
      .describe(
        'How long the collected audit segments must be kept (PCI DSS 10.5.1: 12 months). They are bundles of the evidence chain and go with evidence.retention of policies/environments.yaml: `dbops audit check` fails when that is shorter.',
      ),
  })
  .describe('policies/audit.yaml: what pgaudit audits and how the trail is kept (`dbops audit check|collect`).');
export type AuditPolicy = z.output<typeof AuditPolicy>;
