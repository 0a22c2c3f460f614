import { ConfigError } from '../../core/errors.ts';
import { isPgError, type Client } from '../../infra/db/client.ts';
import { diffFingerprints, renderFingerprintDiff, sameSchema, schemaFingerprint, type SchemaFingerprint } from '../../infra/db/fingerprint.ts';
import { inspectRollback, type RollbackFile as PairedFile } from '../rollbacks/index.ts';
import { loadRows, markRolledBack, type Session, planExecution, type Executor } from '../migrations/index.ts';
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

/** Where a script failed, for messages: the server's message, and the line when the server gave a position. */
function describeFailure(e: unknown, script: string, offsetLine = 1): string {
  if (!isPgError(e)) return e instanceof Error ? e.message : String(e);
  const pos = Number(e.position ?? 0);
  const line = pos > 0 ? script.slice(0, pos - 1).split('\n').length + offsetLine - 1 : undefined;
  return `${e.code ? `${e.code}: ` : ''}${e.message}${line ? ` (line ${line})` : ''}`;
}

/**
 * Runs a rollback script as the executor would run a migration: one message when it can run in one
 * transaction, else segment by segment (its own BEGIN/COMMIT, CONCURRENTLY statements). Throws a
 * readable message on the first failure, after ending any transaction the script left open.
 */
export async function runScript(client: Client, script: string, file: string): Promise<void> {
  let plan;
  try {
    plan = await planExecution(script, file);
  } catch (e) {
    if (e instanceof ConfigError) throw new Error(`${e.message} ${e.hint ?? ''}`.trim());
    throw e;
  }
  if (plan.mode === 'atomic') {
    try {
      await client.query(script);
    } catch (e) {
      throw new Error(describeFailure(e, script));
    }
    return;
  }
  for (const segment of plan.segments) {
    try {
      await client.query(segment.sql);
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw new Error(describeFailure(e, segment.sql, segment.line));
    }
  }
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
export async function proveRollback(ctx: ProofContext, m: MigrationToApply, rollback: RollbackFile | undefined, before: SchemaFingerprint, after: SchemaFingerprint): Promise<ProofResult> {
  if (!rollback) return { proof: { status: 'missing', reapply: 'not-run' }, consistent: true };
  if (rollback.irreversible !== undefined) return { proof: { status: 'irreversible', reason: rollback.irreversible, reapply: 'not-run' }, consistent: true };
  const { client } = ctx.session;
  const started = performance.now();
  try {
    await runScript(client, rollback.script, rollback.path);
  } catch (e) {
    const now = await schemaFingerprint(client, ctx.schema);
    return { proof: { status: 'failed', reason: (e as Error).message, durationMs: Math.round(performance.now() - started), reapply: 'not-run' }, consistent: sameSchema(now, after) };
  }
  const durationMs = Math.round(performance.now() - started);
  // What `prisma migrate resolve --rolled-back` records: the rows stay, marked rolled back, so the
  // migration counts as pending again and the next apply writes a new row.
  const ids = (await loadRows(ctx.session)).filter((r) => r.migrationName === m.name && r.rolledBackAt === null).map((r) => r.id);
  await markRolledBack(ctx.session, ids);

  const down = await schemaFingerprint(client, ctx.schema);
  const proof: RollbackProof = sameSchema(down, before)
    ? { status: 'proven', durationMs, reapply: 'not-run' }
    : { status: 'mismatch', durationMs, diff: renderFingerprintDiff(diffFingerprints(before, down), { expected: 'schema before the migration', actual: 'schema after the rollback' }), reapply: 'not-run' };

  const again = await ctx.executor.apply(m.name, m.script, m.plan);
  if (!again.ok) return { proof: { ...proof, reapply: 'failed', reapplyError: executorError(again.message) }, consistent: false };
  const up = await schemaFingerprint(client, ctx.schema);
  if (sameSchema(up, after)) return { proof: { ...proof, reapply: 'matched' }, consistent: true };
  return {
    proof: { ...proof, reapply: 'mismatch', reapplyDiff: renderFingerprintDiff(diffFingerprints(after, up), { expected: 'schema after the first apply', actual: 'schema after the second apply' }) },
    consistent: false,
  };
}
