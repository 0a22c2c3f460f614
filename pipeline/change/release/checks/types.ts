import type { StepContext } from '../../../core/step.ts';
import type { Policies } from '../../../policy/schema.ts';
import type { LocalMigration } from '../../migrations/folder.ts';
import type { MigrationRow, Session } from '../../migrations/history.ts';
import type { Environment } from '../environment.ts';
import type { GateRequest } from '../gate.ts';
import type { ChangeMigration, GateCheck, GateCheckName, GateData, GateReason } from '../schema.ts';

/** What every check sees: the request, the database it judges, the local files and the change. */
export interface GateScope {
  request: GateRequest;
  ctx: StepContext;
  env: NodeJS.ProcessEnv;
  session: Session;
  environment: Environment;
  policies: Pick<Policies, 'environments' | 'backups' | 'migrations'>;
  now: Date;
  database: GateData['database'];
  local: LocalMigration[];
  rows: MigrationRow[];
  /** deploy: pending, oldest first; rollback: to roll back, newest first. */
  change: ChangeMigration[];
}

export const gateCheck = (name: GateCheckName, status: GateCheck['status'], summary: string, reasons: GateReason[] = []): GateCheck => ({ name, status, summary, reasons });

/** `status` from reasons: any reason fails the check. */
export const judged = (name: GateCheckName, reasons: GateReason[], passed: string, failed?: string): GateCheck =>
  reasons.length === 0 ? gateCheck(name, 'pass', passed) : gateCheck(name, 'fail', failed ?? `${reasons.length} reason${reasons.length === 1 ? '' : 's'} to refuse`, reasons);


/** Names for messages: `a, b and 3 more`. */
export function names(list: readonly string[], max = 5): string {
  if (list.length <= max) return list.join(', ');
  return `${list.slice(0, max).join(', ')} and ${list.length - max} more`;
}

/** An age for humans: `42 s`, `17 min`, `3 h 5 min`, `4 d 2 h`. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const min = Math.floor(s / 60);
  if (min < 120) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return min % 60 === 0 ? `${h} h` : `${h} h ${min % 60} min`;
  return h % 24 === 0 ? `${Math.floor(h / 24)} d` : `${Math.floor(h / 24)} d ${h % 24} h`;
}
