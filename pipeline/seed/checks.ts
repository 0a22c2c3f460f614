/**
 * What the seed checks before and after loading: the schema is migrated, the database holds no
 * AstroFinance data yet, whether triggers may be skipped while loading, and that the loaded data obeys
 * every rule the skipped triggers enforce.
 */
import type { Client } from '../infra/db/client.ts';
import { quoteIdent, quoteLiteral } from '../infra/db/url.ts';
import { foreignKeys as foreignKeyList, orphanCounts } from '../infra/db/constraints.ts';

/** Tables and columns the seed writes: present once every migration in prisma/migrations is applied. */
export const REQUIRED_COLUMNS: Record<string, string[]> = {
  Currency: ['code', 'name', 'symbol', 'minorUnits', 'isActive'],
  Organization: ['id', 'slug', 'name', 'baseCurrencyCode', 'fiscalYearStartMonth', 'createdAt', 'updatedAt'],
  User: ['id', 'email', 'displayName', 'passwordHash', 'isActive', 'lastLoginAt', 'createdAt', 'updatedAt'],
  Membership: ['id', 'organizationId', 'userId', 'role', 'createdAt', 'updatedAt'],
  Account: ['id', 'organizationId', 'code', 'name', 'type', 'parentId', 'currencyCode', 'isPostable', 'isArchived', 'description', 'createdAt', 'updatedAt'],
  ExchangeRate: ['id', 'organizationId', 'baseCurrencyCode', 'quoteCurrencyCode', 'rateDate', 'rate', 'source', 'createdAt'],
  Customer: ['id', 'organizationId', 'code', 'name', 'email', 'taxId', 'currencyCode', 'createdAt', 'updatedAt'],
  JournalEntry: [
    'id',
    'organizationId',
    'entryNumber',
    'entryDate',
    'status',
    'source',
    'description',
    'reference',
    'currencyCode',
    'exchangeRate',
    'reversalOfId',
    'createdById',
    'postedById',
    'postedAt',
    'createdAt',
    'updatedAt',
  ],
  JournalLine: ['id', 'organizationId', 'journalEntryId', 'lineNumber', 'accountId', 'side', 'amount', 'memo', 'createdAt'],
  Invoice: [
    'id',
    'organizationId',
    'customerId',
    'number',
    'status',
    'issueDate',
    'dueDate',
    'currencyCode',
    'subtotal',
    'taxTotal',
    'total',
    'amountPaid',
    'notes',
    'journalEntryId',
    'sentAt',
    'voidedAt',
    'createdAt',
    'updatedAt',
  ],
  InvoiceLine: [
    'id',
    'organizationId',
    'invoiceId',
    'lineNumber',
    'description',
    'quantity',
    'unitPrice',
    'taxRate',
    'amount',
    'revenueAccountId',
    'createdAt',
  ],
  Payment: [
    'id',
    'organizationId',
    'customerId',
    'method',
    'reference',
    'receivedOn',
    'amount',
    'currencyCode',
    'depositAccountId',
    'journalEntryId',
    'createdAt',
    'updatedAt',
  ],
  PaymentApplication: ['id', 'organizationId', 'paymentId', 'invoiceId', 'amount', 'appliedAt'],
  AuditEvent: ['id', 'organizationId', 'actorUserId', 'action', 'entityType', 'entityId', 'payload', 'ipAddress', 'requestId', 'occurredAt'],
};

/** Every table the seed fills, in foreign-key order. */
export const SEEDED_TABLES = Object.keys(REQUIRED_COLUMNS);
/** Tables filled by the bulk SQL (the rest go through Prisma). */
export const BULK_TABLES = ['JournalEntry', 'JournalLine', 'Invoice', 'InvoiceLine', 'Payment', 'PaymentApplication', 'AuditEvent'];
/** Enum labels added by later migrations that the seed uses. */
const REQUIRED_ENUM_LABELS: Array<[string, string]> = [
  ['InvoiceStatus', 'PARTIALLY_PAID'],
  ['JournalSource', 'OPENING_BALANCE'],
];

export interface SchemaGaps {
  missingTables: string[];
  missingColumns: string[];
  missingEnumLabels: string[];
}

export async function schemaGaps(client: Client, schema: string): Promise<SchemaGaps> {
  const { rows: columns } = await client.query<{ table_name: string; column_name: string }>(
    'SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = $1',
    [schema],
  );
  const { rows: labels } = await client.query<{ typname: string; enumlabel: string }>(
    `SELECT t.typname, e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = $1`,
    [schema],
  );
  const have = new Set(columns.map((c) => `${c.table_name}.${c.column_name}`));
  const tables = new Set(columns.map((c) => c.table_name));
  const missingTables = SEEDED_TABLES.filter((t) => !tables.has(t));
  const missingColumns = SEEDED_TABLES.filter((t) => tables.has(t)).flatMap((t) =>
    REQUIRED_COLUMNS[t]!.filter((c) => !have.has(`${t}.${c}`)).map((c) => `${t}.${c}`),
  );
  const enumHave = new Set(labels.map((l) => `${l.typname}.${l.enumlabel}`));
  const missingEnumLabels = REQUIRED_ENUM_LABELS.map(([t, l]) => `${t}.${l}`).filter((k) => !enumHave.has(k));
  return { missingTables, missingColumns, missingEnumLabels };
}

/** Tables (currencies aside: shared reference data a migration may have loaded) that already hold rows. */
export async function tablesWithData(client: Client): Promise<string[]> {
  const tenant = SEEDED_TABLES.filter((t) => t !== 'Currency');
  const { rows } = await client.query<{ t: string }>(
    tenant.map((t) => `SELECT ${quoteLiteral(t)} AS t WHERE EXISTS (SELECT 1 FROM ${quoteIdent(t)})`).join(' UNION ALL '),
  );
  return rows.map((r) => r.t);
}

// md5 of the body of journal_entry_assert_balanced() as migration 20260203141500 creates it (CRs removed).
// The fast path re-implements exactly this rule, so any other body makes the seed keep triggers on.
const BALANCE_FUNCTION_MD5 = '05a2d3d75d42e324b9241540528a75aa';
const KNOWN_TRIGGERS = new Map([
  ['JournalEntry', 'JournalEntry_balanced'],
  ['JournalLine', 'JournalLine_balanced'],
]);
// Child-side FK checks are re-done by verifyLoad; parent-side actions only fire on UPDATE/DELETE of the
// referenced row, which the seed never does.
const RI_FUNCTION = /^RI_FKey_(check_(ins|upd)|(noaction|restrict|cascade|setnull|setdefault)_(del|upd))$/;

export type LoadMode = { kind: 'verified' } | { kind: 'triggers'; reason: string };

/**
 * Whether the bulk load may run with `session_replication_role = replica`, which skips triggers for
 * this transaction only (nothing is disabled in the catalog). Allowed only when the role may set it and
 * every trigger on the bulk tables is one whose rule verifyLoad re-checks before COMMIT.
 */
export async function chooseLoadMode(client: Client, schema: string): Promise<LoadMode> {
  const {
    rows: [priv],
  } = await client.query<{ allowed: boolean }>(
    `SELECT current_setting('is_superuser') = 'on'
            OR (current_setting('server_version_num')::int >= 150000
                AND has_parameter_privilege(current_user, 'session_replication_role', 'SET')) AS allowed`,
  );
  if (!priv?.allowed) return { kind: 'triggers', reason: 'the role may not set session_replication_role (superuser or GRANT SET ON PARAMETER needed)' };
  const { rows: triggers } = await client.query<{ rel: string; tgname: string; internal: boolean; enabled: string; fn: string; body_md5: string }>(
    `SELECT c.relname AS rel, t.tgname, t.tgisinternal AS internal, t.tgenabled AS enabled, p.proname AS fn,
            md5(replace(p.prosrc, E'\\r', '')) AS body_md5
       FROM pg_trigger t
       JOIN pg_class c ON c.oid = t.tgrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_proc p ON p.oid = t.tgfoid
      WHERE n.nspname = $1 AND c.relname = ANY($2)`,
    [schema, BULK_TABLES],
  );
  for (const t of triggers) {
    const known = KNOWN_TRIGGERS.get(t.rel) === t.tgname && t.fn === 'journal_entry_assert_balanced' && t.body_md5 === BALANCE_FUNCTION_MD5;
    if (t.internal ? !RI_FUNCTION.test(t.fn) : !known) return { kind: 'triggers', reason: `trigger ${t.tgname} on ${t.rel} is not one the seed can re-check` };
    // 'R' and 'A' triggers would fire *because of* replica mode.
    if (t.enabled !== 'O' && t.enabled !== 'D')
      return { kind: 'triggers', reason: `trigger ${t.tgname} on ${t.rel} is enabled as ${t.enabled === 'A' ? 'ALWAYS' : 'REPLICA'}` };
  }
  const { rows: rules } = await client.query(
    `SELECT 1 FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = ANY($2) AND r.rulename <> '_RETURN'`,
    [schema, BULK_TABLES],
  );
  if (rules.length > 0) return { kind: 'triggers', reason: 'the bulk tables have rewrite rules' };
  return { kind: 'verified' };
}

export interface LoadViolations {
  /** POSTED entries with fewer than two lines or debits ≠ credits (the JournalEntry_balanced rule). */
  unbalancedPostedEntries: number;
  /** Rows whose foreign key has no referenced row, per constraint (only checked when triggers were skipped). */
  foreignKeys: Record<string, number>;
}

/**
 * Set-based re-check of what the triggers enforce, run inside the load transaction before COMMIT. The
 * tables were empty before, so checking every row checks exactly the loaded rows.
 */
export async function verifyLoad(client: Client, schema: string, checkForeignKeys: boolean): Promise<LoadViolations> {
  const {
    rows: [balance],
  } = await client.query<{ n: string }>(`
    SELECT count(*) AS n
      FROM "JournalEntry" AS e
      LEFT JOIN (SELECT "journalEntryId" AS id, count(*) AS lines,
                        coalesce(sum("amount") FILTER (WHERE "side" = 'DEBIT'), 0) AS debit,
                        coalesce(sum("amount") FILTER (WHERE "side" = 'CREDIT'), 0) AS credit
                   FROM "JournalLine" GROUP BY 1) AS s ON s.id = e."id"
     WHERE e."status" = 'POSTED' AND (coalesce(s.lines, 0) < 2 OR s.debit <> s.credit)`);
  const foreignKeys = checkForeignKeys ? await orphanCounts(client, await foreignKeyList(client, { schema, children: BULK_TABLES })) : {};
  return { unbalancedPostedEntries: Number(balance?.n ?? 0), foreignKeys };
}

export interface RebuiltIndex {
  table: string;
  name: string;
  /** pg_get_indexdef(): schema-qualified, with method, opclasses, predicate and storage options. */
  definition: string;
}

/**
 * Secondary indexes of the bulk tables that can be dropped at the start of the load transaction and
 * rebuilt from pg_get_indexdef() before COMMIT, which is much cheaper than maintaining them row by row
 * (a sorted build, WAL-logged page by page, parallel workers). Only indexes that definition recreates
 * exactly qualify: valid, not backing or supporting a constraint, nothing depending on them, default
 * tablespace, no comment, no per-column statistics target, not the clustering or replica-identity
 * index. Everything else stays in place and is maintained as rows arrive.
 */
export async function rebuildableIndexes(client: Client, schema: string): Promise<RebuiltIndex[]> {
  const { rows } = await client.query<RebuiltIndex>(
    `SELECT tc.relname AS "table", ic.relname AS name, pg_get_indexdef(i.indexrelid) AS definition
       FROM pg_index i
       JOIN pg_class ic ON ic.oid = i.indexrelid
       JOIN pg_class tc ON tc.oid = i.indrelid
       JOIN pg_namespace n ON n.oid = tc.relnamespace
      WHERE n.nspname = $1 AND tc.relname = ANY($2)
        AND i.indisvalid AND i.indisready AND i.indislive AND NOT i.indisprimary AND NOT i.indisexclusion
        AND NOT i.indisclustered AND NOT i.indisreplident
        AND ic.reltablespace = 0
        AND obj_description(i.indexrelid, 'pg_class') IS NULL
        AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = i.indexrelid)
        AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = i.indexrelid AND coalesce(a.attstattarget::int, -1) <> -1)
      ORDER BY tc.relname, ic.relname`,
    [schema, BULK_TABLES],
  );
  return rows;
}

/** The balance triggers as the catalog has them now: present and enabled (`O`) after the seed. */
export async function balanceTriggersEnabled(client: Client, schema: string): Promise<boolean> {
  const { rows } = await client.query<{ n: string }>(
    `SELECT count(*) AS n FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND ((c.relname = 'JournalEntry' AND t.tgname = 'JournalEntry_balanced') OR (c.relname = 'JournalLine' AND t.tgname = 'JournalLine_balanced'))
        AND t.tgenabled = 'O'`,
    [schema],
  );
  return Number(rows[0]?.n) === 2;
}
