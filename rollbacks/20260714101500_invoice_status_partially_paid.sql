-- Rollback of 20260714101500_invoice_status_partially_paid: removes the PARTIALLY_PAID value from InvoiceStatus (Postgres cannot drop an enum value, so Prisma recreates the type)
-- Generated: `prisma migrate diff --from-schema <this version> --to-schema <previous version> --script`
-- Hand-edited: the UPDATE after BEGIN maps PARTIALLY_PAID back to SENT (the pre-migration status of a
-- partly paid invoice; still derivable from amountPaid), otherwise the cast to the old type fails.

-- AlterEnum
BEGIN;
UPDATE "Invoice" SET "status" = 'SENT' WHERE "status" = 'PARTIALLY_PAID';
CREATE TYPE "InvoiceStatus_new" AS ENUM ('DRAFT', 'SENT', 'PAID', 'VOID');
ALTER TABLE "Invoice" ALTER COLUMN "status" DROP DEFAULT;
ALTER TABLE "Invoice" ALTER COLUMN "status" TYPE "InvoiceStatus_new" USING ("status"::text::"InvoiceStatus_new");
ALTER TYPE "InvoiceStatus" RENAME TO "InvoiceStatus_old";
ALTER TYPE "InvoiceStatus_new" RENAME TO "InvoiceStatus";
DROP TYPE "InvoiceStatus_old";
ALTER TABLE "Invoice" ALTER COLUMN "status" SET DEFAULT 'DRAFT';
COMMIT;
