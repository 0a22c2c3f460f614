-- Rollback of 20260818134500_journal_entry_source: drops JournalEntry.source (and with it the backfilled values, which are derived from Invoice/Payment links), its index and the JournalSource enum
-- Generated: `prisma migrate diff --from-schema <this version> --to-schema <previous version> --script`

-- DropIndex
DROP INDEX "JournalEntry_organizationId_source_entryDate_idx";

-- AlterTable
ALTER TABLE "JournalEntry" DROP COLUMN "source";

-- DropEnum
DROP TYPE "JournalSource";
