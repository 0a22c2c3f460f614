/*
  Warnings:

  - You are about to drop the column `legacyErpId` on the `Organization` table. All the data in the column will be lost.

*/
-- DropIndex
DROP INDEX "Organization_legacyErpId_key";

-- AlterTable
ALTER TABLE "Organization" DROP COLUMN "legacyErpId";
