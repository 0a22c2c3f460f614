import type { StepContext } from '../core/step.ts';
import type { Session } from '../steps/migrate/history.ts';
import type { Environment } from './environment.ts';
import type { GateData } from './schema.ts';

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
  identityFile?: string | undefined;
  /** The clock (tests of windows and backup age pass a fixed one). */
  now?: () => Date;
}

/**
 * Runs every check and returns them all (never stops at the first refusal): backup, approval and
 * four-eyes, staging-first, clean state, lint and pairing of the change, rehearsal, change window, and an
 * interrupted earlier deploy. `session` is open on the environment's database. Throws only when the
 * environment itself is broken (exit 2/3); a check that cannot be made is a refusal reason.
 */
export async function evaluateGate(_request: GateRequest, _ctx: StepContext, _session: Session): Promise<GateData> {
  throw new Error('not implemented: evaluateGate');
}
