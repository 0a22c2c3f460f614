import type { Policies } from '../../../policy/schema.ts';
import type { AccessCoverage } from '../../lint/index.ts';
import type { MaskingPolicy } from '../../../policy/masking.ts';
import type { LocalMigration, MigrationRow, Session } from '../../migrations/index.ts';
import type { Environment } from '../environment.ts';
import type { ChangeMigration, GateCheck, GateCheckName, GateData, GateReason } from '../../../evidence/index.ts';
import type { Runtime } from '../../../core/runtime.ts';
import type { Storage } from '../../../infra/storage/types.ts';
import { noun } from '../../../core/format.ts';

/** The policies the production path reads: environments, backups (targets, keys) and migrations (executor, lint). */
/** queries: where `dbops deploy` keeps the query snapshot it takes before its first migration (defaults when absent). */
export type ReleasePolicies = Pick<Policies, 'environments' | 'backups' | 'migrations'> &
  Partial<Pick<Policies, 'queries'>> & {
    /** policies/access.yaml with the access audit's coverage rule: the gate's lint then reports the tables it leaves uncovered. */
    accessCoverage?: AccessCoverage | undefined;
    /** policies/masking.yaml, only when the file exists: the gate's lint then reports personal columns it leaves unmasked. */
    maskingPolicy?: MaskingPolicy | undefined;
    /** The load measurement and traffic profile of operations/monitoring, for the traffic check (injected: importing it here would make a cycle). */
    traffic?: TrafficProbe | undefined;
  };

/** What the traffic check asks operations/monitoring: the load now, and the quiet hours of the stored weekly profile. */
export interface TrafficProbe {
  measure(client: Session['client'], intervalMs?: number): Promise<{ tps: number; activeSessions: number; intervalMs: number }>;
  quiet(
    evidence: { storage: Storage; folder: string },
    database: string,
    now: Date,
  ): Promise<{ profile: boolean; zone: string | null; quietNow: boolean; next: { at: Date; label: string } | null; proposedHours: number }>;
}

/** What `dbops gate`, `deploy` and `rollback` are asked (their shared flags). */
export interface ReleaseFlags {
  environment: string;
  schema?: string | undefined;
  migrationsDir: string;
  rollbacksDir: string;
  reportsDir: string;
  policiesDir: string;
  identityFile?: string | undefined;
  takeBackup: boolean;
  breakGlass?: string | undefined;
  outsideWindow?: string | undefined;
}

/** What the gate is asked to judge, by `dbops gate`, `deploy` and `rollback`. */
export interface GateRequest {
  environment: Environment;
  action: 'deploy' | 'rollback';
  /** rollback: the migration that stays applied; everything newer is rolled back. */
  rollbackTo?: string | undefined;
  /** Take a pre-deploy backup of the environment's database and verify it before judging the backup check. */
  takeBackup: boolean;
  breakGlass?: string | undefined;
  outsideWindow?: string | undefined;
  migrationsDir: string;
  rollbacksDir: string;
  reportsDir: string;
  /** Policies folder, for the in-process backup and lint steps and their messages (default `policies`). */
  policiesDir?: string | undefined;
  identityFile?: string | undefined;
  /** The clock (tests of windows and backup age pass a fixed one). */
  now?: () => Date;
}

/** What every check sees: the request, the database it judges, the local files and the change. */
export interface GateScope {
  request: GateRequest;
  ctx: Runtime;
  env: NodeJS.ProcessEnv;
  session: Session;
  environment: Environment;
  policies: ReleasePolicies;
  now: Date;
  database: GateData['database'];
  local: LocalMigration[];
  rows: MigrationRow[];
  /** deploy: pending, oldest first; rollback: to roll back, newest first. */
  change: ChangeMigration[];
}

export const gateCheck = (name: GateCheckName, status: GateCheck['status'], summary: string, reasons: GateReason[] = []): GateCheck => ({
  name,
  status,
  summary,
  reasons,
});

/** `status` from reasons: any reason fails the check. */
export const judged = (name: GateCheckName, reasons: GateReason[], passed: string, failed?: string): GateCheck =>
  reasons.length === 0
    ? gateCheck(name, 'pass', passed)
    : gateCheck(name, 'fail', failed ?? `${reasons.length} ${noun(reasons.length, 'reason')} to refuse`, reasons);
