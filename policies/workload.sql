-- Named queries of the AstroFinance application, run by `dbops rehearse` with
-- EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) before and after the pending migrations of a change.
-- A plan change or a slowdown beyond rehearse.workload in migrations.yaml is reported; a query
-- that fails after the migrations (it uses a column they drop) is an error.
--
-- Each block starts with `-- name: <name>` and holds one statement. Queries are self-contained:
-- the tenant, customer or account they look at is chosen by a subquery in a stable order, so
-- they run unchanged on the synthetic dataset and on a masked staging snapshot.

-- name: trial_balance
-- Debit and credit totals per account of one organization, posted entries only.
SELECT a."code", a."name", a."type",
       sum(CASE WHEN l."side" = 'DEBIT' THEN l."amount" ELSE 0 END) AS debit,
       sum(CASE WHEN l."side" = 'CREDIT' THEN l."amount" ELSE 0 END) AS credit
  FROM "JournalLine" l
  JOIN "JournalEntry" e ON e."id" = l."journalEntryId"
  JOIN "Account" a ON a."id" = l."accountId"
 WHERE l."organizationId" = (SELECT "id" FROM "Organization" ORDER BY "slug" LIMIT 1)
   AND e."status" = 'POSTED'
 GROUP BY a."code", a."name", a."type"
 ORDER BY a."code";

-- name: open_invoices_of_customer
-- What one customer still owes, oldest due date first.
SELECT i."number", i."issueDate", i."dueDate", i."total", i."total" - i."amountPaid" AS open_amount
  FROM "Invoice" i
 WHERE i."customerId" = (SELECT "id" FROM "Customer" ORDER BY "organizationId", "code" LIMIT 1)
   AND i."status" IN ('SENT', 'PARTIALLY_PAID')
 ORDER BY i."dueDate", i."number";

-- name: account_ledger_for_period
-- The journal lines of one account in one month, in posting order.
SELECT e."entryDate", e."entryNumber", e."description", l."lineNumber", l."side", l."amount", l."memo"
  FROM "JournalLine" l
  JOIN "JournalEntry" e ON e."id" = l."journalEntryId"
 WHERE l."accountId" = (SELECT a."id" FROM "Account" a JOIN "Organization" o ON o."id" = a."organizationId"
                         WHERE a."isPostable" ORDER BY o."slug", a."code" LIMIT 1)
   AND e."entryDate" >= DATE '2025-03-01' AND e."entryDate" < DATE '2025-04-01'
   AND e."status" = 'POSTED'
 ORDER BY e."entryDate", e."entryNumber", l."lineNumber";

-- name: aged_receivables
-- Open receivables per organization and age bucket at the end of the year.
SELECT i."organizationId",
       CASE WHEN i."dueDate" >= DATE '2025-12-31' THEN 'current'
            WHEN i."dueDate" >= DATE '2025-12-01' THEN '1-30'
            WHEN i."dueDate" >= DATE '2025-11-01' THEN '31-60'
            ELSE '60+' END AS bucket,
       count(*) AS invoices,
       sum(i."total" - i."amountPaid") AS open_amount
  FROM "Invoice" i
 WHERE i."status" IN ('SENT', 'PARTIALLY_PAID')
 GROUP BY 1, 2
 ORDER BY 1, 2;

-- name: recent_posted_entries
-- The latest posted journal entries of one organization (the journal screen).
SELECT e."id", e."entryNumber", e."entryDate", e."source", e."reference", e."description"
  FROM "JournalEntry" e
 WHERE e."organizationId" = (SELECT "id" FROM "Organization" ORDER BY "slug" LIMIT 1)
   AND e."status" = 'POSTED'
 ORDER BY e."entryDate" DESC, e."entryNumber" DESC
 LIMIT 50;

-- name: invoice_audit_trail
-- Everything that happened to one invoice, newest first.
SELECT ev."occurredAt", ev."action", ev."actorUserId", ev."payload"
  FROM "AuditEvent" ev
  JOIN (SELECT "organizationId", "id"::text AS entity FROM "Invoice" ORDER BY "organizationId", "number" LIMIT 1) inv
    ON ev."organizationId" = inv."organizationId" AND ev."entityId" = inv.entity
 WHERE ev."entityType" = 'Invoice'
 ORDER BY ev."occurredAt" DESC;

-- name: customer_payments
-- Payments received from one customer and the invoices they settled.
SELECT p."receivedOn", p."method", p."amount", i."number", pa."amount" AS applied
  FROM "Payment" p
  JOIN "PaymentApplication" pa ON pa."paymentId" = p."id"
  JOIN "Invoice" i ON i."id" = pa."invoiceId"
 WHERE p."customerId" = (SELECT "id" FROM "Customer" ORDER BY "organizationId", "code" LIMIT 1)
 ORDER BY p."receivedOn", i."number";
