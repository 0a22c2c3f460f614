-- Rollback of 20260602150000_audit_events: drops AuditEvent
-- Generated: `prisma migrate diff --from-schema <this version> --to-schema <previous version> --script`

-- DropForeignKey
ALTER TABLE "AuditEvent" DROP CONSTRAINT "AuditEvent_organizationId_fkey";

-- DropForeignKey
ALTER TABLE "AuditEvent" DROP CONSTRAINT "AuditEvent_actorUserId_fkey";

-- DropTable
DROP TABLE "AuditEvent";
