-- CreateEnum
CREATE TYPE "JournalSource" AS ENUM ('MANUAL', 'INVOICE', 'PAYMENT', 'FX_REVALUATION', 'OPENING_BALANCE', 'SYSTEM');

-- AlterTable
ALTER TABLE "JournalEntry" ADD COLUMN     "source" "JournalSource" NOT NULL DEFAULT 'MANUAL';

-- CreateIndex
CREATE INDEX "JournalEntry_organizationId_source_entryDate_idx" ON "JournalEntry"("organizationId", "source", "entryDate");

-- =============================================================================
-- Hand-written below this line (appended after `prisma migrate dev --create-only`;
-- everything above is Prisma's generated SQL, unchanged).
-- =============================================================================

-- Backfill: entries created before this migration get the source of the document that
-- posted them (everything else stays 'MANUAL', the column default). Derived data only:
-- the rollback drops the column, re-applying recomputes it.
UPDATE "JournalEntry" AS je SET "source" = 'INVOICE' FROM "Invoice" AS i WHERE i."journalEntryId" = je."id";

UPDATE "JournalEntry" AS je SET "source" = 'PAYMENT' FROM "Payment" AS p WHERE p."journalEntryId" = je."id";
