// The schema fingerprint on real PostgreSQL: equal for equal schemas however they were built, different
// (with a diff naming the object) for every kind of object it covers, blind to data and to Prisma's table.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import {
  diffFingerprints,
  renderFingerprintDiff,
  sameSchema,
  schemaFacts,
  schemaFingerprint,
  type Fact,
  type SchemaFingerprint,
} from '../../pipeline/infra/db/fingerprint.ts';
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

/** A fresh database holding BASE and RICH, and a client on it for `fn`. */
async function withRich(fn: (c: pg.Client) => Promise<void>): Promise<void> {
  const db = await fresh();
  await db.query(BASE + RICH);
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    await fn(c);
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

describe('schema fingerprint without ownership', () => {
  const owner = `fp_owner_${randomBytes(3).toString('hex')}`;
  afterAll(async () => {
    await queryUrl(adminUrl(), `DROP ROLE IF EXISTS ${owner}`);
  });

  it('ownership: false compares tables with different owners (and grants) equal; the default options do not', async () => {
    await queryUrl(adminUrl(), `CREATE ROLE ${owner}`);
    const a = await fresh();
    await a.query(BASE);
    const b = await fresh();
    await b.query(`${BASE}; ALTER TABLE "Entry" OWNER TO ${owner}; GRANT SELECT ON "Account" TO ${owner};`);
    const c = new pg.Client({ connectionString: a.url });
    const d = new pg.Client({ connectionString: b.url });
    await c.connect();
    await d.connect();
    try {
      const withOwners = [await schemaFingerprint(c, 'public'), await schemaFingerprint(d, 'public')] as const;
      expect(sameSchema(...withOwners)).toBe(false);
      expect(diffFingerprints(...withOwners).unexpected).toContain(`table "Entry" owner ${owner}`);
      const without = [await schemaFingerprint(c, 'public', { ownership: false }), await schemaFingerprint(d, 'public', { ownership: false })] as const;
      expect(without[1].lines).toEqual(without[0].lines);
      expect(sameSchema(...without)).toBe(true);
      expect(without[0].lines).toContain('table "Entry"');
      expect(without[0].lines.filter((l) => / owner /.test(l) || l.startsWith('grant ') || l.startsWith('default privileges '))).toEqual([]);
      // The same lines as the default ones with the owner suffix cut off and access control left out.
      const full = await schemaFacts(c, 'public');
      const cut = full.fingerprint.lines
        .filter((l) => !['grant', 'default privileges'].includes(full.facts.get(l)!.kind))
        .map((l) => {
          const part = full.facts.get(l)!.owner?.part ?? '';
          return l.endsWith(part) ? l.slice(0, l.length - part.length) : l;
        });
      expect([...new Set(cut)].sort()).toEqual(without[0].lines);
    } finally {
      await c.end();
      await d.end();
    }
  });
});

// One object of every kind the fingerprint covers, most of them without dependents so they can be dropped alone.
const RICH = `
  CREATE EXTENSION citext;
  CREATE TYPE "Mood" AS ENUM ('ok', 'meh');
  CREATE DOMAIN "Code" AS text NOT NULL DEFAULT 'x' CONSTRAINT code_nonempty CHECK (VALUE <> '');
  CREATE TYPE "Span" AS RANGE (subtype = int4);
  CREATE TYPE "Pair" AS (a int, b text);
  CREATE SEQUENCE "Counter" AS integer INCREMENT BY 5 MINVALUE 1 MAXVALUE 1000 START 10 CACHE 1 CYCLE;
  CREATE SEQUENCE "Ticket_seq" OWNED BY "Account".code;
  CREATE TABLE "Lone" (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, label text COLLATE "C" DEFAULT 'x', total int GENERATED ALWAYS AS (2) STORED);
  CREATE INDEX "Lone_label_idx" ON "Lone"(label);
  ALTER TABLE "Lone" CLUSTER ON "Lone_label_idx";
  CREATE UNLOGGED TABLE "Scratch" (n int);
  CREATE MATERIALIZED VIEW "AccountCodes" AS SELECT code FROM "Account";
  CREATE FUNCTION lone_noop(a int, b text DEFAULT 'x') RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT a $$;
  CREATE PROCEDURE tidy() LANGUAGE sql AS $$ SELECT 1 $$;
  CREATE TRIGGER "Entry_audit" AFTER INSERT ON "Entry" FOR EACH ROW EXECUTE FUNCTION touch();
  ALTER TABLE "Entry" DISABLE TRIGGER "Entry_audit";
  CREATE RULE "Scratch_keep" AS ON DELETE TO "Scratch" DO INSTEAD NOTHING;
  ALTER TABLE "Account" ENABLE ROW LEVEL SECURITY;
  CREATE POLICY acct_read ON "Account" AS PERMISSIVE FOR SELECT TO PUBLIC USING (code <> '');
  CREATE STATISTICS "Entry_stats" ON "accountId", status FROM "Entry";
  COMMENT ON TABLE "Entry" IS 'ledger lines';
  COMMENT ON COLUMN "Entry".memo IS 'free text';
  COMMENT ON VIEW "PostedEntry" IS 'posted only';
  GRANT SELECT (memo) ON "Entry" TO PUBLIC;
  GRANT SELECT ON "PostedEntry" TO pg_read_all_data WITH GRANT OPTION;
`;

describe('schemaFacts', () => {
  it('reads the same fingerprint as schemaFingerprint, with or without ownership', async () => {
    await withRich(async (c) => {
      for (const options of [{}, { ownership: false }]) {
        const { fingerprint, facts } = await schemaFacts(c, 'public', options);
        expect(fingerprint).toEqual(await schemaFingerprint(c, 'public', options));
        expect([...facts.keys()].sort()).toEqual([...fingerprint.lines].sort());
      }
    });
  });

  it('names each object by kind and schema-qualified name', async () => {
    await withRich(async (c) => {
      const { facts } = await schemaFacts(c, 'public');
      const byKey = new Map([...facts.values()].map((f) => [f.key, f]));
      const kindOf = (key: string) => byKey.get(key)?.kind;
      expect(
        [
          'table public.Entry',
          'column public.Entry.memo',
          'columns of public.Entry',
          'constraint public.Entry.Entry_pkey',
          'constraint public.Code.code_nonempty',
          'index public.Entry_accountId_idx',
          'trigger public.Entry.Entry_touch',
          'function public.touch()',
          'procedure public.tidy()',
          'enum public.Status',
          'domain public.Code',
          'view public.PostedEntry',
          'materialized view public.AccountCodes',
          'sequence public.Entry_id_seq',
          'extension citext',
          'comment public.Entry.memo',
          'statistics public.Entry_stats',
          'rule public.Scratch.Scratch_keep',
          'policy public.Account.acct_read',
          'grant SELECT (memo) on column public.Entry.memo to PUBLIC',
        ].map((k) => [k, kindOf(k)]),
      ).toEqual([
        ['table public.Entry', 'table'],
        ['column public.Entry.memo', 'column'],
        ['columns of public.Entry', 'column order'],
        ['constraint public.Entry.Entry_pkey', 'constraint'],
        ['constraint public.Code.code_nonempty', 'constraint'],
        ['index public.Entry_accountId_idx', 'index'],
        ['trigger public.Entry.Entry_touch', 'trigger'],
        ['function public.touch()', 'function'],
        ['procedure public.tidy()', 'procedure'],
        ['enum public.Status', 'enum'],
        ['domain public.Code', 'domain'],
        ['view public.PostedEntry', 'view'],
        ['materialized view public.AccountCodes', 'materialized view'],
        ['sequence public.Entry_id_seq', 'sequence'],
        ['extension citext', 'extension'],
        ['comment public.Entry.memo', 'comment'],
        ['statistics public.Entry_stats', 'statistics'],
        ['rule public.Scratch.Scratch_keep', 'rule'],
        ['policy public.Account.acct_read', 'policy'],
        ['grant SELECT (memo) on column public.Entry.memo to PUBLIC', 'grant'],
      ]);
      expect(byKey.get('column public.Entry.memo')).toMatchObject({
        restore: 'ALTER TABLE public."Entry" ADD COLUMN memo text;',
        remove: 'ALTER TABLE public."Entry" DROP COLUMN memo;',
        dependsOn: 'table public.Entry',
        column: { table: 'public."Entry"', name: 'memo', type: 'text', notNull: false, default: null },
      });
      expect(byKey.get('table public.Entry')).toMatchObject({ restore: null, remove: 'DROP TABLE public."Entry";' });
      expect(byKey.get('columns of public.Entry')).toMatchObject({ restore: null, remove: null });
      // A view's columns and a constraint's index are lines of the view's and the constraint's fact.
      const linesOf = (key: string) => [...facts].filter(([, f]) => f.key === key).map(([l]) => l);
      expect(linesOf('view public.PostedEntry').some((l) => l.startsWith('column "PostedEntry".amount'))).toBe(true);
      expect(linesOf('constraint public.Entry.Entry_pkey').some((l) => l.startsWith('index "Entry_pkey" on "Entry"'))).toBe(true);
      // Extension members are not facts of their own.
      expect([...byKey.keys()].filter((k) => /citext/.test(k) && k !== 'extension citext')).toEqual([]);
    });
  });

  it('every remove, run where the fact is, takes its line away; every restore, run where it is not, brings the same line back', async () => {
    await withRich(async (c) => {
      const { facts } = await schemaFacts(c, 'public');
      const blocked: Array<{ key: string; code: string | undefined }> = [];
      const notRemoved: string[] = [];
      const notRestored: string[] = [];
      const restoreFailed: Array<{ key: string; error: string }> = [];
      const removedKinds = new Set<string>();
      const restoredKinds = new Set<string>();
      for (const [line, fact] of facts) {
        if (!fact.remove) continue;
        await c.query('BEGIN');
        try {
          // A fact with dependents cannot be dropped alone (no CASCADE by design): PostgreSQL says so with 2BP01.
          const removed = await c.query(fact.remove).then(
            () => true,
            (e: { code?: string }) => (blocked.push({ key: fact.key, code: e.code }), false),
          );
          if (!removed) continue;
          if ((await schemaFingerprint(c, 'public')).lines.includes(line)) notRemoved.push(line);
          else removedKinds.add(fact.kind);
          if (!fact.restore) continue;
          const ran = await c.query(fact.restore).then(
            () => true,
            (e: Error) => (restoreFailed.push({ key: fact.key, error: e.message }), false),
          );
          if (!ran) continue;
          if ((await schemaFingerprint(c, 'public')).lines.includes(line)) restoredKinds.add(fact.kind);
          else notRestored.push(line);
        } finally {
          await c.query('ROLLBACK');
        }
      }
      expect(blocked.filter((b) => b.code !== '2BP01')).toEqual([]);
      expect(notRemoved).toEqual([]);
      expect(restoreFailed).toEqual([]);
      expect(notRestored).toEqual([]);
      const kinds = (pick: (f: Fact) => unknown) => [...new Set([...facts.values()].filter(pick).map((f) => f.kind))].sort();
      // Every kind with a remove had one fact it was exercised on, and likewise for restore.
      expect([...removedKinds].sort()).toEqual(kinds((f) => f.remove));
      expect([...restoredKinds].sort()).toEqual(kinds((f) => f.remove && f.restore));
      expect(kinds((f) => f.remove && f.restore)).toEqual(
        expect.arrayContaining([
          'column',
          'comment',
          'composite type',
          'constraint',
          'domain',
          'enum',
          'extension',
          'function',
          'grant',
          'index',
          'materialized view',
          'policy',
          'procedure',
          'range type',
          'rule',
          'sequence',
          'statistics',
          'trigger',
          'view',
        ]),
      );
      expect(removedKinds.has('table')).toBe(true);
    });
  });
});
