-- CreateEnum
CREATE TYPE "JournalStatus" AS ENUM ('DRAFT', 'POSTED', 'VOID');

-- CreateEnum
CREATE TYPE "EntrySide" AS ENUM ('DEBIT', 'CREDIT');

-- CreateTable
CREATE TABLE "JournalEntry" (
    "id" BIGSERIAL NOT NULL,
    "organizationId" UUID NOT NULL,
    "entryNumber" INTEGER NOT NULL,
    "entryDate" DATE NOT NULL,
    "status" "JournalStatus" NOT NULL DEFAULT 'DRAFT',
    "description" TEXT,
    "reference" VARCHAR(64),
    "currencyCode" CHAR(3) NOT NULL,
    "reversalOfId" BIGINT,
    "createdById" UUID NOT NULL,
    "postedById" UUID,
    "postedAt" TIMESTAMPTZ(6),
    "createdAt" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(6) NOT NULL,

    CONSTRAINT "JournalEntry_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "JournalLine" (
    "id" BIGSERIAL NOT NULL,
    "organizationId" UUID NOT NULL,
    "journalEntryId" BIGINT NOT NULL,
    "lineNumber" INTEGER NOT NULL,
    "accountId" UUID NOT NULL,
    "side" "EntrySide" NOT NULL,
    "amount" DECIMAL(19,4) NOT NULL,
    "memo" TEXT,
    "createdAt" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "JournalLine_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "JournalEntry_reversalOfId_key" ON "JournalEntry"("reversalOfId");

-- CreateIndex
CREATE INDEX "JournalEntry_organizationId_entryDate_idx" ON "JournalEntry"("organizationId", "entryDate");

-- CreateIndex
CREATE INDEX "JournalEntry_organizationId_status_entryDate_idx" ON "JournalEntry"("organizationId", "status", "entryDate");

-- CreateIndex
CREATE INDEX "JournalEntry_currencyCode_idx" ON "JournalEntry"("currencyCode");

-- CreateIndex
CREATE INDEX "JournalEntry_createdById_idx" ON "JournalEntry"("createdById");

-- CreateIndex
CREATE INDEX "JournalEntry_postedById_idx" ON "JournalEntry"("postedById");

-- CreateIndex
CREATE UNIQUE INDEX "JournalEntry_organizationId_entryNumber_key" ON "JournalEntry"("organizationId", "entryNumber");

-- CreateIndex
CREATE INDEX "JournalLine_organizationId_accountId_idx" ON "JournalLine"("organizationId", "accountId");

-- CreateIndex
CREATE INDEX "JournalLine_accountId_idx" ON "JournalLine"("accountId");

-- CreateIndex
CREATE UNIQUE INDEX "JournalLine_journalEntryId_lineNumber_key" ON "JournalLine"("journalEntryId", "lineNumber");

-- AddForeignKey
ALTER TABLE "JournalEntry" ADD CONSTRAINT "JournalEntry_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "JournalEntry" ADD CONSTRAINT "JournalEntry_currencyCode_fkey" FOREIGN KEY ("currencyCode") REFERENCES "Currency"("code") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "JournalEntry" ADD CONSTRAINT "JournalEntry_reversalOfId_fkey" FOREIGN KEY ("reversalOfId") REFERENCES "JournalEntry"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "JournalEntry" ADD CONSTRAINT "JournalEntry_createdById_fkey" FOREIGN KEY ("createdById") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "JournalEntry" ADD CONSTRAINT "JournalEntry_postedById_fkey" FOREIGN KEY ("postedById") REFERENCES "User"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "JournalLine" ADD CONSTRAINT "JournalLine_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "JournalLine" ADD CONSTRAINT "JournalLine_journalEntryId_fkey" FOREIGN KEY ("journalEntryId") REFERENCES "JournalEntry"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "JournalLine" ADD CONSTRAINT "JournalLine_accountId_fkey" FOREIGN KEY ("accountId") REFERENCES "Account"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- =============================================================================
-- Hand-written below this line (appended after `prisma migrate dev --create-only`;
-- everything above is Prisma's generated SQL, unchanged). Prisma cannot express
-- CHECK constraints or triggers and ignores them when diffing, so they never drift.
-- =============================================================================

-- AddCheckConstraint: money amounts are never negative; "side" says debit or credit
ALTER TABLE "JournalLine" ADD CONSTRAINT "JournalLine_amount_nonnegative_check" CHECK ("amount" >= 0);

-- AddCheckConstraint: line numbers start at 1
ALTER TABLE "JournalLine" ADD CONSTRAINT "JournalLine_lineNumber_positive_check" CHECK ("lineNumber" > 0);

-- CreateFunction: a POSTED journal entry must have >= 2 lines and sum(debits) = sum(credits)
CREATE FUNCTION "journal_entry_assert_balanced"() RETURNS trigger
    LANGUAGE plpgsql
AS $$
DECLARE
    entry_ids    BIGINT[];
    entry_id     BIGINT;
    total_debit  NUMERIC;
    total_credit NUMERIC;
    line_count   BIGINT;
BEGIN
    IF TG_TABLE_NAME = 'JournalEntry' THEN
        entry_ids := ARRAY[NEW."id"];
    ELSIF TG_OP = 'INSERT' THEN
        entry_ids := ARRAY[NEW."journalEntryId"];
    ELSIF TG_OP = 'DELETE' THEN
        entry_ids := ARRAY[OLD."journalEntryId"];
    ELSE
        entry_ids := ARRAY[OLD."journalEntryId", NEW."journalEntryId"];
    END IF;

    FOREACH entry_id IN ARRAY entry_ids LOOP
        -- Drafts may be saved unbalanced; entries deleted in the same transaction are skipped.
        PERFORM 1 FROM "JournalEntry" WHERE "id" = entry_id AND "status" = 'POSTED';
        CONTINUE WHEN NOT FOUND;

        SELECT COALESCE(SUM("amount") FILTER (WHERE "side" = 'DEBIT'), 0),
               COALESCE(SUM("amount") FILTER (WHERE "side" = 'CREDIT'), 0),
               COUNT(*)
          INTO total_debit, total_credit, line_count
          FROM "JournalLine"
         WHERE "journalEntryId" = entry_id;

        IF line_count < 2 OR total_debit <> total_credit THEN
            RAISE EXCEPTION 'journal entry % is not balanced (debits %, credits %, lines %)',
                entry_id, total_debit, total_credit, line_count
                USING ERRCODE = 'check_violation', CONSTRAINT = 'JournalEntry_balanced';
        END IF;
    END LOOP;

    RETURN NULL;
END;
$$;

-- CreateTrigger: checked at COMMIT (DEFERRABLE INITIALLY DEFERRED), so an entry and its
-- lines can be written in any order inside one transaction
CREATE CONSTRAINT TRIGGER "JournalEntry_balanced"
    AFTER INSERT OR UPDATE OF "status" ON "JournalEntry"
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION "journal_entry_assert_balanced"();

-- CreateTrigger
CREATE CONSTRAINT TRIGGER "JournalLine_balanced"
    AFTER INSERT OR UPDATE OF "journalEntryId", "side", "amount" OR DELETE ON "JournalLine"
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION "journal_entry_assert_balanced"();
