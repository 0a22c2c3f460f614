-- Rollback of 20260310110000_fx_rates: drops the hand-written CHECKs, ExchangeRate and JournalEntry.exchangeRate

-- Hand-written inverse of the migration's hand-written section:
-- DropCheckConstraint
ALTER TABLE "JournalEntry" DROP CONSTRAINT "JournalEntry_exchangeRate_positive_check";

-- DropCheckConstraint
ALTER TABLE "ExchangeRate" DROP CONSTRAINT "ExchangeRate_distinct_currencies_check";

-- DropCheckConstraint
ALTER TABLE "ExchangeRate" DROP CONSTRAINT "ExchangeRate_rate_positive_check";

-- Generated: `prisma migrate diff --from-schema <this version> --to-schema <previous version> --script`

-- DropForeignKey
ALTER TABLE "ExchangeRate" DROP CONSTRAINT "ExchangeRate_organizationId_fkey";

-- DropForeignKey
ALTER TABLE "ExchangeRate" DROP CONSTRAINT "ExchangeRate_baseCurrencyCode_fkey";

-- DropForeignKey
ALTER TABLE "ExchangeRate" DROP CONSTRAINT "ExchangeRate_quoteCurrencyCode_fkey";

-- AlterTable
ALTER TABLE "JournalEntry" DROP COLUMN "exchangeRate";

-- DropTable
DROP TABLE "ExchangeRate";
