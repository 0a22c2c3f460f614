import { ConfigError } from '../../core/errors.ts';
import { diffFingerprints, renderFingerprintDiff, sameSchema, schemaFingerprint, type SchemaFingerprint } from '../../infra/db/fingerprint.ts';
import { inspectRollback, type RollbackFile as PairedFile } from '../rollbacks/index.ts';
import { planExecution, rollbackBookkeeping, type Executor, type Session } from '../migrations/index.ts';
import type { MigrationToApply } from './measure.ts';
import type { RollbackProof } from './model.ts';

export type { RollbackProof };

export interface RollbackFile {
  /** As shown in findings: <rollbacks-dir>/<migration>.sql */
  path: string;
  script: string;
  /** Set when the file carries the `-- dbops:irreversible <reason>` marker (as lint and rollbacks check read it). */
  irreversible?: string;
}

/** A rollback script of the rollbacks folder as the rehearsal runs it, with its irreversible marker read as lint reads it. */
export function rehearsalRollback(file: PairedFile): RollbackFile {
  const { marker } = inspectRollback(file.text);
  return marker ? { path: file.path, script: file.text, irreversible: marker.reason ?? 'no reason given' } : { path: file.path, script: file.text };
}

/** The server's error line (and SQLSTATE) out of the executor's P3018 text. */
export function executorError(p3018: string): string {
  const line = /^(?:ERROR|FATAL): (.*)$/m.exec(p3018)?.[1];
  const code = /^Database error code: (\S+)$/m.exec(p3018)?.[1];
  return line ? `${code && code !== 'none' ? `${code}: ` : ''}${line}` : p3018.trim().split('\n')[0]!;
}

export interface ProofContext {
  session: Session;
  executor: Executor;
  schema: string;
}

export interface ProofResult {
  proof: RollbackProof;
  /** The schema now equals the one after the migration: later migrations can still be rehearsed on it. */
  consistent: boolean;
}

/**
 * Down, then up again: the rollback must bring back exactly the schema before the migration, and the
 * migration applied a second time exactly the schema after its first run. Irreversible and missing
 * rollbacks are reported without running anything.
 */
export async function proveRollback(
  ctx: ProofContext,
  m: MigrationToApply,
  rollback: RollbackFile | undefined,
  before: SchemaFingerprint,
  after: SchemaFingerprint,
): Promise<ProofResult> {
  if (!rollback) return { proof: { status: 'missing', reapply: 'not-run' }, consistent: true };
  if (rollback.irreversible !== undefined) return { proof: { status: 'irreversible', reason: rollback.irreversible, reapply: 'not-run' }, consistent: true };
  const { client } = ctx.session;
  const started = performance.now();
  // As a deploy rolls back: the executor runs the script and marks the row as `prisma migrate resolve
  // --rolled-back` does (the row stays, marked), so the migration is pending again and re-applies.
  const failure = await planExecution(rollback.script, rollback.path).then(
    async (plan) => {
      const outcome = await ctx.executor.run(m.name, rollback.script, plan, rollbackBookkeeping(ctx.session, m.name));
      return outcome.ok ? undefined : outcome.detail;
    },
    (e: unknown) => (e instanceof ConfigError ? `${e.message} ${e.hint ?? ''}`.trim() : Promise.reject(e)),
  );
  if (failure !== undefined) {
    const now = await schemaFingerprint(client, ctx.schema);
    return {
      proof: { status: 'failed', reason: failure, durationMs: Math.round(performance.now() - started), reapply: 'not-run' },
      consistent: sameSchema(now, after),
    };
  }
  const durationMs = Math.round(performance.now() - started);

  const down = await schemaFingerprint(client, ctx.schema);
  const proof: RollbackProof = sameSchema(down, before)
    ? { status: 'proven', durationMs, reapply: 'not-run' }
    : {
        status: 'mismatch',
        durationMs,
        diff: renderFingerprintDiff(diffFingerprints(before, down), { expected: 'schema before the migration', actual: 'schema after the rollback' }),
        reapply: 'not-run',
      };

  const again = await ctx.executor.apply(m.name, m.script, m.plan);
  if (!again.ok) return { proof: { ...proof, reapply: 'failed', reapplyError: executorError(again.message) }, consistent: false };
  const up = await schemaFingerprint(client, ctx.schema);
  if (sameSchema(up, after)) return { proof: { ...proof, reapply: 'matched' }, consistent: true };
  return {
    proof: {
      ...proof,
      reapply: 'mismatch',
      reapplyDiff: renderFingerprintDiff(diffFingerprints(after, up), { expected: 'schema after the first apply', actual: 'schema after the second apply' }),
    },
    consistent: false,
  };
}
