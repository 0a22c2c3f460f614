-- Rollback of 20260112093000_init: drops Organization, User, Membership, Currency, Account and the MembershipRole/AccountType enums (back to an empty schema)
-- Generated: `prisma migrate diff --from-schema <this version> --to-schema <previous version> --script`

-- DropForeignKey
ALTER TABLE "public"."Organization" DROP CONSTRAINT "Organization_baseCurrencyCode_fkey";

-- DropForeignKey
ALTER TABLE "public"."Membership" DROP CONSTRAINT "Membership_organizationId_fkey";

-- DropForeignKey
ALTER TABLE "public"."Membership" DROP CONSTRAINT "Membership_userId_fkey";

-- DropForeignKey
ALTER TABLE "public"."Account" DROP CONSTRAINT "Account_organizationId_fkey";

-- DropForeignKey
ALTER TABLE "public"."Account" DROP CONSTRAINT "Account_parentId_fkey";

-- DropForeignKey
ALTER TABLE "public"."Account" DROP CONSTRAINT "Account_currencyCode_fkey";

-- DropTable
DROP TABLE "public"."Organization";

-- DropTable
DROP TABLE "public"."User";

-- DropTable
DROP TABLE "public"."Membership";

-- DropTable
DROP TABLE "public"."Currency";

-- DropTable
DROP TABLE "public"."Account";

-- DropEnum
DROP TYPE "public"."MembershipRole";

-- DropEnum
DROP TYPE "public"."AccountType";
