-- Hand-edited after `prisma migrate dev --create-only`: CONCURRENTLY added so the index is built
-- without blocking writes to the large, append-only "AuditEvent" table. CREATE INDEX CONCURRENTLY
-- cannot run inside a transaction block, so this file must keep exactly ONE statement
-- (Prisma sends a migration file as a single query; the dbops executor runs it on its own, without -1).

-- CreateIndex
CREATE INDEX CONCURRENTLY "AuditEvent_organizationId_entityType_entityId_idx" ON "AuditEvent"("organizationId", "entityType", "entityId");
