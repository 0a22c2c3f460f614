// Drift repair on real PostgreSQL: a database built from the "migrations" and a live copy changed by hand,
// compared without ownership; the items name each hand-made change once, and running their statements on
// the live database brings its fingerprint back to the expected one.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { driftItems, type DriftItem } from '../../pipeline/change/drift/repair.ts';
import { diffFingerprints, schemaFacts, type FingerprintOptions, type SchemaFacts } from '../../pipeline/infra/db/fingerprint.ts';
import { adminUrl, databasePerTest, queryUrl } from '../helpers/db.ts';

const fresh = databasePerTest('drift');
const owner = `drift_owner_${randomBytes(3).toString('hex')}`;
afterAll(async () => {
  await queryUrl(adminUrl(), `DROP ROLE IF EXISTS ${owner}`);
});

const ARCHIVE = `
  CREATE TABLE "Archive" (id int PRIMARY KEY, "entryId" bigint REFERENCES "Entry"(id), note text DEFAULT '');
  CREATE INDEX "Archive_entryId_idx" ON "Archive"("entryId");
  COMMENT ON COLUMN "Archive".note IS 'why';
`;

const MIGRATIONS = `
  CREATE TYPE "Status" AS ENUM ('DRAFT', 'POSTED');
  CREATE TABLE "Organization" (id serial PRIMARY KEY, slug text NOT NULL, name text);
  CREATE UNIQUE INDEX "Organization_slug_key" ON "Organization"(slug);
  CREATE TABLE "Entry" (
    id bigserial PRIMARY KEY,
    "orgId" int NOT NULL REFERENCES "Organization"(id),
    amount numeric(19,4) NOT NULL DEFAULT 0,
    memo varchar(100),
    status "Status" NOT NULL DEFAULT 'DRAFT'
  );
  CREATE INDEX "Entry_orgId_idx" ON "Entry"("orgId");
  CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
  CREATE TRIGGER "Entry_touch" BEFORE UPDATE ON "Entry" FOR EACH ROW EXECUTE FUNCTION touch();
  ${ARCHIVE}
  CREATE TABLE _prisma_migrations (id varchar(36) PRIMARY KEY);
`;

const BY_HAND = `
  DROP INDEX "Entry_orgId_idx";
  ALTER TABLE "Organization" ADD COLUMN "legacyErpId" text;
  ALTER TABLE "Entry" ALTER COLUMN memo TYPE text, ALTER COLUMN memo SET DEFAULT '', ALTER COLUMN memo SET NOT NULL;
  ALTER TABLE "Entry" ALTER COLUMN amount DROP DEFAULT;
  CREATE TABLE "Scratch" (id serial PRIMARY KEY, payload jsonb NOT NULL);
  CREATE INDEX "Scratch_payload_idx" ON "Scratch" USING gin (payload);
  DROP TABLE "Archive";
  DROP TRIGGER "Entry_touch" ON "Entry";
  CREATE EXTENSION pg_trgm;
  CREATE INDEX "Organization_name_trgm_idx" ON "Organization" USING gin (name gin_trgm_ops);
  ALTER TABLE "Entry" DROP COLUMN status;
  DROP TYPE "Status";
`;

async function factsOf(url: string, options: FingerprintOptions = { ownership: false }): Promise<SchemaFacts> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await schemaFacts(c, 'public', options);
  } finally {
    await c.end();
  }
}

/** Runs every item's statements, in item order, in one transaction. */
async function repair(url: string, items: DriftItem[]): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query('BEGIN');
    for (const item of items) for (const sql of item.restore) await c.query(sql);
    await c.query('COMMIT');
  } finally {
    await c.end();
  }
}

const summary = (items: DriftItem[]) => items.map(({ key, kind, change }) => ({ key, kind, change }));
const keep = () => false;

describe('drift repair', () => {
  it('names each hand-made change once, with the statements that undo it', async () => {
    await queryUrl(adminUrl(), `CREATE ROLE ${owner}`);
    const expected = await fresh();
    await expected.query(MIGRATIONS);
    const live = await fresh();
    // Another server, another owner: without ownership that is not drift.
    await live.query(`${MIGRATIONS}; ALTER TABLE "Organization" OWNER TO ${owner}; ${BY_HAND}`);

    const want = await factsOf(expected.url);
    const have = await factsOf(live.url);
    const items = driftItems(want, have, keep);

    // In the order the statements can run: what was added by hand goes first, dependents before what they
    // depend on (the trigram index before pg_trgm); then what others depend on comes back first (the enum
    // before its column, the column before the index).
    expect(summary(items)).toEqual([
      { key: 'index public.Organization_name_trgm_idx', kind: 'index', change: 'unexpected' },
      { key: 'column public.Organization.legacyErpId', kind: 'column', change: 'unexpected' },
      { key: 'table public.Scratch', kind: 'table', change: 'unexpected' },
      { key: 'extension pg_trgm', kind: 'extension', change: 'unexpected' },
      { key: 'enum public.Status', kind: 'enum', change: 'missing' },
      { key: 'table public.Archive', kind: 'table', change: 'missing' },
      { key: 'column public.Entry.amount', kind: 'column', change: 'changed' },
      { key: 'column public.Entry.memo', kind: 'column', change: 'changed' },
      { key: 'column public.Entry.status', kind: 'column', change: 'missing' },
      { key: 'index public.Entry_orgId_idx', kind: 'index', change: 'missing' },
      { key: 'trigger public.Entry.Entry_touch', kind: 'trigger', change: 'missing' },
    ]);
    const item = (key: string) => items.find((i) => i.key === key);

    // Statements come from the catalogs of the side that has the object.
    const fact = (side: SchemaFacts, key: string) => [...side.facts.values()].find((f) => f.key === key);
    expect(item('index public.Entry_orgId_idx')?.restore).toEqual([fact(want, 'index public.Entry_orgId_idx')?.restore]);
    expect(item('index public.Entry_orgId_idx')?.restore[0]).toMatch(/^CREATE INDEX "Entry_orgId_idx" ON public\."Entry" USING btree \("orgId"\);$/);
    expect(item('trigger public.Entry.Entry_touch')?.restore).toEqual([fact(want, 'trigger public.Entry.Entry_touch')?.restore]);
    expect(item('column public.Organization.legacyErpId')?.restore).toEqual(['ALTER TABLE public."Organization" DROP COLUMN "legacyErpId";']);
    expect(item('table public.Scratch')?.restore).toEqual(['DROP TABLE public."Scratch";']);
    expect(item('extension pg_trgm')?.restore).toEqual(['DROP EXTENSION pg_trgm;']);
    expect(item('column public.Entry.memo')?.restore).toEqual([
      'ALTER TABLE public."Entry" ALTER COLUMN memo DROP DEFAULT;',
      'ALTER TABLE public."Entry" ALTER COLUMN memo TYPE character varying(100) USING memo::character varying(100);',
      'ALTER TABLE public."Entry" ALTER COLUMN memo DROP NOT NULL;',
    ]);
    expect(item('column public.Entry.amount')?.restore).toEqual(['ALTER TABLE public."Entry" ALTER COLUMN amount SET DEFAULT 0;']);
    expect(item('column public.Entry.memo')).toMatchObject({
      expected: 'column "Entry".memo character varying(100)',
      actual: 'column "Entry".memo text not null default \'\'::text',
    });
    // A table dropped by hand is one item that says how to get it back, not one per column, index and constraint.
    expect(item('table public.Archive')).toMatchObject({ restore: [], manual: expect.stringMatching(/migrations/) });
    expect(items.filter((i) => i.key.includes('Archive') || i.key.includes('Scratch')).map((i) => i.key)).toEqual([
      'table public.Scratch',
      'table public.Archive',
    ]);
    // The column added by hand moved no other column: no separate column-order item.
    expect(items.some((i) => i.kind === 'column order')).toBe(false);
    // pg_trgm's functions, types and operators are not items: the extension's line stands for them.
    expect(items.filter((i) => /trgm/.test(i.key)).map((i) => i.key)).toEqual(['index public.Organization_name_trgm_idx', 'extension pg_trgm']);

    // The ignore callback leaves items out, e.g. extensions installed on the server for other reasons.
    const ignored = driftItems(want, have, (key) => key.startsWith('extension '));
    expect(ignored.map((i) => i.key)).toEqual(items.map((i) => i.key).filter((k) => k !== 'extension pg_trgm'));

    // Repair: every statement of every item, one after the other as listed (the manual item has none).
    await repair(live.url, items);
    const after = await factsOf(live.url);
    expect(summary(driftItems(want, after, keep))).toEqual([{ key: 'table public.Archive', kind: 'table', change: 'missing' }]);
    // The manual step, as the item says: re-create the table from the migrations.
    await live.query(ARCHIVE);
    const rebuilt = await factsOf(live.url);
    expect(driftItems(want, rebuilt, keep)).toEqual([]);
    expect(rebuilt.fingerprint.lines).toEqual(want.fingerprint.lines);
    // With ownership counted, the owner given away by hand is still drift, repaired by ALTER … OWNER TO.
    const owned = driftItems(await factsOf(expected.url, {}), await factsOf(live.url, {}), (key) => key.startsWith('extension '));
    expect(owned.map((i) => i.key)).toEqual(expect.arrayContaining(['table public.Organization']));
    await repair(live.url, owned);
    expect(driftItems(await factsOf(expected.url, {}), await factsOf(live.url, {}), (key) => key.startsWith('extension '))).toEqual([]);
  });

  it('a column order that differs on its own is reported as manual; a column dropped by hand is added back (at the end)', async () => {
    const expected = await fresh();
    await expected.query(MIGRATIONS);
    const moved = await fresh();
    await moved.query(`${MIGRATIONS}; ALTER TABLE "Organization" DROP COLUMN slug CASCADE; ALTER TABLE "Organization" ADD COLUMN slug text NOT NULL;
      CREATE UNIQUE INDEX "Organization_slug_key" ON "Organization"(slug);`);
    const items = driftItems(await factsOf(expected.url), await factsOf(moved.url), keep);
    expect(items).toEqual([
      {
        key: 'columns of public.Organization',
        kind: 'column order',
        change: 'changed',
        expected: 'columns of "Organization": id, slug, name',
        actual: 'columns of "Organization": id, name, slug',
        restore: [],
        manual: expect.stringMatching(/order/),
      },
    ]);

    const dropped = await fresh();
    await dropped.query(`${MIGRATIONS}; ALTER TABLE "Entry" DROP COLUMN memo;`);
    const missing = driftItems(await factsOf(expected.url), await factsOf(dropped.url), keep);
    expect(summary(missing)).toEqual([{ key: 'column public.Entry.memo', kind: 'column', change: 'missing' }]);
    expect(missing[0]?.restore).toEqual(['ALTER TABLE public."Entry" ADD COLUMN memo character varying(100);']);
    await repair(dropped.url, missing);
    const repaired = await factsOf(dropped.url);
    const want = await factsOf(expected.url);
    // ADD COLUMN puts it last. Before the repair the order was a consequence of the missing column and not an
    // item; now it is the one difference left, and only a rebuild can change it.
    expect(driftItems(want, repaired, keep)).toEqual([
      expect.objectContaining({ key: 'columns of public.Entry', kind: 'column order', restore: [], manual: expect.stringMatching(/order/) }),
    ]);
    expect(diffFingerprints(want.fingerprint, repaired.fingerprint)).toEqual({
      missing: ['columns of "Entry": id, "orgId", amount, memo, status'],
      unexpected: ['columns of "Entry": id, "orgId", amount, status, memo'],
    });
  });

  it('a primary key and the foreign key that references it, both dropped by hand, come back key first', async () => {
    const expected = await fresh();
    await expected.query(MIGRATIONS);
    const live = await fresh();
    await live.query(`${MIGRATIONS}; ALTER TABLE "Entry" DROP CONSTRAINT "Entry_orgId_fkey"; ALTER TABLE "Organization" DROP CONSTRAINT "Organization_pkey";`);
    const want = await factsOf(expected.url);
    const items = driftItems(want, await factsOf(live.url), keep);
    // By key the foreign key would come first, and fail: there is no unique key on "Organization"(id) yet.
    expect(summary(items)).toEqual([
      { key: 'constraint public.Organization.Organization_pkey', kind: 'constraint', change: 'missing' },
      { key: 'constraint public.Entry.Entry_orgId_fkey', kind: 'constraint', change: 'missing' },
    ]);
    await repair(live.url, items);
    expect((await factsOf(live.url)).fingerprint.lines).toEqual(want.fingerprint.lines);
  });
});
