// `dbops seed` against real PostgreSQL at small scale: reproducibility (byte-identical tables for the same
// seed and scale, whichever load path ran), the accounting rules, the constraints and indexes left in
// force, scaling, and the refusals.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SeedData } from '../../pipeline/seed/index.ts';
import { dbops } from '../helpers/cli.ts';
import { adminUrl, createDatabase, queryUrl, type TestDb } from '../helpers/db.ts';

const SCALE = '0.01';
const TABLES = [
  'Currency',
  'Organization',
  'User',
  'Membership',
  'Account',
  'ExchangeRate',
  'Customer',
  'JournalEntry',
  'JournalLine',
  'Invoice',
  'InvoiceLine',
  'Payment',
  'PaymentApplication',
  'AuditEvent',
];

const dbs: TestDb[] = [];
afterAll(async () => {
  await Promise.all(dbs.splice(0).map((d) => d.drop()));
});

async function migrated(label: string, url?: (db: TestDb) => string): Promise<TestDb> {
  const db = await createDatabase(label);
  dbs.push(db);
  const deploy = await dbops(['migrate', 'deploy', '--database-url', url ? url(db) : db.url]);
  expect(deploy.code, deploy.all).toBe(0);
  return db;
}

async function seed(url: string, ...args: string[]) {
  const run = await dbops(['seed', '--database-url', url, '--json', ...args]);
  return { ...run, data: run.code === 0 ? (JSON.parse(run.stdout) as { data: SeedData }).data : undefined };
}

/** md5 of every row of every table, ordered, rendered as text in UTC: equal digests mean equal data. */
async function digests(url: string): Promise<Record<string, string>> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`SET TimeZone = 'UTC'; SET extra_float_digits = 3`);
    const out: Record<string, string> = {};
    for (const t of TABLES) {
      const { rows } = await c.query<{ d: string; n: string }>(
        `SELECT md5(coalesce(string_agg(r::text, E'\\n' ORDER BY r::text), '')) AS d, count(*) AS n FROM "${t}" AS r`,
      );
      out[t] = `${rows[0]!.n}:${rows[0]!.d}`;
    }
    return out;
  } finally {
    await c.end();
  }
}

const count = async (db: TestDb, sql: string) => Number((await db.query<{ n: string }>(sql))[0]!.n);

describe('dbops seed', () => {
  let a: TestDb;
  let aDigest: Record<string, string>;
  let aData: SeedData;

  beforeAll(async () => {
    a = await migrated('seed_a');
    const run = await seed(a.url, '--scale', SCALE, '--seed', '7');
    expect(run.code, run.all).toBe(0);
    aData = run.data!;
    aDigest = await digests(a.url);
  });

  it('reports what it inserted, per table and phase', async () => {
    expect(aData.seed).toBe(7);
    expect(aData.tables.map((t) => t.table)).toEqual(TABLES);
    for (const t of aData.tables) expect(t.rows, t.table).toBe(await count(a, `SELECT count(*) AS n FROM "${t.table}"`));
    expect(aData.tables.every((t) => t.rows > 0)).toBe(true);
    // ≈ 1,000,000 journal lines per unit of scale
    const lines = aData.tables.find((t) => t.table === 'JournalLine')!.rows;
    expect(lines).toBeGreaterThan(9_000);
    expect(lines).toBeLessThan(11_000);
    expect(aData.phases.map((p) => p.phase)).toEqual(expect.arrayContaining(['reference (Prisma Client)', 'JournalLine', 'verify']));
    expect(aData.checks).toEqual({ unbalancedPostedEntries: 0, foreignKeyViolations: 0, balanceTriggersEnabled: true });
  });

  it('renders a table of rows and phases for humans', async () => {
    const b = await migrated('seed_human');
    const run = await dbops(['seed', '--database-url', b.url, '--scale', '0.002']);
    expect(run.code, run.all).toBe(0);
    expect(run.stdout).toMatch(/TABLE\s+ROWS/);
    expect(run.stdout).toMatch(/JournalLine\s+[\d,]+/);
    expect(run.stdout).toMatch(/PHASE\s+TIME/);
    expect(run.stdout).toContain('0 unbalanced posted entries');
  });

  it('is reproducible: the same seed and scale give identical data in every table', async () => {
    const b = await migrated('seed_b');
    expect((await seed(b.url, '--scale', SCALE, '--seed', '7')).code).toBe(0);
    expect(await digests(b.url)).toEqual(aDigest);
  });

  it('gives the same data when it has to load through every trigger (a role that may not skip them)', async () => {
    const role = `seed_app_${randomBytes(3).toString('hex')}`;
    const password = randomBytes(12).toString('hex');
    await queryUrl(adminUrl(), `CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
    const db = await createDatabase('seed_role');
    try {
      await queryUrl(adminUrl(), `ALTER DATABASE "${db.name}" OWNER TO ${role}`);
      await db.query(`ALTER SCHEMA public OWNER TO ${role}`);
      const u = new URL(db.url);
      u.username = role;
      u.password = password;
      const deploy = await dbops(['migrate', 'deploy', '--database-url', u.toString()]);
      expect(deploy.code, deploy.all).toBe(0);
      const run = await seed(u.toString(), '--scale', SCALE, '--seed', '7');
      expect(run.code, run.all).toBe(0);
      expect(run.data!.mode).toBe('triggers');
      expect(await digests(db.url)).toEqual(aDigest);
    } finally {
      await db.drop();
      await queryUrl(adminUrl(), `DROP ROLE IF EXISTS ${role}`);
    }
  });

  it('gives different data for a different seed', async () => {
    const c = await migrated('seed_c');
    expect((await seed(c.url, '--scale', SCALE, '--seed', '8')).code).toBe(0);
    const other = await digests(c.url);
    for (const t of TABLES.filter((t) => t !== 'Currency')) expect(other[t], t).not.toBe(aDigest[t]);
  });

  it('balances every posted entry and keeps documents consistent with their journal entries', async () => {
    expect(
      await count(
        a,
        `
      SELECT count(*) AS n FROM "JournalEntry" e
        LEFT JOIN (SELECT "journalEntryId" id, count(*) lines,
                          sum(amount) FILTER (WHERE side = 'DEBIT') dr, sum(amount) FILTER (WHERE side = 'CREDIT') cr
                     FROM "JournalLine" GROUP BY 1) s ON s.id = e.id
       WHERE e.status = 'POSTED' AND (coalesce(s.lines, 0) < 2 OR s.dr IS DISTINCT FROM s.cr)`,
      ),
    ).toBe(0);
    expect(await count(a, `SELECT count(*) AS n FROM "JournalEntry" WHERE status = 'POSTED'`)).toBeGreaterThan(
      0.9 * (await count(a, `SELECT count(*) AS n FROM "JournalEntry"`)),
    );
    // an invoice: total = subtotal + tax = its lines; amount paid = its applications; its entry debits the total
    expect(
      await count(
        a,
        `
      SELECT count(*) AS n FROM "Invoice" i
        JOIN (SELECT "invoiceId", sum(amount) s FROM "InvoiceLine" GROUP BY 1) l ON l."invoiceId" = i.id
        LEFT JOIN (SELECT "invoiceId", sum(amount) p FROM "PaymentApplication" GROUP BY 1) pa ON pa."invoiceId" = i.id
       WHERE i.subtotal <> l.s OR i.total <> i.subtotal + i."taxTotal" OR i."amountPaid" <> coalesce(pa.p, 0)
          OR (i.status = 'PAID') <> (i."amountPaid" = i.total AND i.status <> 'VOID' AND i.status <> 'DRAFT')`,
      ),
    ).toBe(0);
    expect(
      await count(
        a,
        `
      SELECT count(*) AS n FROM "Invoice" i JOIN "JournalLine" l ON l."journalEntryId" = i."journalEntryId" AND l."lineNumber" = 1
       WHERE l.side <> 'DEBIT' OR l.amount <> i.total`,
      ),
    ).toBe(0);
    expect(
      await count(
        a,
        `
      SELECT count(*) AS n FROM "Payment" p JOIN (SELECT "paymentId", sum(amount) s FROM "PaymentApplication" GROUP BY 1) x ON x."paymentId" = p.id
       WHERE x.s <> p.amount`,
      ),
    ).toBe(0);
    // every reversal mirrors its original line by line
    expect(
      await count(
        a,
        `
      SELECT count(*) AS n FROM "JournalEntry" r JOIN "JournalLine" rl ON rl."journalEntryId" = r.id
        JOIN "JournalLine" ol ON ol."journalEntryId" = r."reversalOfId" AND ol."lineNumber" = rl."lineNumber"
       WHERE ol.amount <> rl.amount OR ol.side = rl.side OR ol."accountId" <> rl."accountId"`,
      ),
    ).toBe(0);
    expect(await count(a, `SELECT count(*) AS n FROM "JournalEntry" WHERE "reversalOfId" IS NOT NULL`)).toBeGreaterThan(0);
  });

  it('leaves the balance triggers, checks and every index in force', async () => {
    expect(await a.query(`SELECT tgname, tgenabled FROM pg_trigger WHERE tgname LIKE '%\\_balanced' ORDER BY 1`)).toEqual([
      { tgname: 'JournalEntry_balanced', tgenabled: 'O' },
      { tgname: 'JournalLine_balanced', tgenabled: 'O' },
    ]);
    const fresh = await migrated('seed_fresh');
    const indexes = `SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1, 2`;
    expect(await a.query(indexes)).toEqual(await fresh.query(indexes));
    expect(
      await a.query(
        `SELECT count(*)::int AS n FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = 'public' AND NOT i.indisvalid`,
      ),
    ).toEqual([{ n: 0 }]);

    const c = new pg.Client({ connectionString: a.url });
    await c.connect();
    try {
      await c.query('BEGIN');
      const {
        rows: [entry],
      } = await c.query<{ id: string }>(`
        INSERT INTO "JournalEntry" ("organizationId", "entryNumber", "entryDate", status, "currencyCode", "createdById", "updatedAt")
        SELECT o.id, 999999, date '2025-06-30', 'POSTED', o."baseCurrencyCode", m."userId", now()
          FROM "Organization" o JOIN "Membership" m ON m."organizationId" = o.id LIMIT 1 RETURNING id`);
      await c.query(
        `
        INSERT INTO "JournalLine" ("organizationId", "journalEntryId", "lineNumber", "accountId", side, amount)
        SELECT a."organizationId", $1, n, a.id, CASE n WHEN 1 THEN 'DEBIT'::"EntrySide" ELSE 'CREDIT' END, 100 + n
          FROM "Account" a JOIN "JournalEntry" e ON e.id = $1 AND e."organizationId" = a."organizationId"
         CROSS JOIN generate_series(1, 2) n WHERE a.code = '1110'`,
        [entry!.id],
      );
      await expect(c.query('COMMIT')).rejects.toThrow(/not balanced/);
      await expect(c.query(`UPDATE "JournalLine" SET amount = -1 WHERE id = 1`)).rejects.toThrow(/JournalLine_amount_nonnegative_check/);
    } finally {
      await c.end();
    }
    // the sequences continue after the seeded ids
    const next = await a.query<{ n: string; max: string }>(
      `SELECT nextval(pg_get_serial_sequence('"JournalLine"', 'id'))::text AS n, (SELECT max(id) FROM "JournalLine")::text AS max`,
    );
    expect(BigInt(next[0]!.n)).toBeGreaterThan(BigInt(next[0]!.max));
  });

  it('scales the volume with --scale', async () => {
    const d = await migrated('seed_scale');
    const run = await seed(d.url, '--scale', '0.02', '--seed', '7');
    expect(run.code, run.all).toBe(0);
    const rows = (data: SeedData, t: string) => data.tables.find((x) => x.table === t)!.rows;
    expect(rows(run.data!, 'Invoice')).toBe(2 * rows(aData, 'Invoice'));
    for (const t of ['JournalEntry', 'JournalLine', 'InvoiceLine', 'Payment', 'AuditEvent', 'Customer']) {
      const ratio = rows(run.data!, t) / rows(aData, t);
      expect(ratio, t).toBeGreaterThan(1.7);
      expect(ratio, t).toBeLessThan(2.3);
    }
    expect(rows(run.data!, 'Organization')).toBe(rows(aData, 'Organization'));
  });

  it('refuses to seed a database that already holds data, and changes nothing', async () => {
    const run = await dbops(['seed', '--database-url', a.url, '--scale', SCALE, '--seed', '7']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('already holds AstroFinance data');
    expect(run.stderr).toContain('dbops migrate deploy');
    expect(await digests(a.url)).toEqual(aDigest);
  });

  it('refuses an unmigrated database and says to migrate first', async () => {
    const empty = await createDatabase('seed_empty');
    dbs.push(empty);
    const run = await dbops(['seed', '--database-url', empty.url, '--scale', SCALE]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('is not migrated');
    expect(run.stderr).toContain('Run `dbops migrate deploy`');
    expect(await empty.query(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`)).toEqual([{ n: 0 }]);
  });
});
