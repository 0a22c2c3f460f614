-- AlterTable
ALTER TABLE "JournalEntry" ADD COLUMN     "exchangeRate" DECIMAL(20,10) NOT NULL DEFAULT 1;

-- CreateTable
CREATE TABLE "ExchangeRate" (
    "id" BIGSERIAL NOT NULL,
    "organizationId" UUID NOT NULL,
    "baseCurrencyCode" CHAR(3) NOT NULL,
    "quoteCurrencyCode" CHAR(3) NOT NULL,
    "rateDate" DATE NOT NULL,
    "rate" DECIMAL(20,10) NOT NULL,
    "source" VARCHAR(32) NOT NULL DEFAULT 'manual',
    "createdAt" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ExchangeRate_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "ExchangeRate_baseCurrencyCode_idx" ON "ExchangeRate"("baseCurrencyCode");

-- CreateIndex
CREATE INDEX "ExchangeRate_quoteCurrencyCode_idx" ON "ExchangeRate"("quoteCurrencyCode");

-- CreateIndex
CREATE UNIQUE INDEX "ExchangeRate_organizationId_baseCurrencyCode_quoteCurrencyC_key" ON "ExchangeRate"("organizationId", "baseCurrencyCode", "quoteCurrencyCode", "rateDate");

-- AddForeignKey
ALTER TABLE "ExchangeRate" ADD CONSTRAINT "ExchangeRate_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ExchangeRate" ADD CONSTRAINT "ExchangeRate_baseCurrencyCode_fkey" FOREIGN KEY ("baseCurrencyCode") REFERENCES "Currency"("code") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ExchangeRate" ADD CONSTRAINT "ExchangeRate_quoteCurrencyCode_fkey" FOREIGN KEY ("quoteCurrencyCode") REFERENCES "Currency"("code") ON DELETE RESTRICT ON UPDATE CASCADE;

-- =============================================================================
-- Hand-written below this line (appended after `prisma migrate dev --create-only`;
-- everything above is Prisma's generated SQL, unchanged).
-- =============================================================================

-- AddCheckConstraint: a rate converts between two different currencies and is strictly positive
ALTER TABLE "ExchangeRate" ADD CONSTRAINT "ExchangeRate_rate_positive_check" CHECK ("rate" > 0);

-- AddCheckConstraint
ALTER TABLE "ExchangeRate" ADD CONSTRAINT "ExchangeRate_distinct_currencies_check" CHECK ("baseCurrencyCode" <> "quoteCurrencyCode");

-- AddCheckConstraint: the entry-to-base-currency rate is strictly positive
ALTER TABLE "JournalEntry" ADD CONSTRAINT "JournalEntry_exchangeRate_positive_check" CHECK ("exchangeRate" > 0);
