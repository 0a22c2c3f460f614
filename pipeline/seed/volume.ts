/**
 * The synthetic volume as set-based SQL (INSERT … SELECT over generate_series), run on one connection
 * inside one transaction.
 *
 * Reproducibility: every random choice is `pg_temp.u(key, stream)`, a hash of (seed, stream, key) made
 * with PostgreSQL's own hash functions, never random(): a row's values depend only on its key, not on
 * the order a plan produces rows in. Ids are assigned from ordered window functions over unique keys,
 * timestamps are derived from the fixed year in catalog.ts, and the session runs in UTC.
 */
import { EPOCH, MANUAL_DESCRIPTIONS, PRODUCTS, YEAR_END } from './catalog.ts';
import type { BulkInputs } from './reference.ts';

/** Rows per unit of --scale; tuned so scale 1 gives ≈ 1,000,000 journal lines. */
export const VOLUME = { invoices: 80_000, manualEntries: 169_000, logins: 6_000 } as const;

export interface VolumePlan {
  invoices: number;
  manualEntries: number;
  logins: number;
}

export function planVolume(scale: number, organizations: number): VolumePlan {
  return {
    invoices: Math.max(organizations * 2, Math.round(VOLUME.invoices * scale)),
    manualEntries: Math.max(organizations * 3, Math.round(VOLUME.manualEntries * scale)),
    logins: Math.max(organizations, Math.round(VOLUME.logins * scale)),
  };
}

export interface Statement {
  /** Shown in progress lines and logs. */
  label: string;
  sql: string;
  params?: unknown[];
  /** The application table this statement fills, for the row counts. */
  table?: string;
}

const lit = (text: string) => `'${text.replaceAll("'", "''")}'`;
const textArray = (items: readonly string[]) => `ARRAY[${items.map(lit).join(', ')}]::text[]`;

/**
 * Temporary helpers (dropped with the session, never part of the schema). Simple SQL functions, so the
 * planner inlines them and the stream seed `hashtextextended(stream, seed)` folds to a constant.
 */
export function helperFunctions(seed: number): Statement[] {
  const S = `${Math.trunc(seed)}::bigint`;
  const MASK = '4503599627370495'; // 2^52 - 1: the bits a float8 mantissa holds exactly
  return [
    {
      label: 'helpers',
      sql: `
CREATE FUNCTION pg_temp.u(k bigint, stream text) RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT (hashint8extended(k, hashtextextended(stream, ${S})) & ${MASK})::float8 / 4503599627370496 $$;
CREATE FUNCTION pg_temp.u2(a bigint, b bigint, stream text) RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT (hashint8extended(b, hashint8extended(a, hashtextextended(stream, ${S}))) & ${MASK})::float8 / 4503599627370496 $$;
-- Version-4-shaped UUID from two 64-bit hashes: version nibble 4, variant bits 10.
CREATE FUNCTION pg_temp.uid(stream text, n bigint) RETURNS uuid LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT (lpad(to_hex((hashint8extended(n, hashtextextended(stream, ${S})) & -61441) | 16384), 16, '0')
             || lpad(to_hex((hashint8extended(n, hashtextextended(stream || '#2', ${S})) & 4611686018427387903) | -9223372036854775808), 16, '0'))::uuid $$;
CREATE FUNCTION pg_temp.hex(k bigint, stream text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT lpad(to_hex(hashint8extended(k, hashtextextended(stream, ${S}))), 16, '0') $$;
-- Saturday and Sunday move to the next Monday: documents are issued on working days.
CREATE FUNCTION pg_temp.wd(d date) RETURNS date LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT d + CASE extract(isodow FROM d)::int WHEN 6 THEN 2 WHEN 7 THEN 1 ELSE 0 END $$;
CREATE FUNCTION pg_temp.at(d date, secs float8) RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT (d + make_interval(secs => floor(secs)::int)) AT TIME ZONE 'UTC' $$;
CREATE FUNCTION pg_temp.pick(ids uuid[], x float8) RETURNS uuid LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT ids[1 + floor(x * cardinality(ids))::int] $$;`,
    },
  ];
}

/** The lookup tables the generator joins against, filled from the reference data (small). */
export function stagingTables(inputs: BulkInputs): Statement[] {
  // One statement each: a parameterized query cannot carry several commands.
  const table = (name: string, columns: string, rows: unknown[]): Statement => ({
    label: 'staging',
    sql: `CREATE TEMP TABLE ${name} AS SELECT * FROM json_to_recordset($1::json) AS t(${columns})`,
    params: [JSON.stringify(rows)],
  });
  return [
    table('seed_org', 'org_no int, id uuid, base char(3), minor int, per_usd float8, tax_rate numeric, n_cust int', inputs.orgs),
    table('seed_cur', 'code char(3), minor int, per_usd float8', inputs.currencies),
    table('seed_customer', 'org_no int, idx int, id uuid, currency char(3)', inputs.customers),
    table('seed_acct', 'org_no int, code text, id uuid', inputs.accounts),
    table('seed_bank', 'org_no int, currency char(3), id uuid', inputs.banks),
    table('seed_pool', 'org_no int, pool text, ids uuid[]', inputs.pools),
    table('seed_member', 'org_no int, role text, ids uuid[]', inputs.members),
    table('seed_user', 'idx int, id uuid, ip inet', inputs.users),
    table(
      'seed_product',
      'idx int, description text, revenue text, usd float8, hourly boolean, max_qty int',
      PRODUCTS.map((p, idx) => ({ idx, description: p.description, revenue: p.revenue, usd: p.usd, hourly: p.hourly, max_qty: p.maxQty })),
    ),
    {
      label: 'staging',
      sql: `CREATE UNIQUE INDEX ON seed_customer (org_no, idx);
ANALYZE seed_org, seed_cur, seed_customer, seed_acct, seed_bank, seed_pool, seed_member, seed_user, seed_product;`,
    },
  ];
}

/** `CASE WHEN x < 0.34 THEN 1 …`: the organization a document belongs to, by volume weight. */
function orgCase(x: string, weights: number[]): string {
  const total = weights.reduce((a, b) => a + b, 0);
  let acc = 0;
  const arms = weights.slice(0, -1).map((w, i) => {
    acc += w / total;
    return `WHEN ${x} < ${acc.toFixed(6)} THEN ${i + 1}`;
  });
  return `(CASE ${arms.join(' ')} ELSE ${weights.length} END)`;
}

/** Invoices, their lines, payments and applications, planned in temp tables before any journal entry exists. */
export function documentPlan(plan: VolumePlan, weights: number[]): Statement[] {
  return [
    {
      label: 'plan invoices',
      sql: `
CREATE TEMP TABLE seed_inv0 AS
SELECT b.i, b.org_no, c.id AS customer_id, c.currency, cur.minor, cur.per_usd, (c.currency <> o.base) AS export,
       pg_temp.wd(b.d0) AS issue_date, b.terms, b.k, b.us, b.up
  FROM (SELECT i,
               ${orgCase("pg_temp.u(i, 'inv.org')", weights)} AS org_no,
               pg_temp.u(i, 'inv.customer') AS uc,
               date '${EPOCH}' + floor(pg_temp.u(i, 'inv.day') * 365)::int AS d0,
               CASE WHEN pg_temp.u(i, 'inv.terms') < 0.15 THEN 14 WHEN pg_temp.u(i, 'inv.terms') < 0.65 THEN 30
                    WHEN pg_temp.u(i, 'inv.terms') < 0.80 THEN 45 ELSE 60 END AS terms,
               CASE WHEN pg_temp.u(i, 'inv.lines') < 0.30 THEN 1 WHEN pg_temp.u(i, 'inv.lines') < 0.62 THEN 2
                    WHEN pg_temp.u(i, 'inv.lines') < 0.82 THEN 3 WHEN pg_temp.u(i, 'inv.lines') < 0.93 THEN 4 ELSE 5 END AS k,
               pg_temp.u(i, 'inv.status') AS us,
               pg_temp.u(i, 'inv.payer') AS up
          FROM generate_series(1, ${plan.invoices}) AS i) AS b
  JOIN seed_org AS o USING (org_no)
  -- Squared: a few customers get most of the invoices, as in real ledgers.
  JOIN seed_customer AS c ON c.org_no = b.org_no AND c.idx = floor(b.uc * b.uc * o.n_cust)::int
  JOIN seed_cur AS cur ON cur.code = c.currency;

CREATE TEMP TABLE seed_invl AS
SELECT x.i, x.l, x.org_no, x.description, x.quantity, x.unit_price, x.tax_rate, x.amount,
       round(x.amount * x.tax_rate, x.minor) AS tax, x.revenue_account_id
  FROM (SELECT v.i, l.l, v.org_no, v.minor, p.description, q.quantity, pr.unit_price,
               CASE WHEN v.export OR pg_temp.u2(v.i, l.l, 'invl.exempt') < 0.08 THEN 0::numeric ELSE o.tax_rate END AS tax_rate,
               round(q.quantity * pr.unit_price, v.minor) AS amount, a.id AS revenue_account_id
          FROM seed_inv0 AS v
          JOIN seed_org AS o USING (org_no)
         CROSS JOIN LATERAL generate_series(1, v.k) AS l(l)
          JOIN seed_product AS p ON p.idx = floor(pg_temp.u2(v.i, l.l, 'invl.product') * ${PRODUCTS.length})::int
         CROSS JOIN LATERAL (SELECT (CASE WHEN p.hourly THEN (1 + floor(pg_temp.u2(v.i, l.l, 'invl.qty') * p.max_qty * 4)) / 4
                                          ELSE 1 + floor(pg_temp.u2(v.i, l.l, 'invl.qty') ^ 2 * p.max_qty) END)::numeric AS quantity) AS q
         CROSS JOIN LATERAL (SELECT round((p.usd * (0.85 + 0.3 * pg_temp.u2(v.i, l.l, 'invl.price')) * v.per_usd)::numeric, v.minor) AS unit_price) AS pr
          JOIN seed_acct AS a ON a.org_no = v.org_no AND a.code = p.revenue) AS x;

CREATE TEMP TABLE seed_inv AS
SELECT v.*, t.subtotal, t.tax_total, t.subtotal + t.tax_total AS total,
       CASE WHEN v.us < 0.02 THEN 'DRAFT' WHEN v.us < 0.04 THEN 'VOID' END AS fixed_status,
       -- payer behaviour: n none, p one partial payment, 2 two instalments, f one full payment
       CASE WHEN v.up < 0.07 THEN 'n' WHEN v.up < 0.15 THEN 'p' WHEN v.up < 0.27 THEN '2' ELSE 'f' END AS payer,
       pg_temp.wd(v.issue_date + round(v.terms * (0.4 + 0.9 * pg_temp.u(v.i, 'inv.delay')))::int
                  + CASE WHEN pg_temp.u(v.i, 'inv.late') < 0.15 THEN 10 + floor(pg_temp.u(v.i, 'inv.late.days') * 60)::int ELSE 0 END) AS pay1_date,
       pg_temp.at(v.issue_date, 28800 + pg_temp.u(v.i, 'inv.created') * 32400) AS created_at,
       pg_temp.pick(ma.ids, pg_temp.u(v.i, 'inv.author')) AS created_by
  FROM seed_inv0 AS v
  JOIN (SELECT i, sum(amount) AS subtotal, sum(tax) AS tax_total FROM seed_invl GROUP BY i) AS t USING (i)
  JOIN seed_member AS ma ON ma.org_no = v.org_no AND ma.role = 'author';

CREATE TEMP TABLE seed_pay AS
SELECT p.*, pg_temp.uid('payment', p.key) AS id, pg_temp.uid('payment_application', p.key) AS application_id,
       pg_temp.at(p.received_on, 32400 + pg_temp.u(p.key, 'pay.time') * 28800) AS created_at
  FROM (SELECT v.i, 1 AS n, v.i * 2 AS key, v.org_no, v.customer_id, v.currency, v.pay1_date AS received_on,
               CASE WHEN v.payer = 'f' THEN v.total
                    WHEN v.payer = 'p' THEN round(v.total * (0.2 + 0.6 * pg_temp.u(v.i, 'pay.fraction'))::numeric, v.minor)
                    ELSE round(v.total * (0.3 + 0.4 * pg_temp.u(v.i, 'pay.fraction'))::numeric, v.minor) END AS amount
          FROM seed_inv AS v
         WHERE v.fixed_status IS NULL AND v.payer <> 'n' AND v.pay1_date <= date '${YEAR_END}'
        UNION ALL
        SELECT v.i, 2, v.i * 2 + 1, v.org_no, v.customer_id, v.currency, s.d,
               v.total - round(v.total * (0.3 + 0.4 * pg_temp.u(v.i, 'pay.fraction'))::numeric, v.minor)
          FROM seed_inv AS v
         CROSS JOIN LATERAL (SELECT pg_temp.wd(v.pay1_date + 14 + floor(pg_temp.u(v.i, 'pay.second') * 31)::int) AS d) AS s
         WHERE v.fixed_status IS NULL AND v.payer = '2' AND v.pay1_date <= date '${YEAR_END}' AND s.d <= date '${YEAR_END}') AS p;

CREATE TEMP TABLE seed_inv_final AS
SELECT v.*, coalesce(pd.paid, 0) AS amount_paid, pd.last_paid_at,
       coalesce(v.fixed_status, CASE WHEN pd.paid = v.total THEN 'PAID' WHEN pd.paid > 0 THEN 'PARTIALLY_PAID' ELSE 'SENT' END) AS status,
       CASE WHEN v.fixed_status IS DISTINCT FROM 'DRAFT' THEN v.created_at + make_interval(secs => 600 + floor(pg_temp.u(v.i, 'inv.sent') * 21600)::int) END AS sent_at,
       'INV-' || extract(year FROM v.issue_date) || '-' || lpad(row_number() OVER (PARTITION BY v.org_no ORDER BY v.issue_date, v.created_at, v.i)::text, 6, '0') AS number
  FROM seed_inv AS v
  LEFT JOIN (SELECT i, sum(amount) AS paid, max(created_at) AS last_paid_at FROM seed_pay GROUP BY i) AS pd USING (i);
ANALYZE seed_inv0, seed_invl, seed_inv, seed_pay, seed_inv_final;`,
    },
  ];
}

/**
 * Every journal entry (invoice, payment, manual, system, FX revaluation, opening balance, reversal)
 * planned in one temp table, then numbered: ids follow creation time, entry numbers count per
 * organization, and `first_line` reserves a contiguous block of JournalLine ids per entry.
 */
export function journalPlan(plan: VolumePlan, weights: number[], organizations: number): Statement[] {
  const manualOrg = orgCase("pg_temp.u(m, 'man.org')", weights);
  return [
    {
      label: 'plan journal entries',
      sql: `
CREATE TEMP TABLE seed_man AS
SELECT b.*, o.base AS currency, o.minor,
       round(((CASE b.source
                 WHEN 'OPENING_BALANCE' THEN 50000 + 2000000 * pg_temp.u(b.m, 'man.total')
                 WHEN 'SYSTEM' THEN 500 + 40000 * pg_temp.u(b.m, 'man.total') * pg_temp.u(b.m, 'man.total2')
                 WHEN 'FX_REVALUATION' THEN 50 + 5000 * pg_temp.u(b.m, 'man.total') * pg_temp.u(b.m, 'man.total2')
                 ELSE 20 + 120000 * pg_temp.u(b.m, 'man.total') * pg_temp.u(b.m, 'man.total2') * pg_temp.u(b.m, 'man.total3') END) * o.per_usd)::numeric, o.minor) AS total
  FROM (SELECT a.*,
               CASE WHEN a.source = 'OPENING_BALANCE' THEN 10
                    WHEN a.source = 'FX_REVALUATION' THEN 2
                    WHEN a.source = 'SYSTEM' THEN 2 + floor(pg_temp.u(a.m, 'man.lines') * 3)::int
                    WHEN pg_temp.u(a.m, 'man.lines') < 0.50 THEN 2 WHEN pg_temp.u(a.m, 'man.lines') < 0.70 THEN 3
                    WHEN pg_temp.u(a.m, 'man.lines') < 0.84 THEN 4 WHEN pg_temp.u(a.m, 'man.lines') < 0.92 THEN 5
                    ELSE 6 + floor(pg_temp.u(a.m, 'man.lines.long') * 5)::int END AS n_lines
          FROM (SELECT m,
                       CASE WHEN m <= ${organizations} THEN m::int ELSE ${manualOrg} END AS org_no,
                       CASE WHEN m <= ${organizations} THEN 'OPENING_BALANCE'
                            WHEN pg_temp.u(m, 'man.source') < 0.12 THEN 'SYSTEM'
                            WHEN pg_temp.u(m, 'man.source') < 0.15 THEN 'FX_REVALUATION'
                            ELSE 'MANUAL' END AS source,
                       pg_temp.u(m, 'man.status') AS us
                  FROM generate_series(1, ${plan.manualEntries}) AS m) AS a) AS b
  JOIN seed_org AS o USING (org_no);

CREATE TEMP TABLE seed_je_src AS
-- kind 1: an invoice posted when sent (a voided invoice's entry is voided with it)
SELECT 1 AS kind, v.i AS key, v.org_no, v.issue_date AS entry_date,
       CASE WHEN v.status = 'VOID' THEN 'VOID' ELSE 'POSTED' END AS status, 'INVOICE' AS source, v.currency,
       v.k + CASE WHEN v.tax_total > 0 THEN 2 ELSE 1 END AS n_lines,
       'Invoice ' || v.number AS description, v.number AS reference,
       v.created_by, v.created_by AS posted_by, v.sent_at AS created_at, v.sent_at + interval '1 second' AS posted_at,
       CASE WHEN v.status = 'VOID' THEN v.sent_at + make_interval(days => 1 + floor(pg_temp.u(v.i, 'inv.void') * 10)::int) ELSE v.sent_at + interval '1 second' END AS updated_at
  FROM seed_inv_final AS v WHERE v.status <> 'DRAFT'
UNION ALL
-- kind 2: a customer payment, posted on receipt
SELECT 2, p.key, p.org_no, p.received_on, 'POSTED', 'PAYMENT', p.currency, 2,
       'Payment received for ' || v.number, v.number, v.created_by, v.created_by,
       p.created_at, p.created_at + interval '1 second', p.created_at + interval '1 second'
  FROM seed_pay AS p JOIN seed_inv_final AS v USING (i)
UNION ALL
-- kind 3: manual, system, FX revaluation and opening-balance entries
SELECT 3, x.m, x.org_no, x.entry_date, x.status, x.source, x.currency, x.n_lines, x.description, x.reference,
       x.created_by, CASE WHEN x.status <> 'DRAFT' THEN x.posted_by END, x.created_at,
       CASE WHEN x.status <> 'DRAFT' THEN x.posted_at END,
       CASE x.status WHEN 'DRAFT' THEN x.created_at + make_interval(secs => floor(pg_temp.u(x.m, 'man.edited') * 7200)::int)
                     WHEN 'VOID' THEN x.posted_at + make_interval(days => 1 + floor(pg_temp.u(x.m, 'man.voided') * 5)::int)
                     ELSE x.posted_at END
  FROM (SELECT s.*, pg_temp.at(s.entry_date, 25200 + pg_temp.u(s.m, 'man.created') * 39600) AS created_at,
               pg_temp.at(s.entry_date, 25200 + pg_temp.u(s.m, 'man.created') * 39600)
                 + make_interval(secs => 300 + floor(pg_temp.u(s.m, 'man.posted') ^ 2 * 259200)::int) AS posted_at
          FROM (SELECT e.*,
                       CASE e.source WHEN 'OPENING_BALANCE' THEN date '${EPOCH}'
                                     WHEN 'MANUAL' THEN pg_temp.wd(date '${EPOCH}' + floor(pg_temp.u(e.m, 'man.day') * 365)::int)
                                     ELSE (date '${EPOCH}' + make_interval(months => 1 + floor(pg_temp.u(e.m, 'man.month') * 12)::int) - interval '1 day')::date END AS entry_date,
                       CASE WHEN e.source <> 'MANUAL' THEN 'POSTED' WHEN e.us < 0.03 THEN 'DRAFT' WHEN e.us < 0.04 THEN 'VOID' ELSE 'POSTED' END AS status,
                       CASE e.source
                         WHEN 'OPENING_BALANCE' THEN 'Opening balances ${EPOCH.slice(0, 4)}'
                         WHEN 'SYSTEM' THEN CASE WHEN pg_temp.u(e.m, 'man.kind') < 0.5 THEN 'Depreciation run' ELSE 'Payroll accrual' END
                         WHEN 'FX_REVALUATION' THEN 'FX revaluation of foreign-currency balances'
                         ELSE (${textArray(MANUAL_DESCRIPTIONS)})[1 + floor(pg_temp.u(e.m, 'man.description') * ${MANUAL_DESCRIPTIONS.length})::int] END AS description,
                       CASE WHEN e.source = 'MANUAL' AND pg_temp.u(e.m, 'man.ref') < 0.35 THEN 'MJ-' || upper(substr(pg_temp.hex(e.m, 'man.ref.text'), 1, 8)) END AS reference,
                       pg_temp.pick(ma.ids, pg_temp.u(e.m, 'man.author')) AS created_by,
                       pg_temp.pick(mp.ids, pg_temp.u(e.m, 'man.approver')) AS posted_by
                  FROM seed_man AS e
                  JOIN seed_member AS ma ON ma.org_no = e.org_no AND ma.role = 'author'
                  JOIN seed_member AS mp ON mp.org_no = e.org_no AND mp.role = 'approver') AS s) AS x;

-- kind 4: about 1% of posted manual entries are reversed a few days later by a mirror entry
INSERT INTO seed_je_src
SELECT 4, s.key, s.org_no, r.d, 'POSTED', 'MANUAL', s.currency, s.n_lines, 'Reversal: ' || s.description, s.reference,
       s.posted_by, s.posted_by, pg_temp.at(r.d, 28800 + pg_temp.u(s.key, 'rev.time') * 28800),
       pg_temp.at(r.d, 28800 + pg_temp.u(s.key, 'rev.time') * 28800) + interval '2 minutes',
       pg_temp.at(r.d, 28800 + pg_temp.u(s.key, 'rev.time') * 28800) + interval '2 minutes'
  FROM seed_je_src AS s
 CROSS JOIN LATERAL (SELECT pg_temp.wd((s.posted_at AT TIME ZONE 'UTC')::date + 1 + floor(pg_temp.u(s.key, 'rev.delay') * 5)::int) AS d) AS r
 WHERE s.kind = 3 AND s.source = 'MANUAL' AND s.status = 'POSTED' AND s.entry_date <= date '${YEAR_END}' - 10
   AND pg_temp.u(s.key, 'rev.pick') < 0.012;

-- Numbered on a narrow projection: sorting 300k (kind, key, dates) rows is far cheaper than sorting the
-- full rows, which are joined back afterwards.
CREATE TEMP TABLE seed_je_num AS
SELECT s.kind, s.key,
       row_number() OVER w AS id,
       row_number() OVER (PARTITION BY s.org_no ORDER BY s.entry_date, s.created_at, s.kind, s.key)::int AS entry_number,
       sum(s.n_lines) OVER (w ROWS UNBOUNDED PRECEDING) - s.n_lines + 1 AS first_line
  FROM (SELECT kind, key, org_no, entry_date, created_at, n_lines FROM seed_je_src) AS s
WINDOW w AS (ORDER BY s.entry_date, s.created_at, s.kind, s.key);
CREATE TEMP TABLE seed_je AS SELECT s.*, n.id, n.entry_number, n.first_line FROM seed_je_src AS s JOIN seed_je_num AS n USING (kind, key);
CREATE UNIQUE INDEX ON seed_je (kind, key);
ANALYZE seed_man, seed_je;`,
    },
  ];
}

/** The application tables, in foreign-key order. */
export function loadStatements(plan: VolumePlan, weights: number[]): Statement[] {
  return [
    {
      label: 'JournalEntry',
      table: 'JournalEntry',
      sql: `
INSERT INTO "JournalEntry" ("id", "organizationId", "entryNumber", "entryDate", "status", "source", "description", "reference",
                            "currencyCode", "exchangeRate", "reversalOfId", "createdById", "postedById", "postedAt", "createdAt", "updatedAt")
SELECT j.id, o.id, j.entry_number, j.entry_date, j.status::"JournalStatus", j.source::"JournalSource", j.description, j.reference,
       j.currency, CASE WHEN j.currency = o.base THEN 1 ELSE round(1 / er."rate", 10) END,
       orig.id, j.created_by, j.posted_by, j.posted_at, j.created_at, j.updated_at
  FROM seed_je AS j
  JOIN seed_org AS o USING (org_no)
  LEFT JOIN "ExchangeRate" AS er ON j.currency <> o.base AND er."organizationId" = o.id AND er."baseCurrencyCode" = o.base
                                 AND er."quoteCurrencyCode" = j.currency AND er."rateDate" = j.entry_date
  LEFT JOIN seed_je AS orig ON j.kind = 4 AND orig.kind = 3 AND orig.key = j.key
 ORDER BY j.id`,
    },
    {
      label: 'JournalLine (invoices)',
      table: 'JournalLine',
      // Receivable debit = total = Σ revenue credits + tax credit: balanced by construction.
      sql: `
INSERT INTO "JournalLine" ("id", "organizationId", "journalEntryId", "lineNumber", "accountId", "side", "amount", "memo", "createdAt")
SELECT j.first_line + x.line_number - 1, o.id, j.id, x.line_number, x.account_id, x.side::"EntrySide", x.amount, x.memo, j.created_at
  FROM (SELECT v.i, 1 AS line_number, ar.id AS account_id, 'DEBIT' AS side, v.total AS amount, NULL::text AS memo
          FROM seed_inv_final AS v JOIN seed_acct AS ar ON ar.org_no = v.org_no AND ar.code = '1200'
         WHERE v.status <> 'DRAFT'
        UNION ALL
        SELECT l.i, 1 + l.l, l.revenue_account_id, 'CREDIT', l.amount, l.description
          FROM seed_invl AS l
        UNION ALL
        SELECT v.i, v.k + 2, tx.id, 'CREDIT', v.tax_total, 'Sales tax / VAT'
          FROM seed_inv_final AS v JOIN seed_acct AS tx ON tx.org_no = v.org_no AND tx.code = '2200'
         WHERE v.status <> 'DRAFT' AND v.tax_total > 0) AS x
  JOIN seed_je AS j ON j.kind = 1 AND j.key = x.i
  JOIN seed_org AS o USING (org_no)
 ORDER BY 1`,
    },
    {
      label: 'JournalLine (payments)',
      table: 'JournalLine',
      sql: `
INSERT INTO "JournalLine" ("id", "organizationId", "journalEntryId", "lineNumber", "accountId", "side", "amount", "memo", "createdAt")
SELECT j.first_line + x.line_number - 1, o.id, j.id, x.line_number, x.account_id, x.side::"EntrySide", p.amount, x.memo, j.created_at
  FROM seed_je AS j
  JOIN seed_org AS o USING (org_no)
  JOIN seed_pay AS p ON j.kind = 2 AND p.key = j.key
  JOIN seed_bank AS base_bank ON base_bank.org_no = p.org_no AND base_bank.currency = o.base
  LEFT JOIN seed_bank AS fx_bank ON fx_bank.org_no = p.org_no AND fx_bank.currency = p.currency
  JOIN seed_acct AS ar ON ar.org_no = p.org_no AND ar.code = '1200'
 CROSS JOIN LATERAL (VALUES (1, coalesce(fx_bank.id, base_bank.id), 'DEBIT', 'Customer payment'), (2, ar.id, 'CREDIT', NULL)) AS x(line_number, account_id, side, memo)
 ORDER BY 1`,
    },
    {
      label: 'JournalLine (manual)',
      table: 'JournalLine',
      // Amounts: the entry total is cut at increasing breakpoints b(0) = 0 < b(1) < … < b(n) = 1 on each
      // side, and line k gets round(T·b(k)) − round(T·b(k−1)). Each breakpoint depends only on
      // (entry, side, k), so a line is computed alone, no amount is negative, and each side sums to
      // exactly T: the entry balances by construction, in any row order.
      sql: `
INSERT INTO "JournalLine" ("id", "organizationId", "journalEntryId", "lineNumber", "accountId", "side", "amount", "memo", "createdAt")
SELECT j.first_line + g.l - 1, o.id, j.id, g.l, pool.ids[1 + CASE WHEN e.source = 'OPENING_BALANCE' THEN (s.k - 1) % cardinality(pool.ids)
                                                            ELSE floor(pg_temp.u2(e.m, g.l, 'line.account') * cardinality(pool.ids))::int END],
       (CASE WHEN s.debit <> (j.kind = 4) THEN 'DEBIT' ELSE 'CREDIT' END)::"EntrySide",
       (CASE WHEN s.k = s.cnt THEN e.total ELSE round((e.total * s.b_hi)::numeric, e.minor) END)
         - (CASE WHEN s.k = 1 THEN 0 ELSE round((e.total * s.b_lo)::numeric, e.minor) END),
       CASE WHEN e.source = 'OPENING_BALANCE' THEN 'Opening balance' END,
       j.created_at
  FROM seed_je AS j
  JOIN seed_man AS e ON j.kind IN (3, 4) AND e.m = j.key
  JOIN seed_org AS o ON o.org_no = e.org_no
 CROSS JOIN LATERAL generate_series(1, e.n_lines) AS g(l)
 CROSS JOIN LATERAL (SELECT CASE WHEN e.source IN ('OPENING_BALANCE') THEN e.n_lines / 2
                                 WHEN e.n_lines = 2 OR e.source = 'FX_REVALUATION' THEN 1
                                 ELSE 1 + floor(pg_temp.u(e.m, 'line.debits') * (e.n_lines - 1))::int END AS d) AS dd
 CROSS JOIN LATERAL (SELECT g.l <= dd.d AS debit,
                            CASE WHEN g.l <= dd.d THEN g.l ELSE g.l - dd.d END AS k,
                            CASE WHEN g.l <= dd.d THEN dd.d ELSE e.n_lines - dd.d END AS cnt) AS s0
 CROSS JOIN LATERAL (SELECT s0.*,
                            (s0.k - 0.85 + 0.7 * pg_temp.u2(e.m, (CASE WHEN s0.debit THEN 0 ELSE 32 END) + s0.k, 'line.cut')) / s0.cnt AS b_hi,
                            (s0.k - 1.85 + 0.7 * pg_temp.u2(e.m, (CASE WHEN s0.debit THEN 0 ELSE 32 END) + s0.k - 1, 'line.cut')) / s0.cnt AS b_lo) AS s
  JOIN seed_pool AS pool ON pool.org_no = e.org_no
   AND pool.pool = lower(CASE e.source WHEN 'OPENING_BALANCE' THEN 'ob' WHEN 'FX_REVALUATION' THEN 'fx' ELSE e.source END) || CASE WHEN s.debit THEN '_dr' ELSE '_cr' END
 ORDER BY 1`,
    },
    {
      label: 'Invoice',
      table: 'Invoice',
      sql: `
INSERT INTO "Invoice" ("id", "organizationId", "customerId", "number", "status", "issueDate", "dueDate", "currencyCode", "subtotal", "taxTotal",
                       "total", "amountPaid", "notes", "journalEntryId", "sentAt", "voidedAt", "createdAt", "updatedAt")
SELECT pg_temp.uid('invoice', v.i), o.id, v.customer_id, v.number, v.status::"InvoiceStatus", v.issue_date, v.issue_date + v.terms,
       v.currency, v.subtotal, v.tax_total, v.total, v.amount_paid,
       CASE WHEN pg_temp.u(v.i, 'inv.notes') < 0.25 THEN 'PO ' || (4500000000 + floor(pg_temp.u(v.i, 'inv.po') * 999999))::bigint END,
       j.id, v.sent_at, CASE WHEN v.status = 'VOID' THEN j.updated_at END, v.created_at,
       greatest(v.created_at, v.sent_at, CASE WHEN v.status = 'VOID' THEN j.updated_at END, v.last_paid_at)
  FROM seed_inv_final AS v
  JOIN seed_org AS o USING (org_no)
  LEFT JOIN seed_je AS j ON j.kind = 1 AND j.key = v.i
 ORDER BY v.i`,
    },
    {
      label: 'InvoiceLine',
      table: 'InvoiceLine',
      sql: `
INSERT INTO "InvoiceLine" ("id", "organizationId", "invoiceId", "lineNumber", "description", "quantity", "unitPrice", "taxRate", "amount", "revenueAccountId", "createdAt")
SELECT pg_temp.uid('invoice_line', l.i * 8 + l.l), o.id, pg_temp.uid('invoice', l.i), l.l, l.description, l.quantity, l.unit_price, l.tax_rate, l.amount,
       l.revenue_account_id, v.created_at
  FROM seed_invl AS l
  JOIN seed_org AS o USING (org_no)
  JOIN seed_inv_final AS v USING (i)
 ORDER BY l.i, l.l`,
    },
    {
      label: 'Payment',
      table: 'Payment',
      sql: `
INSERT INTO "Payment" ("id", "organizationId", "customerId", "method", "reference", "receivedOn", "amount", "currencyCode", "depositAccountId",
                       "journalEntryId", "createdAt", "updatedAt")
SELECT p.id, o.id, p.customer_id, m.method::"PaymentMethod",
       CASE m.method WHEN 'BANK_TRANSFER' THEN 'TRF-' || upper(substr(pg_temp.hex(p.key, 'pay.ref'), 1, 12))
                     WHEN 'CARD' THEN 'ch_' || pg_temp.hex(p.key, 'pay.ref')
                     WHEN 'CHEQUE' THEN 'CHQ ' || (100000 + floor(pg_temp.u(p.key, 'pay.cheque') * 900000))::int END,
       p.received_on, p.amount, p.currency, coalesce(fx_bank.id, base_bank.id), j.id, p.created_at, p.created_at
  FROM seed_pay AS p
  JOIN seed_org AS o USING (org_no)
  JOIN seed_je AS j ON j.kind = 2 AND j.key = p.key
  JOIN seed_bank AS base_bank ON base_bank.org_no = p.org_no AND base_bank.currency = o.base
  LEFT JOIN seed_bank AS fx_bank ON fx_bank.org_no = p.org_no AND fx_bank.currency = p.currency
 CROSS JOIN LATERAL (SELECT CASE WHEN pg_temp.u(p.key, 'pay.method') < 0.70 THEN 'BANK_TRANSFER' WHEN pg_temp.u(p.key, 'pay.method') < 0.88 THEN 'CARD'
                                 WHEN pg_temp.u(p.key, 'pay.method') < 0.94 THEN 'CHEQUE' WHEN pg_temp.u(p.key, 'pay.method') < 0.97 THEN 'CASH'
                                 ELSE 'OTHER' END AS method) AS m
 ORDER BY p.key`,
    },
    {
      label: 'PaymentApplication',
      table: 'PaymentApplication',
      sql: `
INSERT INTO "PaymentApplication" ("id", "organizationId", "paymentId", "invoiceId", "amount", "appliedAt")
SELECT p.application_id, o.id, p.id, pg_temp.uid('invoice', p.i), p.amount, p.created_at + interval '5 seconds'
  FROM seed_pay AS p
  JOIN seed_org AS o USING (org_no)
 ORDER BY p.key`,
    },
    {
      label: 'AuditEvent',
      table: 'AuditEvent',
      sql: `
INSERT INTO "AuditEvent" ("id", "organizationId", "actorUserId", "action", "entityType", "entityId", "payload", "ipAddress", "requestId", "occurredAt")
SELECT row_number() OVER (ORDER BY a.occurred_at, a.kind, a.key), o.id, a.actor, a.action, a.entity_type, a.entity_id, a.payload, u.ip,
       CASE WHEN a.actor IS NOT NULL THEN 'req_' || pg_temp.hex(a.kind * 100000000 + a.key, 'audit.request') END, a.occurred_at
  FROM (SELECT 1 AS kind, v.i AS key, v.org_no, v.created_by AS actor, 'invoice.created' AS action, 'Invoice' AS entity_type,
               pg_temp.uid('invoice', v.i)::text AS entity_id, jsonb_build_object('number', v.number, 'currency', v.currency) AS payload, v.created_at AS occurred_at
          FROM seed_inv_final AS v
        UNION ALL
        SELECT 2, v.i, v.org_no, v.created_by, 'invoice.sent', 'Invoice', pg_temp.uid('invoice', v.i)::text,
               jsonb_build_object('number', v.number, 'total', v.total::text, 'currency', v.currency, 'dueInDays', v.terms), v.sent_at
          FROM seed_inv_final AS v WHERE v.sent_at IS NOT NULL
        UNION ALL
        SELECT 3, v.i, v.org_no, j.posted_by, 'invoice.voided', 'Invoice', pg_temp.uid('invoice', v.i)::text,
               jsonb_build_object('number', v.number, 'reason', 'Issued in error'), j.updated_at
          FROM seed_inv_final AS v JOIN seed_je AS j ON j.kind = 1 AND j.key = v.i WHERE v.status = 'VOID'
        UNION ALL
        SELECT 4, p.key, p.org_no, v.created_by, 'payment.recorded', 'Payment', p.id::text,
               jsonb_build_object('amount', p.amount::text, 'currency', p.currency, 'invoice', v.number), p.created_at
          FROM seed_pay AS p JOIN seed_inv_final AS v USING (i)
        UNION ALL
        SELECT 5, j.key * 2 + j.kind - 3, j.org_no, CASE WHEN j.status = 'DRAFT' THEN j.created_by ELSE j.posted_by END,
               CASE j.status WHEN 'DRAFT' THEN 'journal_entry.created' WHEN 'VOID' THEN 'journal_entry.voided' ELSE 'journal_entry.posted' END,
               'JournalEntry', j.id::text, jsonb_build_object('entryNumber', j.entry_number, 'source', j.source, 'lines', j.n_lines),
               CASE j.status WHEN 'DRAFT' THEN j.created_at WHEN 'VOID' THEN j.updated_at ELSE j.posted_at END
          FROM seed_je AS j WHERE j.kind IN (3, 4)
        UNION ALL
        SELECT 6, g.n, mem.org_no, pg_temp.pick(mem.ids, pg_temp.u(g.n, 'login.user')), 'user.login', 'User',
               pg_temp.pick(mem.ids, pg_temp.u(g.n, 'login.user'))::text,
               jsonb_build_object('method', CASE WHEN pg_temp.u(g.n, 'login.method') < 0.7 THEN 'password' ELSE 'sso' END),
               pg_temp.at(pg_temp.wd(date '${EPOCH}' + floor(pg_temp.u(g.n, 'login.day') * 365)::int), 25200 + pg_temp.u(g.n, 'login.time') * 10800)
          FROM generate_series(1, ${plan.logins}) AS g(n)
          JOIN seed_member AS mem ON mem.role = 'any' AND mem.org_no = ${orgCase("pg_temp.u(g.n, 'login.org')", weights)}
        UNION ALL
        SELECT 7, d.n * 100 + o.org_no, o.org_no, NULL::uuid, 'exchange_rates.imported', 'ExchangeRate', o.base || ':' || (date '${EPOCH}' + d.n),
               jsonb_build_object('source', 'ecb', 'date', (date '${EPOCH}' + d.n)::text), pg_temp.at(date '${EPOCH}' + d.n, 59400)
          FROM seed_org AS o CROSS JOIN generate_series(0, 364) AS d(n)
         WHERE extract(isodow FROM date '${EPOCH}' + d.n) < 6) AS a
  JOIN seed_org AS o USING (org_no)
  LEFT JOIN seed_user AS u ON u.id = a.actor
 ORDER BY a.occurred_at, a.kind, a.key`,
    },
  ];
}

/** Application tables with a bigint identity: their sequences continue after the seeded ids. */
export const SEQUENCED_TABLES = ['JournalEntry', 'JournalLine', 'ExchangeRate', 'AuditEvent'] as const;
