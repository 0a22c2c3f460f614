import { NewMigrationData } from '../change/authoring/index.ts';
import { DriftData } from '../change/drift/index.ts';
import { LintData } from '../change/lint/index.ts';
import { RehearseData } from '../change/rehearsal/index.ts';
import { RollbacksData } from '../change/rollbacks/index.ts';
import { BACKUP_REPORT_DATA } from '../protection/backup/index.ts';
import { PITR_REPORT_DATA } from '../protection/pitr/index.ts';
import { ExecutionData, GateData, EVIDENCE_REPORT_DATA } from '../evidence/index.ts';
import { MAINTENANCE_REPORT_DATA } from '../operations/maintenance/index.ts';
import { SETTINGS_REPORT_DATA } from '../operations/settings/index.ts';
import { QUERIES_REPORT_DATA } from '../operations/queries/index.ts';
import { ACCESS_REPORT_DATA } from '../operations/access/index.ts';
import { AUDIT_REPORT_DATA } from '../operations/audit/index.ts';
import { MASKING_REPORT_DATA } from '../protection/masking/index.ts';
import { MONITORING_REPORT_DATA } from '../operations/monitoring/index.ts';
import { POOL_REPORT_DATA } from '../operations/topology/index.ts';

/** Step name → schema of its `data`, for validation on read. */
export const REPORT_DATA = {
  'migrate-new': NewMigrationData,
  drift: DriftData,
  lint: LintData,
  rollbacks: RollbacksData,
  rehearse: RehearseData,
  ...BACKUP_REPORT_DATA,
  ...MASKING_REPORT_DATA,
  ...PITR_REPORT_DATA,
  gate: GateData,
  deploy: ExecutionData,
  rollback: ExecutionData,
  ...EVIDENCE_REPORT_DATA,
  ...MAINTENANCE_REPORT_DATA,
  ...SETTINGS_REPORT_DATA,
  ...QUERIES_REPORT_DATA,
  ...ACCESS_REPORT_DATA,
  ...AUDIT_REPORT_DATA,
  ...MONITORING_REPORT_DATA,
  ...POOL_REPORT_DATA,
} as const;

/** The report files `dbops report` knows, in command order: every report whose data has a schema above (a test keeps every command's report among them). */
export const REPORT_STEPS: readonly string[] = Object.keys(REPORT_DATA);
