import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { parseDuration } from '../../core/duration.ts';
import { EnvError, ExitCode, isDbopsError, UsageError } from '../../core/errors.ts';
import type { BackupsPolicy } from '../../policy/backups.ts';
import { NotFoundError, type Storage } from '../../infra/storage/types.ts';
import { formatBytes, formatMs } from '../../core/format.ts';
import type { Finding, StepResult } from '../../core/result.ts';
import type { Runtime } from '../../core/runtime.ts';
import { dbopsBuild } from '../../infra/git/base.ts';
import { ProgressMeter, mibPerSecond } from './progress.ts';
import { listBackups, recordVerification, sweepLeftovers } from './catalog.ts';
import { openTargets } from '../../infra/storage/open.ts';
import { type BackupEntry, LAYOUT, BackupManifest, VerificationRecord } from './manifest.ts';
import { BackupReplicateData } from './report.ts';

type TargetResult = BackupReplicateData['targets'][number];

/** A backup that cannot be copied for a reason of its own (damaged, object missing); the run goes on. */
class CopyRefused extends Error {}

interface Copier {
  source: Storage;
  ctx: Runtime;
  intervalMs: number;
  build: { version: string; commit: string | null };
}

/** Streams `key` from the source through SHA-256 into the destination; returns what was hashed. */
async function copyObject(c: Copier, dest: Storage, key: string, label: string, expectedBytes: number): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let readError: unknown;
  const body: Readable = await c.source.get(key, { signal: c.ctx.signal });
  const hashing = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  // A failing read destroys `hashing` too, so the put sees it and aborts instead of committing a short object.
  const reading = pipeline(body, hashing).catch((e: unknown) => {
    readError ??= e;
  });
  const meter = new ProgressMeter({ label, intervalMs: c.intervalMs, emit: (line) => c.ctx.progress(line), live: c.ctx.live, expectedBytes }).start();
  try {
    const { bytes } = await dest.put(key, hashing, { signal: c.ctx.signal, onProgress: (n) => meter.set(n) });
    await reading;
    if (readError !== undefined) throw readError;
    return { sha256: hash.digest('hex'), bytes };
  } catch (e) {
    await reading;
    if (isDbopsError(e)) throw e;
    throw new EnvError(`Could not read ${key} from target "${c.source.name}" (${c.source.location}): ${(e as Error).message}`, {
      hint: `Check that target "${c.source.name}" is reachable, then run dbops backup replicate again.`,
      cause: e,
    });
  } finally {
    meter.stop();
  }
}

/** Copies every verification record of `id` the destination lacks, byte for byte under the same key. */
async function copyRecords(c: Copier, dest: Storage, id: string): Promise<number> {
  const prefix = LAYOUT.verificationPrefix(id);
  const have = new Set((await dest.list(prefix)).map((o) => o.key));
  let copied = 0;
  for (const { key } of await c.source.list(prefix)) {
    if (have.has(key)) continue;
    await dest.put(key, await buffer(await c.source.get(key, { signal: c.ctx.signal })), { signal: c.ctx.signal });
    copied++;
  }
  return copied;
}

function copyRecord(c: Copier, target: Storage, id: string, ok: boolean, durationMs: number, message: string): VerificationRecord {
  return {
    formatVersion: 1,
    backupId: id,
    target: target.name,
    at: new Date().toISOString(),
    level: 'copy',
    ok,
    checks: [{ name: ok ? 'copy' : 'sha256', ok, durationMs, message }],
    durationMs,
    dbops: c.build,
  };
}

/**
 * One backup to one destination: object (hash checked against the manifest), the source's verification
 * records, a `copy` record of this check, and the manifest last, so the copy is listed only when complete.
 */
async function replicateOne(c: Copier, dest: Storage, entry: BackupEntry): Promise<{ bytes: number; durationMs: number }> {
  const m = entry.manifest;
  const key = `${m.id}/${m.object.key}`;
  const started = performance.now();
  let copied;
  try {
    copied = await copyObject(c, dest, key, `copying ${m.id} to ${dest.name}`, m.object.ciphertextBytes);
  } catch (e) {
    if (e instanceof NotFoundError) throw new CopyRefused(`its object ${key} is missing on target "${c.source.name}"; not copied`);
    throw e;
  }
  const durationMs = performance.now() - started;
  if (copied.sha256 !== m.object.sha256 || copied.bytes !== m.object.ciphertextBytes) {
    await dest.delete([key]);
    const message = `the object on target "${c.source.name}" has SHA-256 ${copied.sha256} (${copied.bytes} bytes), the manifest says ${m.object.sha256} (${m.object.ciphertextBytes} bytes): it is damaged; not copied`;
    // Recorded on the source as well: its copy failed a hash check, so it must stop counting as verified
    // (retention, the deploy gate) until a verification passes again.
    await recordVerification(c.source, copyRecord(c, c.source, m.id, false, durationMs, message)).catch((e: unknown) =>
      c.ctx.log.warn({ target: c.source.name, id: m.id, err: (e as Error).message }, `could not record the failed hash check on target "${c.source.name}"`),
    );
    throw new CopyRefused(message);
  }
  await copyRecords(c, dest, m.id);
  const from = `copied from target "${c.source.name}"`;
  await recordVerification(dest, copyRecord(c, dest, m.id, true, durationMs, `SHA-256 ${copied.sha256} (${copied.bytes} bytes) matches the manifest; ${from}`));
  // The manifest is copied as stored (not re-serialized), so fields a newer dbops added survive the copy.
  const raw = await buffer(await c.source.get(LAYOUT.manifest(m.id), { signal: c.ctx.signal }));
  const reparsed = BackupManifest.safeParse(JSON.parse(raw.toString('utf8')));
  if (!reparsed.success || reparsed.data.object.sha256 !== m.object.sha256) {
    throw new CopyRefused(`its manifest on target "${c.source.name}" changed while it was copied; not copied (run replicate again)`);
  }
  await dest.put(LAYOUT.manifest(m.id), raw, { signal: c.ctx.signal });
  return { bytes: copied.bytes, durationMs };
}

/**
 * A copy that is already there but unverified while the source has since been verified (it was replicated
 * before its verification ran): its hash is checked again, and only then are the source's records brought
 * over. Without this the offsite copy would stay unverified and be pruned after unverified_grace.
 */
async function adoptVerification(c: Copier, dest: Storage, entry: BackupEntry): Promise<boolean> {
  const m = entry.manifest;
  const key = `${m.id}/${m.object.key}`;
  const started = performance.now();
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of await dest.get(key, { signal: c.ctx.signal })) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  const sha256 = hash.digest('hex');
  const durationMs = performance.now() - started;
  const ok = sha256 === m.object.sha256 && bytes === m.object.ciphertextBytes;
  const message = ok
    ? `SHA-256 ${sha256} (${bytes} bytes) matches the manifest; verification records of target "${c.source.name}" adopted`
    : `the copy has SHA-256 ${sha256} (${bytes} bytes), the manifest says ${m.object.sha256} (${m.object.ciphertextBytes} bytes): it is damaged`;
  if (ok) await copyRecords(c, dest, m.id);
  await recordVerification(dest, copyRecord(c, dest, m.id, ok, durationMs, message));
  if (!ok) throw new CopyRefused(message);
  return true;
}

/** Which targets to copy between (default: from the primary to every other one). */
export interface ReplicateRequest {
  from?: string | undefined;
  to?: string | undefined;
  policy: BackupsPolicy;
}

/** Copies to the offsite targets every backup they miss, each copy's SHA-256 checked, the manifest last. */
export async function replicateBackups(input: ReplicateRequest, ctx: Runtime): Promise<StepResult<BackupReplicateData>> {
  const { policy } = input;
  const targets = openTargets(policy, ctx.env, ctx.log);
  const source = targets.get(input.from);
  if (input.to !== undefined && input.to === source.name) {
    throw new UsageError(`--to ${input.to} is the source target itself.`, {
      hint: `Copy to another target: ${targets.names.filter((n) => n !== source.name).join(', ') || '(none defined)'}.`,
    });
  }
  const destinations = input.to !== undefined ? [targets.get(input.to)] : targets.all().filter((t) => t.name !== source.name);
  const data: BackupReplicateData = { from: { name: source.name, location: source.location }, targets: [] };
  if (destinations.length === 0) {
    ctx.progress(`Nothing to replicate: policies/backups.yaml defines only target "${source.name}".`);
    return { verdict: 'skip', findings: [], data };
  }

  const entries = await listBackups(source, ctx.log);
  const copier: Copier = { source, ctx, intervalMs: parseDuration(policy.progress_interval) ?? 0, build: await dbopsBuild(ctx.sh) };
  const partialAfter = parseDuration(policy.retention.partial_after) ?? 0;
  const findings: Finding[] = [];
  let stopped: { error: EnvError; target: string } | undefined;

  for (const dest of destinations) {
    const result: TargetResult = { name: dest.name, location: dest.location, copied: [], present: [], failed: [] };
    data.targets.push(result);
    let current: string | undefined;
    try {
      await sweepLeftovers(dest, partialAfter, ctx.log);
      const there = new Map((await listBackups(dest, ctx.log)).map((e) => [e.manifest.id, e]));
      for (const entry of entries) {
        const id = entry.manifest.id;
        current = id;
        if (ctx.signal.aborted) throw new EnvError(`Interrupted before copying ${id} to target "${dest.name}".`);
        const existing = there.get(id);
        if (existing) {
          result.present.push(id);
          if (existing.status === 'unverified' && entry.status === 'verified') {
            try {
              await adoptVerification(copier, dest, entry);
              ctx.progress(`${dest.name}: ${id} was there unverified; its hash matches, the verification of "${source.name}" now applies`);
            } catch (e) {
              if (!(e instanceof CopyRefused)) throw e;
              result.failed.push({ id, message: e.message });
              ctx.progress(`${dest.name}: ${id} FAILED: ${e.message}`);
            }
          }
          continue;
        }
        if (entry.status === 'failed') {
          const message = `${id} on target "${source.name}" failed its newest verification; not copied to "${dest.name}"`;
          findings.push({
            rule: 'backup/replicate-skipped',
            severity: 'warning',
            message,
            help: `Verify it again (dbops backup verify ${id}) or let prune remove it.`,
          });
          ctx.progress(`${dest.name}: ${id} skipped (its newest verification failed)`);
          continue;
        }
        try {
          const { bytes, durationMs } = await replicateOne(copier, dest, entry);
          result.copied.push({ id, bytes, durationMs: Math.round(durationMs) });
          ctx.progress(
            `${dest.name}: ${id} copied, ${formatBytes(bytes)} in ${formatMs(durationMs)} (${mibPerSecond(bytes, durationMs)} MiB/s), SHA-256 checked`,
          );
        } catch (e) {
          if (!(e instanceof CopyRefused)) throw e;
          result.failed.push({ id, message: e.message });
          ctx.progress(`${dest.name}: ${id} FAILED: ${e.message}`);
        }
      }
    } catch (e) {
      // An environment problem (a target down, no space, Ctrl-C) stops this destination; what was copied
      // stays complete and listed, and the report still says so.
      if (!(e instanceof EnvError)) throw e;
      result.failed.push({ id: current ?? '(target)', message: e.message });
      stopped ??= { error: e, target: dest.name };
      ctx.progress(`${dest.name}: stopped: ${e.message}`);
      if (ctx.signal.aborted) break;
    }
  }

  for (const t of data.targets) {
    for (const f of t.failed) findings.push({ rule: 'backup/replicate-failed', severity: 'error', message: `${t.name}: ${f.id}: ${f.message}` });
  }
  const failed = data.targets.some((t) => t.failed.length > 0);
  const verdict = failed ? 'fail' : findings.length > 0 ? 'warn' : 'pass';
  if (stopped) {
    return {
      verdict: 'fail',
      findings,
      data,
      exitCode: ExitCode.Environment,
      error: {
        message: `Replication to target "${stopped.target}" stopped: ${stopped.error.message}`,
        hint: stopped.error.hint ?? 'Fix the problem and run dbops backup replicate again; completed copies are kept.',
      },
    };
  }
  return { verdict, findings, data };
}
