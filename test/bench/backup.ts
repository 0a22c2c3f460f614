// What backups cost next to the raw tools, on the synthetic AstroFinance dataset (scale 2 ≈ 1 GB) in the same
// run, every figure the median of alternated runs:
// dbops's commands run in a process of their own that only runs them (command-process.ts: modules loaded by one
// untimed run, Node's start-up not timed), so the benchmark's own heap (the seed, the migrations) does not
// make their garbage collections slower than a `./dbops backup …` process has them.
// - `dbops backup create` (a directory target on local disk: pg_dump -Fc -Z1 in an exported snapshot,
//   the table manifest read from the rows as they stream, age encryption, SHA-256, atomic store) against raw
//   `pg_dump -Fc -Z1 > file`. Throughput is database MiB (pg_database_size) per second for both, so the ratio is
//   raw time / create time. Goal: ≥ 0.85×. The streaming path without any manifest and the database scan the
//   manifest used to be (`dump.table_manifest: database`) are timed too, to say where the time goes.
// - `dbops backup verify` (read level) against raw `pg_restore -f /dev/null` of the same archive in plaintext on
//   local disk. Goal: ≤ 1.1× the raw time.
// - `dbops backup verify --restore` into the bench cluster (--scratch-url) against raw `pg_restore -j2` of the
//   decrypted archive into a new database of the same cluster: download, decryption and pg_restore -j2 until its
//   last index is built; the manifest comparison and amcheck are timed separately and printed beside it.
//   Goal: ≤ 1.1× the raw time.
// - dbops's own CPU (this process: JavaScript, zlib and OpenSSL threads; not pg_dump, pg_restore or the server)
//   per GiB of database for create and verify.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import type { BackupCreateData, BackupVerifyData } from '../../pipeline/protection/backup/report.ts';
import { computeTableManifest, MANIFEST_SETTINGS } from '../../pipeline/protection/backup/tables.ts';
import { openDumpSnapshot, startPgDump } from '../../pipeline/protection/backup/dump.ts';
import { pgEnv } from '../../pipeline/infra/db/libpq.ts';
import { silentLogger } from '../../pipeline/core/logger.ts';
import { createEncryptStream, generateX25519Identity, identityToRecipient } from '../../pipeline/infra/crypto/age.ts';
import { parseDatabaseUrl } from '../../pipeline/infra/db/url.ts';
import { DirectoryStorage } from '../../pipeline/infra/storage/directory.ts';
import { findPgBinaries, pgTool } from '../../pipeline/infra/pg/binaries.ts';
import { dbops, testEnv } from '../helpers/cli.ts';
import { queryUrl } from '../helpers/db.ts';
import type { BenchResult } from './run.ts';
import { urlOf } from './common.ts';
import { startCommandProcess } from './command-process.ts';
import { libpq } from '../helpers/backup-fixture.ts';

const SCALE = process.env['BENCH_BACKUP_SCALE'] ?? '2';
const RUNS = Number(process.env['BENCH_BACKUP_RUNS'] ?? 3);
const GOAL_CREATE = 0.85;
const MIB = 1024 * 1024;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const GIB = 1024 * MIB;
const perGiB = (cpuS: number[], bytes: number) => Number((median(cpuS) / (bytes / GIB)).toFixed(2));
const seconds = (ms: number) => Number((ms / 1000).toFixed(2));
const rate = (bytes: number, ms: number) => Number((bytes / MIB / (ms / 1000)).toFixed(1));

/** `pg_dump -Fc -Z1 > file`, as a shell would run it; resolves with the wall time once pg_dump exited 0. */
async function rawDump(admin: string, database: string, file: string): Promise<number> {
  const bins = await findPgBinaries();
  const env = libpq(urlOf(admin, database));
  const out = createWriteStream(file);
  await new Promise((resolve) => out.once('open', resolve));
  const started = performance.now();
  const child = spawn(await pgTool(bins, 'pg_dump'), ['-Fc', '-Z1'], { env, stdio: ['ignore', out, 'inherit'] });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const ms = performance.now() - started;
  out.close();
  if (code !== 0) throw new Error(`pg_dump exited ${code}`);
  return ms;
}

/**
 * create's streaming path without the table manifest, from the same building blocks: pg_dump in an exported
 * snapshot → age → SHA-256 → atomic store in the folder. Separates what encryption and storage cost from what
 * the concurrent manifest scan costs.
 */
async function streamOnly(url: string, recipient: string, storage: DirectoryStorage): Promise<number> {
  const target = parseDatabaseUrl(url);
  const log = silentLogger();
  const snapshot = await openDumpSnapshot(target, log, 'dbops bench');
  try {
    const started = performance.now();
    const dump = startPgDump({
      pgDump: await pgTool(await findPgBinaries(), 'pg_dump'),
      target,
      env: pgEnv(target, process.env, 'dbops bench (pg_dump)'),
      snapshot: snapshot.id,
      compressionLevel: 1,
      log,
      signal: new AbortController().signal,
    });
    const sha = createHash('sha256');
    const hashed = new Transform({ transform: (c: Buffer, _e, done) => (sha.update(c), done(null, c)) });
    await Promise.all([pipeline(dump.output, await createEncryptStream([recipient]), hashed), storage.put('stream-only/backup.dump.age', hashed), dump.done]);
    const ms = performance.now() - started;
    await storage.delete(['stream-only/backup.dump.age']);
    return ms;
  } finally {
    await snapshot.close();
  }
}

/** The table manifest alone: a REPEATABLE READ snapshot, the settings, md5 over every row of every table. */
async function manifestOnly(url: string): Promise<{ ms: number; tables: number }> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const started = performance.now();
    await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await c.query(MANIFEST_SETTINGS.join('; '));
    const tables = await computeTableManifest(c);
    await c.query('COMMIT');
    return { ms: performance.now() - started, tables: tables.length };
  } finally {
    await c.end();
  }
}

export async function bench(): Promise<BenchResult> {
  const admin = process.env['BENCH_DATABASE_URL'];
  if (!admin) throw new Error('BENCH_DATABASE_URL is not set (run through `npm run bench`)');
  const database = `bench_backup_${randomBytes(3).toString('hex')}`;
  const url = urlOf(admin, database);
  const dir = await mkdtemp(join(tmpdir(), 'dbops-bench-backup-'));
  await queryUrl(admin, `CREATE DATABASE "${database}"`);
  try {
    const deploy = await dbops(['migrate', 'deploy', '--database-url', url], testEnv());
    if (deploy.code !== 0) throw new Error(`migrate deploy failed:\n${deploy.all}`);
    const seed = await dbops(['seed', '--database-url', url, '--scale', SCALE], testEnv());
    if (seed.code !== 0) throw new Error(`seed failed:\n${seed.all}`);
    // Flushed now: the gigabyte the seed wrote would otherwise be written back by the checkpointer during the
    // timed runs, on the same two cores and disk.
    await queryUrl(url, 'VACUUM ANALYZE');
    await queryUrl(admin, 'CHECKPOINT');
    const [{ bytes }] = (await queryUrl<{ bytes: string }>(admin, 'SELECT pg_database_size($1)::text AS bytes', [database])) as [{ bytes: string }];
    const size = Number(bytes);

    const identity = await generateX25519Identity();
    const recipient = await identityToRecipient(identity);
    const policies = join(dir, 'policies');
    const target = join(dir, 'target');
    const scanPolicies = join(dir, 'policies-scan');
    await Promise.all([mkdir(policies), mkdir(scanPolicies), mkdir(target), mkdir(join(dir, 'stream'))]);
    const policyYaml = (manifestFrom: string) =>
      `version: 1\ndump:\n  compression_level: 1\n  table_manifest: ${manifestFrom}\nencryption:\n  recipients:\n    - name: bench\n      key: ${recipient}\ntargets:\n  local:\n    type: directory\n    path: ${target}\n    primary: true\nprogress_interval: 0\n`;
    await writeFile(join(policies, 'backups.yaml'), policyYaml('archive'));
    await writeFile(join(scanPolicies, 'backups.yaml'), policyYaml('database'));

    // Warm the page cache once, untimed, so neither side pays for the first read from disk.
    await rawDump(admin, database, join(dir, 'warm.dump'));
    await rm(join(dir, 'warm.dump'));
    // dbops runs in a process of its own (its modules loaded by one untimed run), not in this one.
    const creator = startCommandProcess();
    const createArgs = (from: string) => ['backup', 'create', '--database-url', url, '--policies-dir', from, '--reports-dir', join(dir, 'reports'), '--json'];
    const warm = await creator.run(createArgs(policies), testEnv());
    if (warm.code !== 0) throw new Error(`backup create failed (exit ${warm.code}):\n${warm.all}`);
    await rm(join(target, (JSON.parse(warm.stdout) as { data: BackupCreateData }).data.manifest.id), { recursive: true, force: true });

    const raw: number[] = [];
    const create: number[] = [];
    const createCpu: number[] = [];
    const scanCreate: number[] = [];
    const scanCpu: number[] = [];
    const dumpOnly: number[] = [];
    const stream: number[] = [];
    const scratch = new DirectoryStorage({ name: 'bench', path: join(dir, 'stream') });
    let rawBytes = 0;
    let last: BackupCreateData | undefined;
    // Alternated, so a burst of foreign load on the shared machine hits both sides alike.
    for (let i = 0; i < RUNS; i++) {
      const file = join(dir, 'raw.dump');
      raw.push(await rawDump(admin, database, file));
      rawBytes = (await stat(file)).size;
      await rm(file);
      stream.push(await streamOnly(url, recipient, scratch));
      const createWith = async (from: string): Promise<{ ms: number; cpuS: number; data: BackupCreateData }> => {
        const out = await creator.run(createArgs(from), testEnv());
        if (out.code !== 0) throw new Error(`backup create failed (exit ${out.code}):\n${out.all}`);
        const data = (JSON.parse(out.stdout) as { data: BackupCreateData }).data;
        await rm(join(target, data.manifest.id), { recursive: true, force: true });
        return { ms: out.ms, cpuS: out.cpuS, data };
      };
      const read = await createWith(policies);
      if (read.data.manifest.tableHash?.method !== 'copy-xxh64') throw new Error('the manifest was not read from the archive');
      create.push(read.ms);
      createCpu.push(read.cpuS);
      last = read.data;
      dumpOnly.push(last.manifest.dump.durationMs);
      const scanned = await createWith(scanPolicies);
      scanCreate.push(scanned.ms);
      scanCpu.push(scanned.cpuS);
    }
    await creator.close();
    const manifest = await manifestOnly(url);

    const rawMs = median(raw);
    const createMs = median(create);
    const ratio = rawMs / createMs;
    const m = last!.manifest;
    const metrics: Record<string, number | string> = {
      'database size (MiB)': Math.round(size / MIB),
      tables: manifest.tables,
      [`raw pg_dump -Fc -Z1 > file, median of ${RUNS} (s)`]: seconds(rawMs),
      'raw pg_dump (MiB/s of database)': rate(size, rawMs),
      'raw archive (MiB)': Math.round(rawBytes / MIB),
      [`dbops backup create, median of ${RUNS} (s)`]: seconds(createMs),
      'dbops backup create (MiB/s of database)': rate(size, createMs),
      '  of which pg_dump until exit (s)': seconds(median(dumpOnly)),
      'stored ciphertext (MiB)': Math.round(m.object.ciphertextBytes / MIB),
      [`pg_dump → age → SHA-256 → store, no manifest, median of ${RUNS} (s)`]: seconds(median(stream)),
      'streaming path / raw throughput (×)': Number((rawMs / median(stream)).toFixed(2)),
      'create / raw throughput (×)': Number(ratio.toFixed(2)),
      'create: dbops CPU per GiB of database (s)': perGiB(createCpu, size),
      [`create with table_manifest: database (the server scans twice), median of ${RUNS} (s)`]: seconds(median(scanCreate)),
      '  its throughput / raw (×)': Number((rawMs / median(scanCreate)).toFixed(2)),
      '  its dbops CPU per GiB of database (s)': perGiB(scanCpu, size),
      '  the database scan alone, own snapshot (s)': seconds(manifest.ms),
      'every run, raw | no manifest | create | create (scan) (s)': raw
        .map((r, i) => `${seconds(r)} | ${seconds(stream[i]!)} | ${seconds(create[i]!)} | ${seconds(scanCreate[i]!)}`)
        .join(', '),
    };

    // ---- backup verify vs raw `pg_restore -f /dev/null` ------------------------------------------------
    // `dbops backup verify ID` (in-process, read level: the stored object streamed through SHA-256 and age
    // decryption into `pg_restore -f /dev/null`, plus everything around it: policy, catalog, binaries lookup,
    // the verification record and the report) against raw `pg_restore -f /dev/null` of the same archive in
    // plaintext on local disk, alternated. Goal: verify ≤ 1.1× the raw time.
    const verifyGoals: Array<{ description: string; met: boolean }> = [];
    {
      const GOAL_VERIFY = 1.1;
      const verifyEnv = testEnv({ DBOPS_BACKUP_IDENTITY: identity });
      const args = ['--policies-dir', policies, '--reports-dir', join(dir, 'reports'), '--json'];
      const kept = await dbops(['backup', 'create', '--database-url', url, ...args], verifyEnv);
      if (kept.code !== 0) throw new Error(`backup create failed (exit ${kept.code}):\n${kept.all}`);
      const stored = (JSON.parse(kept.stdout) as { data: BackupCreateData }).data.manifest;
      // The same archive in plaintext, decrypted by the standard age CLI.
      const keyFile = join(dir, 'key.txt');
      const plain = join(dir, 'verify-raw.dump');
      await writeFile(keyFile, `${identity}\n`, { mode: 0o600 });
      const age = spawn('age', ['-d', '-i', keyFile, '-o', plain, join(target, stored.id, stored.object.key)], { stdio: 'inherit' });
      if ((await new Promise((resolve) => age.on('close', resolve))) !== 0) throw new Error('age -d failed');
      const pgRestore = await pgTool(await findPgBinaries(), 'pg_restore');
      const rawRead = async (): Promise<number> => {
        const started = performance.now();
        const child = spawn(pgRestore, ['-f', '/dev/null', plain], { stdio: ['ignore', 'ignore', 'inherit'] });
        const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
        if (code !== 0) throw new Error(`pg_restore -f /dev/null exited ${code}`);
        return performance.now() - started;
      };
      const verifier = startCommandProcess();
      const verifyOnce = async (): Promise<{ ms: number; readMs: number; cpuS: number }> => {
        const out = await verifier.run(['backup', 'verify', stored.id, ...args], verifyEnv);
        if (out.code !== 0) throw new Error(`backup verify failed (exit ${out.code}):\n${out.all}`);
        const record = (JSON.parse(out.stdout) as { data: BackupVerifyData }).data.record;
        return { ms: out.ms, readMs: Math.max(...record.checks.map((c) => c.durationMs)), cpuS: out.cpuS };
      };
      // Untimed once each: page cache, lazily loaded modules.
      await rawRead();
      await verifyOnce();
      const rawReads: number[] = [];
      const verifies: Array<{ ms: number; readMs: number; cpuS: number }> = [];
      for (let i = 0; i < RUNS; i++) {
        rawReads.push(await rawRead());
        verifies.push(await verifyOnce());
      }
      const rawReadMs = median(rawReads);
      const verifyMs = median(verifies.map((v) => v.ms));
      const verifyRatio = verifyMs / rawReadMs;
      Object.assign(metrics, {
        [`raw pg_restore -f /dev/null, median of ${RUNS} (s)`]: seconds(rawReadMs),
        [`dbops backup verify (read), median of ${RUNS} (s)`]: seconds(verifyMs),
        '  of which the streamed read (s)': seconds(median(verifies.map((v) => v.readMs))),
        'dbops backup verify (MiB/s of ciphertext)': rate(stored.object.ciphertextBytes, verifyMs),
        'verify / raw time (×)': Number(verifyRatio.toFixed(2)),
        'verify: dbops CPU per GiB of database (s)': perGiB(
          verifies.map((v) => v.cpuS),
          size,
        ),
        'every run, raw | verify (s)': rawReads.map((r, i) => `${seconds(r)} | ${seconds(verifies[i]!.ms)}`).join(', '),
      });
      verifyGoals.push({ description: `backup verify ≤ ${GOAL_VERIFY}× the time of raw pg_restore -f /dev/null`, met: verifyRatio <= GOAL_VERIFY });

      // ---- restore test vs raw `pg_restore -j2` ----------------------------------------------------------
      const GOAL_RESTORE = 1.1;
      const restoreArgs = ['--restore', '--jobs', '2', '--scratch-url', admin, ...args];
      const rawRestore = async (): Promise<number> => {
        const name = `bench_raw_restore_${randomBytes(3).toString('hex')}`;
        await queryUrl(admin, `CREATE DATABASE "${name}"`);
        try {
          const env = libpq(urlOf(admin, name));
          const started = performance.now();
          const child = spawn(pgRestore, ['--exit-on-error', '-j2', '-d', name, plain], { env, stdio: ['ignore', 'ignore', 'inherit'] });
          const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
          if (code !== 0) throw new Error(`pg_restore -j2 exited ${code}`);
          return performance.now() - started;
        } finally {
          await queryUrl(admin, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
        }
      };
      /** Download, decryption, roles and pg_restore -j2 until its last index is built (the record's readyMs), and the two checks after it. */
      const restoreOnce = async (): Promise<{ ms: number; manifestMs: number; amcheckMs: number }> => {
        const out = await verifier.run(['backup', 'verify', stored.id, ...restoreArgs], verifyEnv);
        if (out.code !== 0) throw new Error(`backup verify --restore failed (exit ${out.code}):\n${out.all}`);
        const record = (JSON.parse(out.stdout) as { data: BackupVerifyData }).data.record;
        const took = (name: string) => record.checks.find((c) => c.name === name)?.durationMs ?? 0;
        if (record.readyMs === undefined) throw new Error('the restore test recorded no readyMs');
        return { ms: record.readyMs, manifestMs: took('manifest'), amcheckMs: took('amcheck') };
      };
      const rawRestores: number[] = [];
      const restores: Array<{ ms: number; manifestMs: number; amcheckMs: number }> = [];
      // Each restore starts from a flushed cluster: the previous one's gigabyte of dirty pages (and the checkpoint its
      // DROP DATABASE asks for) would otherwise be written back during the next one, whichever side that is.
      for (let i = 0; i < RUNS; i++) {
        await queryUrl(admin, 'CHECKPOINT');
        rawRestores.push(await rawRestore());
        await queryUrl(admin, 'CHECKPOINT');
        restores.push(await restoreOnce());
      }
      const rawRestoreMs = median(rawRestores);
      const restoreMs = median(restores.map((r) => r.ms));
      const restoreRatio = restoreMs / rawRestoreMs;
      Object.assign(metrics, {
        [`raw pg_restore -j2 into a new database, median of ${RUNS} (s)`]: seconds(rawRestoreMs),
        [`dbops restore test: download + decrypt + pg_restore -j2, median of ${RUNS} (s)`]: seconds(restoreMs),
        '  beside it: manifest comparison (s)': seconds(median(restores.map((r) => r.manifestMs))),
        '  beside it: amcheck (s)': seconds(median(restores.map((r) => r.amcheckMs))),
        'restore test / raw pg_restore -j2 time (×)': Number(restoreRatio.toFixed(2)),
        'every run, raw | restore test (s)': rawRestores.map((r, i) => `${seconds(r)} | ${seconds(restores[i]!.ms)}`).join(', '),
      });
      verifyGoals.push({ description: `restore test ≤ ${GOAL_RESTORE}× the time of raw pg_restore -j2`, met: restoreRatio <= GOAL_RESTORE });
      await verifier.close();
    }
    // -----------------------------------------------------------------------------------------------------

    const goals = [{ description: `backup create ≥ ${GOAL_CREATE}× raw pg_dump -Fc -Z1 throughput`, met: ratio >= GOAL_CREATE }, ...verifyGoals];
    return {
      name: `backup: dbops backup create vs raw pg_dump -Fc -Z1 (scale ${SCALE})`,
      metrics,
      goal: { description: goals.map((g) => g.description).join('; '), met: goals.every((g) => g.met) },
    };
  } finally {
    await queryUrl(admin, `DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}
