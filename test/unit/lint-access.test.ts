// Access in migrations (GRANT, REVOKE, roles, default privileges, ownership) and new tables the access
// policy does not cover, found in PostgreSQL's AST (libpg-query).
import { describe, expect, it } from 'vitest';
import type { LocalMigration } from '../../pipeline/change/migrations/folder.ts';
import { analyzeMigrations } from '../../pipeline/change/lint/analyze.ts';
import { SourceText } from '../../pipeline/change/lint/text.ts';
import { uncoveredTables } from '../../pipeline/operations/access/index.ts';
import { AccessPolicy } from '../../pipeline/policy/access.ts';

const POLICY = AccessPolicy.parse({
  version: 1,
  owner: 'migrator',
  schemas: ['public', 'billing'],
  roles: {
    migrator: { login: true, grants: [{ on: 'schema', schema: 'public', privileges: ['USAGE', 'CREATE'] }] },
    app_ro: {
      grants: [
        { on: 'tables', schema: 'public', except: ['_prisma_migrations', 'Secret*'], privileges: ['SELECT'] },
        { on: 'tables', schema: 'billing', objects: ['Invoice*'], privileges: ['SELECT'] },
      ],
    },
  },
});

/** `null`: no access policy (the caller passes none). */
async function lint(script: string, policy: AccessPolicy | null = POLICY, schema = 'public') {
  const all: LocalMigration[] = [{ name: '1_m', file: 'prisma/migrations/1_m/migration.sql', script }];
  const result = (
    await analyzeMigrations(all, new Set(['1_m']), { coverage: policy ? { policy, uncoveredTables } : undefined, policyFile: 'policies/access.yaml', schema })
  ).get('1_m');
  const source = new SourceText(script);
  expect(result?.parseError).toBeUndefined();
  return (result?.access ?? []).map((h) => ({ rule: h.rule, line: source.at(h.offset).line, message: h.message, help: h.help }));
}

describe('access/in-migration and access/grant-to-public', () => {
  it('GRANT, REVOKE, role membership, roles, default privileges and ownership: one finding each, at its line', async () => {
    const found = await lint(
      [
        '-- Grant',
        'GRANT SELECT ON TABLE "Account" TO app_ro;',
        'REVOKE INSERT ON "Account" FROM app_rw;',
        'GRANT app_ro TO reporting;',
        'CREATE ROLE etl LOGIN;',
        'CREATE USER "Legacy";',
        'ALTER ROLE etl CONNECTION LIMIT 5;',
        'DROP ROLE IF EXISTS etl;',
        'ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO app_ro;',
        'ALTER TABLE "Account" OWNER TO migrator;',
        'ALTER FUNCTION f() OWNER TO migrator;',
        'REASSIGN OWNED BY old_owner TO migrator;',
        '',
      ].join('\n'),
    );
    expect(found.map((h) => [h.rule, h.line])).toEqual([
      ['access/in-migration', 2],
      ['access/in-migration', 3],
      ['access/in-migration', 4],
      ['access/in-migration', 5],
      ['access/in-migration', 6],
      ['access/in-migration', 7],
      ['access/in-migration', 8],
      ['access/in-migration', 9],
      ['access/in-migration', 10],
      ['access/in-migration', 11],
      ['access/in-migration', 12],
    ]);
    expect(found[0]!.message).toBe(
      'GRANT in a migration: `GRANT SELECT ON TABLE "Account" TO app_ro`. Roles, privileges and ownership are declared in the access policy, not changed by migrations.',
    );
    expect(found[0]!.help).toBe(
      'Remove it from the migration and declare it in policies/access.yaml; `dbops access apply` makes it so, through the gate with --environment.',
    );
    expect(found[1]!.message).toMatch(/^REVOKE in a migration/);
    expect(found[2]!.message).toMatch(/^GRANT of role membership in a migration/);
    expect(found[3]!.message).toMatch(/^CREATE ROLE "etl" in a migration/);
    expect(found[4]!.message).toMatch(/^CREATE USER "Legacy" in a migration/);
    expect(found[7]!.message).toMatch(/^ALTER DEFAULT PRIVILEGES in a migration/);
    expect(found[8]!.message).toMatch(/^ALTER TABLE "Account" OWNER TO "migrator" in a migration/);
    expect(found[9]!.message).toMatch(/^ALTER FUNCTION … OWNER TO "migrator" in a migration/);
  });

  it('a GRANT to PUBLIC is its own, stronger finding; a REVOKE from PUBLIC or a role named "PUBLIC" is not', async () => {
    const found = await lint(
      [
        'GRANT SELECT ON "Account" TO app_ro, PUBLIC;',
        'ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO public;',
        'REVOKE ALL ON SCHEMA public FROM PUBLIC;',
        'GRANT SELECT ON "Account" TO "PUBLIC";',
        '',
      ].join('\n'),
    );
    expect(found.map((h) => [h.rule, h.line])).toEqual([
      ['access/grant-to-public', 1],
      ['access/grant-to-public', 2],
      ['access/in-migration', 3],
      ['access/in-migration', 4],
    ]);
    expect(found[0]!.message).toContain('to PUBLIC in a migration gives the privilege to every role of the database');
    expect(found[0]!.help).toContain('policies/access.yaml');
  });

  it('apply even without an access policy; ordinary Prisma SQL is no finding', async () => {
    expect((await lint('GRANT SELECT ON "Account" TO app_ro;\n', null)).map((h) => h.rule)).toEqual(['access/in-migration']);
    expect(await lint('-- AlterTable\nALTER TABLE "user" ADD COLUMN "role" TEXT, ADD COLUMN "owner" TEXT;\n')).toEqual([]);
  });
});

describe('access/table-not-covered', () => {
  it('a table covered by `objects: [*]` is no finding; one left out by `except` is, naming the table and the fix', async () => {
    const found = await lint(
      '-- CreateTable\nCREATE TABLE "Account" ("id" UUID NOT NULL);\n\n-- CreateTable\nCREATE TABLE "SecretKey" ("id" UUID NOT NULL);\n',
    );
    expect(found).toEqual([
      {
        rule: 'access/table-not-covered',
        line: 5,
        message:
          'The new table "public"."SecretKey" is not covered by policies/access.yaml: no declared role other than the owner migrator may read it, so only its owner can reach it.',
        help: "Add it to a role's grants in policies/access.yaml (roles.<name>.grants with on: tables, schema: public), or widen an objects pattern (or narrow an except pattern) so that one covers it; `dbops access apply` then grants it.",
      },
    ]);
  });

  it('schema from the statement, else SET search_path, else the migration schema; unmanaged schemas are ignored', async () => {
    const found = await lint(
      [
        'CREATE TABLE billing."InvoiceLine" (id INT);', // covered by Invoice*
        'CREATE TABLE billing."Payment" (id INT);', // not covered
        'CREATE TABLE scratch."Anything" (id INT);', // scratch is not managed
        'SET search_path TO billing;',
        'CREATE VIEW "PaymentView" AS SELECT 1;',
        'CREATE MATERIALIZED VIEW "InvoiceTotals" AS SELECT 1;',
        '',
      ].join('\n'),
    );
    expect(found.map((h) => [h.rule, h.line, h.message.split(' is not')[0]])).toEqual([
      ['access/table-not-covered', 2, 'The new table "billing"."Payment"'],
      ['access/table-not-covered', 5, 'The new view "billing"."PaymentView"'],
    ]);
    // The migration's schema (--schema) decides unqualified names.
    expect((await lint('CREATE TABLE "Payment" (id INT);\n', POLICY, 'billing')).map((h) => h.rule)).toEqual(['access/table-not-covered']);
    expect(await lint('CREATE TABLE "Payment" (id INT);\n', POLICY, 'scratch')).toEqual([]);
  });

  it('CREATE TABLE … AS and SELECT INTO count; temporary tables, tables dropped again, and final names after a rename', async () => {
    const found = await lint(
      [
        'CREATE TABLE "SecretCopy" AS SELECT 1 AS a;',
        'CREATE TEMP TABLE "SecretTmp" (a INT);',
        'CREATE TABLE "SecretGone" (a INT);',
        'DROP TABLE "SecretGone";',
        'CREATE TABLE "Staging" (a INT);',
        'ALTER TABLE "Staging" RENAME TO "SecretStaging";',
        'SELECT 1 AS a INTO "SecretInto";',
        '',
      ].join('\n'),
    );
    expect(found.map((h) => [h.line, h.message.split(' is not')[0]])).toEqual([
      [1, 'The new table "public"."SecretCopy"'],
      [5, 'The new table "public"."SecretStaging"'],
      [7, 'The new table "public"."SecretInto"'],
    ]);
  });

  it('does nothing when the policy is absent or declares no roles', async () => {
    const sql = 'CREATE TABLE "SecretKey" (id INT);\nCREATE TABLE "Anything" (id INT);\n';
    expect(await lint(sql, null)).toEqual([]);
    expect(await lint(sql, AccessPolicy.parse({ version: 1 }))).toEqual([]);
  });
});
