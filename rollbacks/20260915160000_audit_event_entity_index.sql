-- Rollback of 20260915160000_audit_event_entity_index: drops the AuditEvent (organizationId, entityType, entityId) index
-- Generated: `prisma migrate diff --from-schema <this version> --to-schema <previous version> --script`

-- DropIndex
DROP INDEX "AuditEvent_organizationId_entityType_entityId_idx";
