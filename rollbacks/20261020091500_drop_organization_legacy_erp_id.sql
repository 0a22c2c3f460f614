-- dbops:irreversible 20261020091500_drop_organization_legacy_erp_id dropped Organization.legacyErpId with its data; this rollback only recreates the empty nullable column and its unique index
-- Rollback of 20261020091500_drop_organization_legacy_erp_id: re-adds Organization.legacyErpId (all values NULL) and Organization_legacyErpId_key
-- Generated: `prisma migrate diff --from-schema <this version> --to-schema <previous version> --script`

-- AlterTable
ALTER TABLE "Organization" ADD COLUMN     "legacyErpId" TEXT;

-- CreateIndex
CREATE UNIQUE INDEX "Organization_legacyErpId_key" ON "Organization"("legacyErpId");
