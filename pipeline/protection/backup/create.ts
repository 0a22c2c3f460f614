import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { listBackups, newBackupId, openTargets, sweepLeftovers, writeManifest } from './catalog.ts';
import { ArchiveManifestBuilder, COPY_MANIFEST } from './archive-manifest.ts';
import { COPY_SETTINGS, openDumpSnapshot, startPgDump, type DumpSnapshot, type ServerInfo } from './dump.ts';
import { LAYOUT, type BackupEntry, type BackupManifest, type TableHash, type TableManifest } from './manifest.ts';
import { mibPerSecond, ProgressMeter } from './progress.ts';
import type { BackupCreateData } from './report.ts';
import { computeTableManifest } from './tables.ts';
import { parseDuration } from '../../core/duration.ts';
import { ConfigError, EnvError, isDbopsError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { redact } from '../../core/redact.ts';
import { createEncryptStream, recipientFingerprint } from '../../infra/crypto/age.ts';
import { connect, isPgError } from '../../infra/db/client.ts';
import { pgEnv } from '../../infra/db/libpq.ts';
import type { DbTarget } from '../../infra/db/url.ts';
import { clientTool, findPgBinaries, toolVersionLine } from '../../infra/pg/binaries.ts';
import type { BackupsPolicy } from '../../policy/backups.ts';
import { formatBytes } from '../../core/format.ts';
import type { Runtime } from '../../core/runtime.ts';
import { type StepResult } from '../../core/result.ts';
import { dbopsBuild } from '../../infra/git/base.ts';
import { acquireOperationLock } from '../../infra/db/locks.ts';

const APP = 'dbops backup create';

/**
 * Expected archive size, for the ETA: the newest backup of the same database on this target, scaled by how
 * much the database grew since. The database size alone says little: indexes are not dumped, and compression
 * shrinks the rest by a factor that depends on the data.
 */
async function expectedSize(entries: Promise<BackupEntry[]>, info: ServerInfo, log: Logger): Promise<number | undefined> {
  try {
    const previous = (await entries)
      .filter((e) => e.manifest.database.name === info.name && e.manifest.database.systemIdentifier === info.systemIdentifier)
      .at(-1)?.manifest;
    if (!previous) return undefined;
    const grown = previous.database.sizeBytes ? info.sizeBytes / previous.database.sizeBytes : 1;
    return Math.round(previous.dump.plaintextBytes * grown);
  } catch (e) {
    log.debug({ err: (e as Error).message }, 'no size estimate from earlier backups');
    return undefined;
  }
}

/**
 * Runs every task; the first failure aborts the others (pg_dump is killed, the upload aborted, the manifest
 * query cancelled) and is rethrown once all of them have settled, so nothing keeps writing after we return.
 */
async function allOrNothing(tasks: Array<Promise<unknown>>, abort: AbortController): Promise<void> {
  let failure: { error: unknown } | undefined;
  await Promise.all(
    tasks.map((t) =>
      t.catch((e: unknown) => {
        if (failure) return;
        failure = { error: e };
        abort.abort(e);
      }),
    ),
  );
  if (failure) throw failure.error;
}

/** Stops the manifest query running on the snapshot connection: node-postgres cannot cancel by itself. */
async function cancelQuery(target: DbTarget, snapshot: DumpSnapshot, log: Logger): Promise<void> {
  const pid = (snapshot.client as unknown as { processID?: number }).processID;
  if (!pid) return;
  try {
    const c = await connect(target, { log, applicationName: `${APP} (cancel)` });
    await c.query('SELECT pg_cancel_backend($1)', [pid]).finally(() => c.end().catch(() => undefined));
  } catch (e) {
    log.debug({ err: (e as Error).message }, 'could not cancel the manifest query');
  }
}

/** A setting as the snapshot's session sees it: pg_dump's session has the same role, database and options. */
async function sessionSetting(snapshot: DumpSnapshot, name: string): Promise<string> {
  return (await snapshot.client.query<{ value: string }>('SELECT current_setting($1) AS value', [name])).rows[0]!.value;
}

function asEnvError(e: unknown, what: string): unknown {
  if (isDbopsError(e)) return e;
  if (isPgError(e)) return new EnvError(`${what}: ${redact(e.message)}`, { cause: e });
  if (typeof (e as NodeJS.ErrnoException | undefined)?.code === 'string') return new EnvError(`${what}: ${redact((e as Error).message)}`, { cause: e });
  return e;
}

/** A backup to take: of which database, as which tier, to which target of the policy. */
export interface CreateBackupRequest {
  database: DbTarget;
  tier: BackupManifest['tier'];
  note?: string | undefined;
  /** Storage target name (default: the primary). */
  target?: string | undefined;
  policy: BackupsPolicy;
  /** The file the policy came from, for messages. */
  policyFile: string;
}

/**
 * Takes a consistent, encrypted backup: pg_dump inside an exported snapshot, with the table manifest
 * computed in that same snapshot, streamed through age and SHA-256 to the target; the manifest is written last.
 */
export async function createBackup(input: CreateBackupRequest, ctx: Runtime): Promise<StepResult<BackupCreateData>> {
  const t0 = performance.now();
  const { policy, policyFile } = input;
  const recipients = policy.encryption.recipients;
  if (recipients.length === 0) {
    throw new ConfigError(
      `${policyFile}: encryption.recipients is empty: backups are only ever stored encrypted, and there is no age recipient to encrypt to.`,
      {
        hint: 'Create a key pair with `age-keygen -o key.txt` (keep key.txt in a secret store or offline), and add the public key it prints under encryption.recipients, e.g. `- { name: ops-oncall, key: age1… }`; add a second recipient as an escrow key.',
      },
    );
  }
  const storage = openTargets(policy, ctx.env, ctx.log).get(input.target);
  const target = input.database;
  // The sweep, the listing (only the progress estimate needs it), the binaries lookup and the manifest
  // reader's setup run while the database connection is set up: each costs a round trip or a process start.
  const sweeping = sweepLeftovers(storage, parseDuration(policy.retention.partial_after) ?? 0, ctx.log);
  const earlier = listBackups(storage, ctx.log);
  const binaries = findPgBinaries(ctx.env);
  const reader = policy.dump.table_manifest === 'archive' ? ArchiveManifestBuilder.create() : undefined;
  for (const p of [sweeping, earlier, binaries, reader]) p?.catch(() => undefined);
  const swept = await sweeping;
  const bins = await binaries;
  const snapshot = await openDumpSnapshot(target, ctx.log, APP, parseDuration(policy.dump.lock_wait_timeout) ?? 0);
  const { info } = snapshot;
  const id = newBackupId(input.tier, snapshot.exportedAt);
  const objectKey = LAYOUT.object(id);
  const abort = new AbortController();
  const onInterrupt = () => abort.abort(ctx.signal.reason);
  ctx.signal.addEventListener('abort', onInterrupt, { once: true });
  let stored = false;
  let manifestAttempted = false;
  let meter: ProgressMeter | undefined;
  try {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    // The backup mode of the one operation lock, on the snapshot's session: maintenance waits for the backup.
    await acquireOperationLock(snapshot.client, 'backup', { what: 'A backup', waitMs: parseDuration(policy.dump.lock_wait_timeout) ?? 0, signal: ctx.signal });
    const [pgDump, encrypt, expected, fromArchive, lcMonetary] = await Promise.all([
      clientTool(bins, 'pg_dump', Math.floor(info.serverVersionNum / 10000)),
      createEncryptStream(recipients.map((r) => r.key)),
      expectedSize(earlier, info, ctx.log),
      reader,
      reader ? sessionSetting(snapshot, 'lc_monetary') : undefined,
    ]);
    // clientTool has just run `pg_dump --version`; this is that run's line, not a second one.
    const pgDumpVersion = await toolVersionLine(pgDump);
    ctx.progress(
      `Backing up database ${info.name} (${formatBytes(info.sizeBytes)}, PostgreSQL ${info.serverVersion}) to target "${storage.name}" (${storage.location}) as ${id}`,
    );
    meter = new ProgressMeter({
      label: `backup ${id}`,
      intervalMs: parseDuration(policy.progress_interval) ?? 0,
      emit: (line) => ctx.progress(line),
      live: ctx.live,
      expectedBytes: expected,
      expectedFrom: 'estimated from the previous backup',
    }).start();
    const progress = meter;

    // The table manifest is read from the archive as it passes (policy dump.table_manifest: archive), or
    // computed by a second scan inside the snapshot (database); see tables.ts and archive-manifest.ts.
    const copySettings = fromArchive ? { ...COPY_SETTINGS, lc_monetary: lcMonetary! } : undefined;
    const dump = startPgDump({
      pgDump,
      target,
      env: pgEnv(target, ctx.env, `${APP} (pg_dump)`),
      snapshot: snapshot.id,
      compressionLevel: policy.dump.compression_level,
      lockWaitTimeoutMs: parseDuration(policy.dump.lock_wait_timeout) ?? 0,
      settings: copySettings,
      log: ctx.log,
      signal: abort.signal,
    });
    const sha256 = createHash('sha256');
    let plaintextBytes = 0;
    let ciphertextBytes = 0;
    const plaintext = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        plaintextBytes += chunk.length;
        progress.add(chunk.length);
        // Passed on at once; the next chunk waits until the manifest reader has caught up.
        this.push(chunk);
        const wait = fromArchive?.write(chunk);
        if (wait) wait.then(() => done(), done);
        else done();
      },
    });
    const ciphertext = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        sha256.update(chunk);
        ciphertextBytes += chunk.length;
        done(null, chunk);
      },
    });

    let finishedAt: Date | undefined;
    let dumpMs = 0;
    let tables: TableManifest[] = [];
    let tableHash: TableHash = { method: 'record-hash' };
    let tablesMs = 0;
    const streamed = pipeline(dump.output, plaintext, encrypt, ciphertext, { signal: abort.signal });
    /** The database scan, on the snapshot's connection (cancelled with the backup). */
    const scan = async (): Promise<TableManifest[]> => {
      const cancel = () => void cancelQuery(target, snapshot, ctx.log);
      abort.signal.addEventListener('abort', cancel, { once: true });
      try {
        return await computeTableManifest(snapshot.client);
      } catch (e) {
        throw asEnvError(e, `Could not compute the table manifest of ${info.name} inside the backup's snapshot`);
      } finally {
        abort.signal.removeEventListener('abort', cancel);
      }
    };
    await allOrNothing(
      [
        // Plaintext exists only in these buffers: pg_dump's pipe → age → the target.
        streamed,
        storage.put(objectKey, ciphertext, { signal: abort.signal }).then(() => {
          stored = true;
          finishedAt = new Date();
        }),
        dump.done.then((r) => {
          dumpMs = r.durationMs;
        }),
        (async () => {
          const started = performance.now();
          if (fromArchive) {
            await streamed;
            try {
              const read = await fromArchive.result();
              tables = read.tables;
              tableHash = { method: COPY_MANIFEST, encoding: read.facts.encoding, settings: copySettings! };
            } catch (e) {
              // An archive this reader does not know (a newer pg_dump): the snapshot is still open, so scan it.
              ctx.log.warn(`could not read the table manifest from the archive (${(e as Error).message}); computing it in the database instead`);
              tables = await scan();
            }
          } else {
            tables = await scan();
          }
          tablesMs = performance.now() - started;
          ctx.log.info({ tables: tables.length, method: tableHash.method, ms: Math.round(tablesMs) }, 'table manifest computed');
        })(),
      ],
      abort,
    );
    // pg_dump has finished with the snapshot; the manifest is complete.
    await snapshot.close();
    const summary = progress.stop();

    const build = await dbopsBuild(ctx.sh);
    const manifest: BackupManifest = {
      formatVersion: 1,
      id,
      tier: input.tier,
      database: {
        name: info.name,
        systemIdentifier: info.systemIdentifier,
        serverVersion: info.serverVersion,
        serverVersionNum: info.serverVersionNum,
        sizeBytes: info.sizeBytes,
      },
      startedAt: snapshot.exportedAt.toISOString(),
      finishedAt: (finishedAt ?? new Date()).toISOString(),
      dump: { format: 'custom', compressionLevel: policy.dump.compression_level, pgDump: pgDumpVersion, plaintextBytes, durationMs: Math.round(dumpMs) },
      object: { key: objectKey.slice(id.length + 1), ciphertextBytes, sha256: sha256.digest('hex') },
      encryption: { format: 'age-v1', recipients: recipients.map((r) => ({ name: r.name, recipient: r.key, fingerprint: recipientFingerprint(r.key) })) },
      tables,
      tableHash,
      dbops: build,
      ...(input.note ? { note: input.note } : {}),
    };
    manifestAttempted = true;
    await writeManifest(storage, manifest, { signal: abort.signal });
    const totalMs = performance.now() - t0;
    ctx.log.info(
      {
        id,
        target: storage.name,
        plaintextBytes,
        ciphertextBytes,
        dumpMs: Math.round(dumpMs),
        tablesMs: Math.round(tablesMs),
        mibPerSecond: summary.mibPerSecond,
      },
      'backup stored',
    );
    return {
      verdict: 'pass',
      findings: [],
      data: { target: { name: storage.name, location: storage.location }, manifest, throughputMiBs: mibPerSecond(ciphertextBytes, totalMs), swept },
    };
  } catch (e) {
    meter?.stop();
    abort.abort(e);
    await snapshot.close();
    // `put` is atomic, so only a completed object (or a manifest whose write may have landed) needs removing.
    if (stored || manifestAttempted) {
      const keys = manifestAttempted ? [LAYOUT.manifest(id), objectKey] : [objectKey];
      await storage
        .delete(keys)
        .catch((d: unknown) =>
          ctx.log.warn(
            { target: storage.name, keys, err: (d as Error).message },
            `could not remove ${keys.join(', ')} of the failed backup; the next backup create or prune removes it`,
          ),
        );
    }
    if (ctx.signal.aborted) {
      throw new EnvError(`Interrupted: backup ${id} was not completed and nothing of it is listed.`, { hint: 'Run `dbops backup create` again.', cause: e });
    }
    throw asEnvError(e, `Backup ${id} to target "${storage.name}" failed`);
  } finally {
    ctx.signal.removeEventListener('abort', onInterrupt);
  }
}
