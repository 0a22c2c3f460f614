import { LintData } from '../change/lint/model.ts';
import { RehearseData } from '../change/rehearsal/model.ts';
import { RollbacksData } from '../change/rollbacks/model.ts';
import { BACKUP_REPORT_DATA } from '../protection/backup/report.ts';
import { ExecutionData, GateData } from '../evidence/records.ts';
import { EVIDENCE_REPORT_DATA } from '../evidence/report.ts';

/** Step name → schema of its `data`, for validation on read. */
export const REPORT_DATA = {
  lint: LintData,
  rollbacks: RollbacksData,
  rehearse: RehearseData,
  ...BACKUP_REPORT_DATA,
  gate: GateData,
  deploy: ExecutionData,
  rollback: ExecutionData,
  ...EVIDENCE_REPORT_DATA,
} as const;

/** The report files `dbops report` knows, in command order: every report whose data has a schema above (a test keeps every command's report among them). */
export const REPORT_STEPS: readonly string[] = Object.keys(REPORT_DATA);
