import { z } from 'zod';
import { Duration } from './duration.ts';
import { ENVIRONMENT_NAME } from './environments.ts';

/** A role name as PostgreSQL stores it (case kept: declared names are compared exactly, quoted in statements). */
const RoleName = z
  .string()
  .min(1)
  .max(63)
  .refine((n) => !n.startsWith('pg_'), 'names starting with pg_ are reserved for the predefined roles');

/** The role attributes a policy may grant. Anything a role has that is not declared here is drift. */
export const ROLE_ATTRIBUTES = ['superuser', 'createdb', 'createrole', 'replication', 'bypassrls'] as const;
export type RoleAttribute = (typeof ROLE_ATTRIBUTES)[number];

/** Privileges by object kind, as GRANT spells them. */
export const PRIVILEGES = {
  database: ['CONNECT', 'CREATE', 'TEMPORARY'],
  schema: ['USAGE', 'CREATE'],
  tables: ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'],
  sequences: ['USAGE', 'SELECT', 'UPDATE'],
  functions: ['EXECUTE'],
} as const;
export type ObjectKind = keyof typeof PRIVILEGES;

/** `*` and `?` as in a shell: `Journal*`, `*_log`. */
const Pattern = z.string().min(1).max(127);

const Grant = z
  .strictObject({
    on: z
      .enum(['database', 'schema', 'tables', 'sequences', 'functions'])
      .describe('What the privileges are on: the database, a schema, or the tables, sequences or functions of a schema.'),
    schema: z.string().min(1).optional().describe('The schema (for schema, tables, sequences, functions); one of `schemas`.'),
    objects: z
      .array(Pattern)
      .min(1)
      .default(['*'])
      .describe(
        'Names or patterns (`*`, `?`) of the tables, sequences or functions; default every one. A grant on every object (`*`) is also the owner’s default privilege in that schema, so new objects are covered when they are created.',
      ),
    except: z.array(Pattern).default([]).describe('Names or patterns left out, e.g. `_prisma_migrations`.'),
    privileges: z.array(z.string().min(1)).min(1).describe('Privileges as GRANT spells them (SELECT, INSERT, …; ALL for every privilege of the kind).'),
  })
  .superRefine((g, ctx) => {
    const allowed: readonly string[] = PRIVILEGES[g.on];
    for (const p of g.privileges)
      if (p.toUpperCase() !== 'ALL' && !allowed.includes(p.toUpperCase()))
        ctx.addIssue({ code: 'custom', path: ['privileges'], message: `${p} is not a privilege on ${g.on} (${allowed.join(', ')}, or ALL)` });
    if (g.on !== 'database' && g.schema === undefined) ctx.addIssue({ code: 'custom', path: ['schema'], message: `a grant on ${g.on} names its schema` });
    if (g.on === 'database' && g.schema !== undefined) ctx.addIssue({ code: 'custom', path: ['schema'], message: 'a grant on the database names no schema' });
  })
  .describe('Privileges a role holds.');
export type Grant = z.output<typeof Grant>;

export const RolePolicy = z
  .strictObject({
    login: z.boolean().default(false).describe('Whether the role can log in (LOGIN); group roles cannot.'),
    attributes: z
      .array(z.enum(ROLE_ATTRIBUTES))
      .default([])
      .describe('Role attributes it may have (SUPERUSER, CREATEDB, CREATEROLE, REPLICATION, BYPASSRLS); every other one is drift.'),
    inherit: z.boolean().default(true).describe('INHERIT: whether it uses the privileges of the roles it is a member of without SET ROLE.'),
    connection_limit: z.number().int().min(-1).default(-1).describe('CONNECTION LIMIT; -1 = none.'),
    password_max_age: Duration.optional().describe(
      'For a login role: its password must expire (VALID UNTIL) within this long from now, e.g. 90d. dbops never sets a password; the fix sets VALID UNTIL only.',
    ),
    member_of: z
      .array(z.string().min(1))
      .default([])
      .describe('Roles it is a member of (GRANT <role> TO <this>): roles of this policy, or predefined ones such as pg_monitor or pg_read_all_stats.'),
    grants: z.array(Grant).default([]).describe('Its privileges; every privilege it holds on the managed schemas that is not declared here is drift.'),
    description: z.string().optional().describe('What the role is for (shown in the audit).'),
  })
  .describe('One role.');
export type RolePolicy = z.output<typeof RolePolicy>;

export const AccessPolicy = z
  .strictObject({
    version: z.literal(1).describe('Policy file format version.'),
    owner: RoleName.optional().describe(
      'The role that owns every table, sequence, view and function of the managed schemas (the migrations run as it). Required once roles are declared.',
    ),
    schemas: z
      .array(z.string().min(1))
      .min(1)
      .default(['public'])
      .describe('The schemas whose objects are managed: their grants, ownership and default privileges.'),
    roles: z.record(RoleName, RolePolicy).default({}).describe('Every role the database should have, by name; the policy never holds a password.'),
    public: z
      .strictObject({ grants: z.array(Grant).default([]).describe('Privileges PUBLIC (every role) may hold; default none.') })
      .prefault({})
      .describe(
        'PUBLIC, the pseudo-role every role belongs to. PostgreSQL grants it CONNECT and TEMPORARY on databases, USAGE on the public schema and EXECUTE on functions by default: each one not declared here is drift.',
      ),
    row_security: z
      .array(z.strictObject({ schema: z.string().min(1).default('public'), table: z.string().min(1), force: z.boolean().default(false) }))
      .default([])
      .describe('Tables whose row-level security must be enabled (and forced on their owner with force: true); row security on any other table is drift.'),
    ignore_roles: z
      .array(Pattern)
      .default([])
      .describe(
        'Roles the audit leaves alone (names or patterns): e.g. a cloud provider’s administration roles. The bootstrap superuser and the predefined pg_* roles are always left alone.',
      ),
    encryption: z
      .strictObject({
        volume: z
          .record(
            z.string().regex(ENVIRONMENT_NAME),
            z.strictObject({
              encrypted: z.boolean().describe('Whether the data volume of this environment is encrypted at rest.'),
              by: z.string().min(1).describe('What encrypts it, e.g. "AWS EBS, KMS key alias/astro-prod-db".'),
              attested_by: z.string().min(1).describe('Who checked it.'),
              attested_at: z
                .string()
                .regex(/^\d{4}-\d{2}-\d{2}$/, 'expected a date such as 2026-11-30')
                .describe('When it was last checked (YYYY-MM-DD).'),
              max_age: Duration.default('90d').describe('An attestation older than this fails the check.'),
            }),
          )
          .default({})
          .describe(
            'PostgreSQL 15 has no transparent data encryption: encryption at rest is the volume’s. dbops cannot see it from the database, so each environment declares who attested it and when; `dbops access encryption --environment` fails without a fresh attestation.',
          ),
      })
      .prefault({})
      .describe('Encryption at rest, as attested.'),
  })
  .superRefine((p, ctx) => {
    for (const [name, role] of Object.entries(p.roles)) {
      for (const [i, m] of role.member_of.entries())
        if (!(m in p.roles) && !m.startsWith('pg_'))
          ctx.addIssue({ code: 'custom', path: ['roles', name, 'member_of', i], message: `${m} is neither a role of this policy nor a predefined pg_* role` });
      for (const [i, g] of role.grants.entries())
        if (g.schema !== undefined && !p.schemas.includes(g.schema))
          ctx.addIssue({
            code: 'custom',
            path: ['roles', name, 'grants', i, 'schema'],
            message: `${g.schema} is not one of schemas (${p.schemas.join(', ')})`,
          });
    }
    if (Object.keys(p.roles).length > 0 && p.owner === undefined)
      ctx.addIssue({ code: 'custom', path: ['owner'], message: 'name the role that owns the objects' });
    else if (p.owner !== undefined && !(p.owner in p.roles))
      ctx.addIssue({ code: 'custom', path: ['owner'], message: `the owner ${p.owner} must be declared under roles` });
  })
  .describe('policies/access.yaml: the roles, their privileges and the ownership the database should have (`dbops access audit|apply|encryption`).');
export type AccessPolicy = z.output<typeof AccessPolicy>;

const compiled = new Map<string, RegExp>();

/** `*` and `?` patterns as a RegExp over a whole name, compiled once (an audit asks for every object and grant). */
export function patternRegExp(pattern: string): RegExp {
  let re = compiled.get(pattern);
  if (!re) {
    const body = pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.');
    re = new RegExp(`^${body}$`);
    compiled.set(pattern, re);
  }
  return re;
}

/** Whether a grant covers the object `name` of its schema. */
export const grantCovers = (g: Pick<Grant, 'objects' | 'except'>, name: string): boolean =>
  g.objects.some((o) => patternRegExp(o).test(name)) && !g.except.some((o) => patternRegExp(o).test(name));
