-- Rollback of 20260203141500_journal_entries: drops the hand-written balance triggers/function/CHECKs, then JournalEntry, JournalLine and the JournalStatus/EntrySide enums

-- Hand-written inverse of the migration's hand-written section (invisible to Prisma's diff):
-- DropTrigger
DROP TRIGGER "JournalLine_balanced" ON "JournalLine";

-- DropTrigger
DROP TRIGGER "JournalEntry_balanced" ON "JournalEntry";

-- DropFunction
DROP FUNCTION "journal_entry_assert_balanced"();

-- DropCheckConstraint
ALTER TABLE "JournalLine" DROP CONSTRAINT "JournalLine_lineNumber_positive_check";

-- DropCheckConstraint
ALTER TABLE "JournalLine" DROP CONSTRAINT "JournalLine_amount_nonnegative_check";

-- Generated: `prisma migrate diff --from-schema <this version> --to-schema <previous version> --script`

-- DropForeignKey
ALTER TABLE "JournalEntry" DROP CONSTRAINT "JournalEntry_organizationId_fkey";

-- DropForeignKey
ALTER TABLE "JournalEntry" DROP CONSTRAINT "JournalEntry_currencyCode_fkey";

-- DropForeignKey
ALTER TABLE "JournalEntry" DROP CONSTRAINT "JournalEntry_reversalOfId_fkey";

-- DropForeignKey
ALTER TABLE "JournalEntry" DROP CONSTRAINT "JournalEntry_createdById_fkey";

-- DropForeignKey
ALTER TABLE "JournalEntry" DROP CONSTRAINT "JournalEntry_postedById_fkey";

-- DropForeignKey
ALTER TABLE "JournalLine" DROP CONSTRAINT "JournalLine_organizationId_fkey";

-- DropForeignKey
ALTER TABLE "JournalLine" DROP CONSTRAINT "JournalLine_journalEntryId_fkey";

-- DropForeignKey
ALTER TABLE "JournalLine" DROP CONSTRAINT "JournalLine_accountId_fkey";

-- DropTable
DROP TABLE "JournalEntry";

-- DropTable
DROP TABLE "JournalLine";

-- DropEnum
DROP TYPE "JournalStatus";

-- DropEnum
DROP TYPE "EntrySide";
