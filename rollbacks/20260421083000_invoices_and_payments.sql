-- Rollback of 20260421083000_invoices_and_payments: drops the hand-written CHECKs, Customer, Invoice, InvoiceLine, Payment, PaymentApplication and the InvoiceStatus/PaymentMethod enums

-- Hand-written inverse of the migration's hand-written section:
-- DropCheckConstraint
ALTER TABLE "PaymentApplication" DROP CONSTRAINT "PaymentApplication_amount_positive_check";

-- DropCheckConstraint
ALTER TABLE "Payment" DROP CONSTRAINT "Payment_amount_positive_check";

-- DropCheckConstraint
ALTER TABLE "InvoiceLine" DROP CONSTRAINT "InvoiceLine_amounts_nonnegative_check";

-- DropCheckConstraint
ALTER TABLE "Invoice" DROP CONSTRAINT "Invoice_dueDate_check";

-- DropCheckConstraint
ALTER TABLE "Invoice" DROP CONSTRAINT "Invoice_amounts_nonnegative_check";

-- Generated: `prisma migrate diff --from-schema <this version> --to-schema <previous version> --script`

-- DropForeignKey
ALTER TABLE "Customer" DROP CONSTRAINT "Customer_organizationId_fkey";

-- DropForeignKey
ALTER TABLE "Customer" DROP CONSTRAINT "Customer_currencyCode_fkey";

-- DropForeignKey
ALTER TABLE "Invoice" DROP CONSTRAINT "Invoice_organizationId_fkey";

-- DropForeignKey
ALTER TABLE "Invoice" DROP CONSTRAINT "Invoice_customerId_fkey";

-- DropForeignKey
ALTER TABLE "Invoice" DROP CONSTRAINT "Invoice_currencyCode_fkey";

-- DropForeignKey
ALTER TABLE "Invoice" DROP CONSTRAINT "Invoice_journalEntryId_fkey";

-- DropForeignKey
ALTER TABLE "InvoiceLine" DROP CONSTRAINT "InvoiceLine_organizationId_fkey";

-- DropForeignKey
ALTER TABLE "InvoiceLine" DROP CONSTRAINT "InvoiceLine_invoiceId_fkey";

-- DropForeignKey
ALTER TABLE "InvoiceLine" DROP CONSTRAINT "InvoiceLine_revenueAccountId_fkey";

-- DropForeignKey
ALTER TABLE "Payment" DROP CONSTRAINT "Payment_organizationId_fkey";

-- DropForeignKey
ALTER TABLE "Payment" DROP CONSTRAINT "Payment_customerId_fkey";

-- DropForeignKey
ALTER TABLE "Payment" DROP CONSTRAINT "Payment_currencyCode_fkey";

-- DropForeignKey
ALTER TABLE "Payment" DROP CONSTRAINT "Payment_depositAccountId_fkey";

-- DropForeignKey
ALTER TABLE "Payment" DROP CONSTRAINT "Payment_journalEntryId_fkey";

-- DropForeignKey
ALTER TABLE "PaymentApplication" DROP CONSTRAINT "PaymentApplication_organizationId_fkey";

-- DropForeignKey
ALTER TABLE "PaymentApplication" DROP CONSTRAINT "PaymentApplication_paymentId_fkey";

-- DropForeignKey
ALTER TABLE "PaymentApplication" DROP CONSTRAINT "PaymentApplication_invoiceId_fkey";

-- DropTable
DROP TABLE "Customer";

-- DropTable
DROP TABLE "Invoice";

-- DropTable
DROP TABLE "InvoiceLine";

-- DropTable
DROP TABLE "Payment";

-- DropTable
DROP TABLE "PaymentApplication";

-- DropEnum
DROP TYPE "InvoiceStatus";

-- DropEnum
DROP TYPE "PaymentMethod";
