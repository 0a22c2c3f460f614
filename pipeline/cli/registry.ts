import { spec as migrateStatus } from '../commands/migrate/status/spec.ts';
import { spec as migrateDeploy } from '../commands/migrate/deploy/spec.ts';
import { spec as migrateResolve } from '../commands/migrate/resolve/spec.ts';
import { spec as lint } from '../commands/lint/spec.ts';
import { spec as rollbacksCheck } from '../commands/rollbacks/check/spec.ts';
import { spec as rehearse } from '../commands/rehearse/spec.ts';
import { spec as report } from '../commands/report/spec.ts';
import { spec as backupCreate } from '../commands/backup/create/spec.ts';
import { spec as backupList } from '../commands/backup/list/spec.ts';
import { spec as backupVerify } from '../commands/backup/verify/spec.ts';
import { spec as backupPrune } from '../commands/backup/prune/spec.ts';
import { spec as backupReplicate } from '../commands/backup/replicate/spec.ts';
import { spec as backupRestore } from '../commands/backup/restore/spec.ts';
import { spec as backupNotify } from '../commands/backup/notify/spec.ts';
import { spec as gate } from '../commands/gate/spec.ts';
import { spec as deploy } from '../commands/deploy/spec.ts';
import { spec as rollback } from '../commands/rollback/spec.ts';
import { spec as evidenceVerify } from '../commands/evidence/verify/spec.ts';
import { spec as evidenceList } from '../commands/evidence/list/spec.ts';
import { spec as evidenceReconcile } from '../commands/evidence/reconcile/spec.ts';
import { spec as evidencePrune } from '../commands/evidence/prune/spec.ts';
import { spec as localUp } from '../commands/local/up/spec.ts';
import { spec as localDown } from '../commands/local/down/spec.ts';
import { spec as localStatus } from '../commands/local/status/spec.ts';
import { spec as localPsql } from '../commands/local/psql/spec.ts';
import { spec as seed } from '../commands/seed/spec.ts';
import { spec as demo } from '../commands/demo/spec.ts';
import { type CommandSpec, withRun } from './contract.ts';

/** What each command group is about; its subcommands come from the specs below. */
export const GROUPS: Record<string, string> = {
  migrate: 'Prisma-compatible migration executor',
  local: 'the embedded PostgreSQL cluster in .dbops/',
  rollbacks: 'paired rollback scripts',
  backup: 'encrypted, verified logical backups',
  evidence: 'hash-chained evidence bundles of deploys and rollbacks',
};

/** Every command, in help order: flags and metadata in each spec; the implementation is imported only when the command runs. */
export const commands: CommandSpec[] = [
  withRun(migrateStatus, () => import('../commands/migrate/status/run.ts')),
  withRun(migrateDeploy, () => import('../commands/migrate/deploy/run.ts')),
  withRun(migrateResolve, () => import('../commands/migrate/resolve/run.ts')),
  withRun(lint, () => import('../commands/lint/run.ts')),
  withRun(rollbacksCheck, () => import('../commands/rollbacks/check/run.ts')),
  withRun(rehearse, () => import('../commands/rehearse/run.ts')),
  withRun(report, () => import('../commands/report/run.ts')),
  withRun(backupCreate, () => import('../commands/backup/create/run.ts')),
  withRun(backupList, () => import('../commands/backup/list/run.ts')),
  withRun(backupVerify, () => import('../commands/backup/verify/run.ts')),
  withRun(backupPrune, () => import('../commands/backup/prune/run.ts')),
  withRun(backupReplicate, () => import('../commands/backup/replicate/run.ts')),
  withRun(backupRestore, () => import('../commands/backup/restore/run.ts')),
  withRun(backupNotify, () => import('../commands/backup/notify/run.ts')),
  withRun(gate, () => import('../commands/gate/run.ts')),
  withRun(deploy, () => import('../commands/deploy/run.ts')),
  withRun(rollback, () => import('../commands/rollback/run.ts')),
  withRun(evidenceVerify, () => import('../commands/evidence/verify/run.ts')),
  withRun(evidenceList, () => import('../commands/evidence/list/run.ts')),
  withRun(evidenceReconcile, () => import('../commands/evidence/reconcile/run.ts')),
  withRun(evidencePrune, () => import('../commands/evidence/prune/run.ts')),
  withRun(localUp, () => import('../commands/local/run.ts').then((m) => m.up)),
  withRun(localDown, () => import('../commands/local/run.ts').then((m) => m.down)),
  withRun(localStatus, () => import('../commands/local/run.ts').then((m) => m.status)),
  withRun(localPsql, () => import('../commands/local/run.ts').then((m) => m.psql)),
  withRun(seed, () => import('../commands/seed/run.ts')),
  withRun(demo, () => import('../commands/demo/run.ts')),
];
