// The schema fingerprint on real PostgreSQL: equal for equal schemas however they were built, different
// (with a diff naming the object) for every kind of object it covers, blind to data and to Prisma's table.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { diffFingerprints, renderFingerprintDiff, sameSchema, schemaFingerprint, type SchemaFingerprint } from '../../pipeline/infra/db/fingerprint.ts';
import { adminUrl, databasePerTest, queryUrl } from '../helpers/db.ts';

const fresh = databasePerTest('fingerprint');
const role = `fp_reader_${randomBytes(3).toString('hex')}`;
afterAll(async () => {
  await queryUrl(adminUrl(), `DROP ROLE IF EXISTS ${role}`);
});

const BASE = `
  CREATE TYPE "Status" AS ENUM ('DRAFT', 'POSTED');
  CREATE TABLE "Account" (id int PRIMARY KEY, code text NOT NULL UNIQUE);
  CREATE TABLE "Entry" (
    id bigserial PRIMARY KEY,
    "accountId" int NOT NULL REFERENCES "Account"(id),
    status "Status" NOT NULL DEFAULT 'DRAFT',
    amount numeric(19,4) NOT NULL CHECK (amount >= 0),
    memo text
  );
  CREATE INDEX "Entry_accountId_idx" ON "Entry"("accountId");
  CREATE VIEW "PostedEntry" AS SELECT id, amount FROM "Entry" WHERE status = 'POSTED';
  CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
  CREATE TRIGGER "Entry_touch" BEFORE UPDATE ON "Entry" FOR EACH ROW EXECUTE FUNCTION touch();
  CREATE TABLE _prisma_migrations (id varchar(36) PRIMARY KEY);
`;

async function fingerprintOf(url: string, schema = 'public'): Promise<SchemaFingerprint> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await schemaFingerprint(c, schema);
  } finally {
    await c.end();
  }
}

async function changed(change: string): Promise<{ diff: string; before: SchemaFingerprint; after: SchemaFingerprint }> {
  const db = await fresh();
  await db.query(BASE);
  const before = await fingerprintOf(db.url);
  await db.query(change);
  const after = await fingerprintOf(db.url);
  return { before, after, diff: renderFingerprintDiff(diffFingerprints(before, after), { expected: 'before', actual: 'after' }) };
}

describe('schema fingerprint', () => {
  it('is equal for the same schema built in another order, and ignores data, sequence positions and statistics', async () => {
    const a = await fresh();
    await a.query(BASE);
    const b = await fresh();
    // Same objects, created in another order and with the constraints added afterwards.
    await b.query(`
      CREATE TABLE _prisma_migrations (id varchar(36) PRIMARY KEY);
      CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
      CREATE TABLE "Account" (id int, code text NOT NULL);
      ALTER TABLE "Account" ADD CONSTRAINT "Account_pkey" PRIMARY KEY (id);
      ALTER TABLE "Account" ADD CONSTRAINT "Account_code_key" UNIQUE (code);
      CREATE TYPE "Status" AS ENUM ('DRAFT', 'POSTED');
      CREATE TABLE "Entry" (id bigserial, "accountId" int NOT NULL, status "Status" NOT NULL DEFAULT 'DRAFT', amount numeric(19,4) NOT NULL, memo text);
      ALTER TABLE "Entry" ADD CONSTRAINT "Entry_pkey" PRIMARY KEY (id);
      ALTER TABLE "Entry" ADD CONSTRAINT "Entry_amount_check" CHECK (amount >= 0);
      ALTER TABLE "Entry" ADD CONSTRAINT "Entry_accountId_fkey" FOREIGN KEY ("accountId") REFERENCES "Account"(id);
      CREATE TRIGGER "Entry_touch" BEFORE UPDATE ON "Entry" FOR EACH ROW EXECUTE FUNCTION touch();
      CREATE VIEW "PostedEntry" AS SELECT id, amount FROM "Entry" WHERE status = 'POSTED';
      CREATE INDEX "Entry_accountId_idx" ON "Entry"("accountId");
      INSERT INTO "Account" VALUES (1, 'cash');
      INSERT INTO "Entry" ("accountId", amount) SELECT 1, g FROM generate_series(1, 100) g;
      INSERT INTO _prisma_migrations VALUES ('x');
      ANALYZE;
    `);
    const fa = await fingerprintOf(a.url);
    const fb = await fingerprintOf(b.url);
    expect(fb.lines).toEqual(fa.lines);
    expect(sameSchema(fa, fb)).toBe(true);
    expect(fa.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(fa.lines.some((l) => l.includes('_prisma_migrations'))).toBe(false);
    expect(fa.lines).toContain("enum \"Status\": 'DRAFT', 'POSTED' owner postgres");
    expect(fa.lines).toContain('columns of "Entry": id, "accountId", status, amount, memo');
  });

  it('a column dropped and added again at the same place compares equal; a changed column order does not', async () => {
    const same = await changed('ALTER TABLE "Entry" DROP COLUMN memo; ALTER TABLE "Entry" ADD COLUMN memo text;');
    expect(sameSchema(same.before, same.after)).toBe(true);
    const moved = await changed(`DROP VIEW "PostedEntry"; ALTER TABLE "Entry" DROP COLUMN amount;
      ALTER TABLE "Entry" ADD COLUMN amount numeric(19,4) NOT NULL DEFAULT 0 CHECK (amount >= 0); ALTER TABLE "Entry" ALTER COLUMN amount DROP DEFAULT;
      CREATE VIEW "PostedEntry" AS SELECT id, amount FROM "Entry" WHERE status = 'POSTED';`);
    expect(diffFingerprints(moved.before, moved.after)).toEqual({
      missing: ['columns of "Entry": id, "accountId", status, amount, memo'],
      unexpected: ['columns of "Entry": id, "accountId", status, memo, amount'],
    });
    expect(moved.diff).toContain('- columns of "Entry": id, "accountId", status, amount, memo');
    expect(moved.diff).toContain('+ columns of "Entry": id, "accountId", status, memo, amount');
  });

  it('GRANT followed by REVOKE compares equal (ACLs are normalized to their defaults)', async () => {
    await queryUrl(adminUrl(), `CREATE ROLE ${role}`);
    const r = await changed(`GRANT SELECT ON "Account" TO ${role}; REVOKE SELECT ON "Account" FROM ${role};`);
    expect(sameSchema(r.before, r.after)).toBe(true);
  });

  const cases: Array<[string, string, string[]]> = [
    [
      'a column type',
      'ALTER TABLE "Entry" ALTER COLUMN "accountId" TYPE bigint',
      ['- column "Entry"."accountId" integer not null', '+ column "Entry"."accountId" bigint not null'],
    ],
    ['a default', 'ALTER TABLE "Entry" ALTER COLUMN memo SET DEFAULT \'n/a\'', ['+ column "Entry".memo text default \'n/a\'::text']],
    ['nullability', 'ALTER TABLE "Entry" ALTER COLUMN memo SET NOT NULL', ['+ column "Entry".memo text not null']],
    [
      'a constraint',
      'ALTER TABLE "Account" ADD CONSTRAINT code_len CHECK (length(code) < 10) NOT VALID',
      ['+ constraint code_len on "Account": CHECK ((length(code) < 10)) NOT VALID'],
    ],
    [
      'an index',
      'CREATE INDEX "Entry_status_idx" ON "Entry"(status)',
      ['+ index "Entry_status_idx" on "Entry": CREATE INDEX "Entry_status_idx" ON public."Entry" USING btree (status)'],
    ],
    ['a sequence', 'ALTER SEQUENCE "Entry_id_seq" INCREMENT BY 10', ['+ sequence "Entry_id_seq" as bigint increment 10']],
    ['an enum value', 'ALTER TYPE "Status" ADD VALUE \'VOID\'', ["+ enum \"Status\": 'DRAFT', 'POSTED', 'VOID' owner postgres"]],
    ['a view', 'CREATE OR REPLACE VIEW "PostedEntry" AS SELECT id, amount FROM "Entry" WHERE status = \'DRAFT\'', ['+ view "PostedEntry" as ']],
    [
      'a function body',
      "CREATE OR REPLACE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.memo := 'x'; RETURN NEW; END $$",
      ['- function touch() returns trigger definition md5', '+ function touch() returns trigger definition md5'],
    ],
    [
      'a trigger',
      'ALTER TABLE "Entry" DISABLE TRIGGER "Entry_touch"',
      ['+ trigger "Entry_touch" on "Entry": CREATE TRIGGER "Entry_touch" BEFORE UPDATE ON public."Entry" FOR EACH ROW EXECUTE FUNCTION touch() DISABLED'],
    ],
    ['a grant', 'GRANT SELECT ON "PostedEntry" TO PUBLIC', ['+ grant SELECT on view "PostedEntry" to PUBLIC']],
    ['a comment', 'COMMENT ON COLUMN "Entry".memo IS \'free text\'', ['+ comment on "Entry".memo: free text']],
    ['a dropped table', 'DROP VIEW "PostedEntry"; DROP TABLE "Entry"', ['- table "Entry" owner postgres', '- index "Entry_accountId_idx" on "Entry"']],
  ];

  it.each(cases)('sees %s and names it in the diff', async (_what, change, expected) => {
    const r = await changed(change);
    expect(sameSchema(r.before, r.after)).toBe(false);
    for (const line of expected) expect(r.diff).toContain(line);
    expect(r.diff.startsWith('--- before\n+++ after\n')).toBe(true);
  });

  it('ignores changes to _prisma_migrations and to other schemas; describes only the schema asked for', async () => {
    const r = await changed('ALTER TABLE _prisma_migrations ADD COLUMN logs text; CREATE SCHEMA other; CREATE TABLE other.t (id int)');
    expect(sameSchema(r.before, r.after)).toBe(true);
    const db = await fresh();
    await db.query('CREATE SCHEMA app; CREATE TABLE app."Invoice" (id int PRIMARY KEY); CREATE TABLE public.stray (id int)');
    const app = await fingerprintOf(db.url, 'app');
    expect(app.lines.some((l) => l.startsWith('table "Invoice"'))).toBe(true);
    expect(app.lines.some((l) => l.includes('stray'))).toBe(false);
    expect(app.schema).toBe('app');
  });
});
