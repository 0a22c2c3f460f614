import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listBackups, openTargets, writeManifest } from '../../pipeline/protection/backup/catalog.ts';
import type { BackupManifest } from '../../pipeline/protection/backup/manifest.ts';
import type { BackupVerifyData } from '../../pipeline/protection/backup/report.ts';
import { readBackup } from '../../pipeline/protection/backup/restore.ts';
import { silentLogger } from '../../pipeline/core/logger.ts';
import { generateX25519Identity, identityToRecipient } from '../../pipeline/infra/crypto/age.ts';
import { findPgBinaries, pgTool } from '../../pipeline/infra/pg/binaries.ts';
import { BackupsPolicy } from '../../pipeline/policy/backups.ts';
import { makeBackup } from '../helpers/backup-fixture.ts';
import { dbops, spawnDbops, testEnv } from '../helpers/cli.ts';
import { s3Env, s3Target, startS3rver, type S3Server } from '../helpers/s3.ts';
import { adminUrl, createDatabase, queryUrl, type TestDb } from '../helpers/db.ts';

// Every temporary folder dbops makes in this file lands here, so the test can prove none is left behind.
// 0755: when the suite runs as root, the throwaway cluster inside runs as the postgres OS user.
const work = mkdtempSync(join(tmpdir(), 'dbops-vtest-'));
chmodSync(work, 0o755);
const scratchTmp = join(work, 'tmp');
mkdirSync(scratchTmp, { mode: 0o755 });
process.env['TMPDIR'] = scratchTmp;

const backupsDir = join(work, 'backups');
const policiesDir = join(work, 'policies');
const reportsDir = join(work, 'reports');
const tag = randomBytes(3).toString('hex');
const OWNER = `vt_owner_${tag}`;
const READER = `vt_reader_${tag}`;
const log = silentLogger();

let identity: string;
let env: NodeJS.ProcessEnv;
let src: TestDb;
let policy: BackupsPolicy;
let s3: S3Server;

const leftovers = () => readdirSync(scratchTmp).filter((n) => n.startsWith('dbops-'));
const storage = (name?: string) => openTargets(policy, env).get(name);
const objectPath = (id: string) => join(backupsDir, id, 'backup.dump.age');

async function cli(args: string[]) {
  return dbops([...args, '--policies-dir', policiesDir, '--reports-dir', reportsDir], env);
}

async function verify(args: string[]): Promise<{ code: number; all: string; data: BackupVerifyData; error?: { message: string } }> {
  const run = await cli(['backup', 'verify', ...args, '--json']);
  const parsed = JSON.parse(run.stdout) as { data: BackupVerifyData; error?: { message: string } };
  return { code: run.code, all: run.all, data: parsed.data, ...(parsed.error ? { error: parsed.error } : {}) };
}

async function create(url: string): Promise<BackupManifest> {
  const run = await cli(['backup', 'create', '--database-url', url, '--tier', 'daily', '--json']);
  expect(run.code, run.all).toBe(0);
  return (JSON.parse(run.stdout) as { data: { manifest: BackupManifest } }).data.manifest;
}

/** A byte-for-byte copy of a stored backup under a new id, to damage without touching the original. */
async function copyBackup(m: BackupManifest): Promise<BackupManifest> {
  const id = m.id.replace(/-[0-9a-f]{4}$/, `-${randomBytes(2).toString('hex')}`);
  const s = storage();
  await s.put(`${id}/${m.object.key}`, readFileSync(objectPath(m.id)));
  const copy = { ...m, id };
  await writeManifest(s, copy);
  return copy;
}

async function populate(db: TestDb, rows: number): Promise<void> {
  await db.query(`
    CREATE TABLE accounts (id bigint PRIMARY KEY, iban text UNIQUE NOT NULL, balance numeric(18,2), opened timestamptz, meta jsonb, blob bytea, ratio float8);
    INSERT INTO accounts SELECT g, 'DE' || lpad(g::text, 20, '0'), (g * 7.31)::numeric(18,2), timestamptz '2026-01-01 00:00:00+00' + g * interval '17 minutes',
      jsonb_build_object('n', g, 'tag', md5(g::text)), decode(md5(g::text), 'hex'), g / 3.0 FROM generate_series(1, ${rows}) g;
    CREATE TABLE ledger (id bigserial PRIMARY KEY, account_id bigint NOT NULL REFERENCES accounts, amount numeric(18,2) NOT NULL, note text);
    CREATE INDEX ledger_account ON ledger (account_id);
    INSERT INTO ledger (account_id, amount, note) SELECT 1 + g % ${rows}, (g % 1000) - 500.25, 'Überweisung ' || g FROM generate_series(1, ${rows * 2}) g;
    CREATE TABLE "Odd ""Name""" (x int);
    INSERT INTO "Odd ""Name""" VALUES (1), (2);
    ALTER TABLE accounts OWNER TO ${OWNER};
    GRANT SELECT ON ledger TO ${READER};
  `);
}

beforeAll(async () => {
  identity = await generateX25519Identity();
  const recipient = await identityToRecipient(identity);
  mkdirSync(backupsDir);
  mkdirSync(policiesDir);
  mkdirSync(join(work, 's3'));
  s3 = await startS3rver({ bucket: 'dbops-verify', directory: join(work, 's3') });
  const document = {
    version: 1,
    encryption: { recipients: [{ name: 'test', key: recipient }] },
    targets: { local: { type: 'directory', path: backupsDir, primary: true }, offsite: s3Target(s3) },
    verify: { restore_jobs: 2, amcheck: 'heapallindexed' },
  };
  writeFileSync(join(policiesDir, 'backups.yaml'), YAML.stringify(document));
  policy = BackupsPolicy.parse(document);
  env = testEnv({ DBOPS_BACKUP_IDENTITY: identity, TMPDIR: scratchTmp, ...s3Env(s3) });
  await queryUrl(adminUrl(), `CREATE ROLE ${OWNER} NOLOGIN`);
  await queryUrl(adminUrl(), `CREATE ROLE ${READER} NOLOGIN`);
  src = await createDatabase('verify_src');
  await populate(src, 20_000);
});

afterAll(async () => {
  await s3?.stop();
  await src?.drop();
  await queryUrl(adminUrl(), `DROP ROLE IF EXISTS ${OWNER}`).catch(() => undefined);
  await queryUrl(adminUrl(), `DROP ROLE IF EXISTS ${READER}`).catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
});

describe('backup verify', () => {
  let good: BackupManifest;

  it('restores a backup taken while another connection writes, and it equals the snapshot, not the live table', async () => {
    const writer = new pg.Client({ connectionString: src.url });
    await writer.connect();
    let stop = false;
    let writes = 0;
    const writing = (async () => {
      while (!stop) {
        await writer.query(`INSERT INTO ledger (account_id, amount, note) VALUES (1 + ($1::int % 20000), 1.5, 'during the dump')`, [writes]);
        await writer.query('UPDATE accounts SET balance = balance + 1 WHERE id = $1', [1 + (writes % 20_000)]);
        writes++;
      }
    })();
    try {
      while (writes < 20) await new Promise((r) => setTimeout(r, 5));
      good = await create(src.url);
      const before = writes;
      while (writes < before + 20) await new Promise((r) => setTimeout(r, 5));
    } finally {
      stop = true;
      await writing;
      await writer.end();
    }
    const inManifest = (name: string) => good.tables.find((t) => t.name === name)!;
    const [live] = await src.query<{ n: string }>('SELECT count(*)::text AS n FROM ledger');
    // Rows were added after the snapshot: the live table is not what the backup holds.
    expect(BigInt(live!.n)).toBeGreaterThan(BigInt(inManifest('ledger').rows));
    expect(BigInt(inManifest('ledger').rows)).toBeGreaterThan(40_000n);

    const run = await verify([good.id, '--restore']);
    expect(run.code, run.all).toBe(0);
    const record = run.data.record;
    expect(record).toMatchObject({ backupId: good.id, target: 'local', level: 'restore', ok: true });
    // The time to a usable copy covers the read and the restore, and ends before the checks that follow it.
    expect(record.readyMs).toBeGreaterThanOrEqual(record.restoreMs!);
    expect(record.readyMs).toBeLessThanOrEqual(record.durationMs - record.checks.find((c) => c.name === 'manifest')!.durationMs);
    expect(record.checks.map((c) => [c.name, c.ok])).toEqual([
      ['sha256', true],
      ['decrypt', true],
      ['archive', true],
      ['restore', true],
      ['manifest', true],
      ['amcheck', true],
    ]);
    expect(record.checks.find((c) => c.name === 'manifest')?.message).toContain('3 tables match');
    expect(record.restoreMs).toBeGreaterThan(0);
    expect(record.dbops.version).toMatch(/^\d+\.\d+\.\d+/);
    // The throwaway cluster is gone: its port no longer answers, its folder is deleted.
    const port = /port (\d+)/.exec(record.checks.find((c) => c.name === 'restore')!.message!)?.[1];
    expect(port).toBeDefined();
    const probe = new pg.Client({ host: '127.0.0.1', port: Number(port), user: 'postgres', database: 'postgres', connectionTimeoutMillis: 2000 });
    await expect(probe.connect()).rejects.toThrow();
    expect(leftovers()).toEqual([]);
    expect(run.all).not.toContain(identity);
  });

  it('a read-only verification streams without writing the archive anywhere, and is recorded beside the backup', async () => {
    const run = await verify(['--latest']);
    expect(run.code, run.all).toBe(0);
    expect(run.data.record.level).toBe('read');
    expect(run.data.record.checks.map((c) => c.name)).toEqual(['sha256', 'decrypt', 'archive']);
    expect(run.data.record.checks[0]!.message).toContain(good.object.sha256.slice(0, 12));
    const [entry] = (await listBackups(storage(), log)).filter((e) => e.manifest.id === good.id);
    expect(entry?.status).toBe('verified');
    expect(entry?.verifications.map((v) => v.level)).toEqual(['restore', 'read']);
    expect(leftovers()).toEqual([]);
  });

  it('verifies the offsite copy on S3 and records the result there, never printing the S3 secret', async () => {
    const offsite = storage('offsite');
    await offsite.put(`${good.id}/${good.object.key}`, readFileSync(objectPath(good.id)));
    await writeManifest(offsite, good);
    const run = await verify([good.id, '--target', 'offsite']);
    expect(run.code, run.all).toBe(0);
    expect(run.data.target).toEqual({ name: 'offsite', location: expect.stringContaining('s3://dbops-verify/') });
    expect(run.data.record).toMatchObject({ target: 'offsite', level: 'read', ok: true });
    expect((await listBackups(offsite, log)).find((e) => e.manifest.id === good.id)?.status).toBe('verified');
    // The primary's records are its own: the copy's verification does not count for it.
    expect((await listBackups(storage(), log)).find((e) => e.manifest.id === good.id)?.verifications.map((v) => v.target)).toEqual(['local', 'local']);
    expect(run.all).not.toContain(s3.secretAccessKey);
    expect(leftovers()).toEqual([]);
  });

  it('--scratch-url restores into a database of that server and drops it afterwards', async () => {
    const scratchDbs = async () =>
      (await queryUrl<{ datname: string }>(adminUrl(), `SELECT datname FROM pg_database WHERE datname LIKE 'dbops\\_verify\\_%'`)).map((r) => r.datname);
    const before = await scratchDbs();
    const run = await verify([good.id, '--restore', '--scratch-url', adminUrl(), '--jobs', '1']);
    expect(run.code, run.all).toBe(0);
    const restoreCheck = run.data.record.checks.find((c) => c.name === 'restore');
    expect(restoreCheck?.message).toMatch(/pg_restore -j 1 into dbops_verify_\w+ .* on the scratch server 127\.0\.0\.1:\d+/);
    expect(await scratchDbs()).toEqual(before);
    expect(run.all).not.toContain(decodeURIComponent(new URL(adminUrl()).password));
    expect(leftovers()).toEqual([]);
  });

  it('a flipped byte in the middle of the object fails sha256 and decrypt, and is recorded as failed', async () => {
    const damaged = await copyBackup(good);
    const path = objectPath(damaged.id);
    const handle = await open(path, 'r+');
    const middle = Math.floor(statSync(path).size / 2);
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, middle);
    byte[0] = byte[0]! ^ 0x20;
    await handle.write(byte, 0, 1, middle);
    await handle.close();

    const run = await verify([damaged.id, '--restore']);
    expect(run.code).toBe(1);
    const checks = Object.fromEntries(run.data.record.checks.map((c) => [c.name, c]));
    expect(checks['sha256']).toMatchObject({ ok: false });
    expect(checks['sha256']!.message).toContain(`≠ manifest ${damaged.object.sha256.slice(0, 12)}`);
    expect(checks['decrypt']).toMatchObject({ ok: false });
    expect(checks['decrypt']!.message).toMatch(/chunk/);
    expect(checks['restore']).toMatchObject({ ok: false, message: expect.stringContaining('not run') });
    expect(run.error?.message).toMatch(/sha256: stored object hash .* ≠ manifest .*; decrypt: /);
    const [entry] = (await listBackups(storage(), log)).filter((e) => e.manifest.id === damaged.id);
    expect(entry?.status).toBe('failed');
    expect(leftovers()).toEqual([]);
  });

  it('a truncated object fails sha256 and decrypt, naming the truncation', async () => {
    const cut = await copyBackup(good);
    truncateSync(objectPath(cut.id), Math.floor(good.object.ciphertextBytes * 0.6));
    const human = await cli(['backup', 'verify', cut.id]);
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(/✗ sha256/);
    expect(human.stdout).toMatch(/✗ decrypt/);
    expect(human.all).toMatch(/truncat/i);
    expect(human.all).toContain(`bytes stored, the manifest says ${good.object.ciphertextBytes}`);
    expect(leftovers()).toEqual([]);
  });

  it('a backup whose manifest predates tableHash (record-hash) still verifies on the same database, and a wrong one still fails', async () => {
    // makeBackup writes the manifest the way dbops did before the table hash was read from the archive.
    const old = await makeBackup({ url: src.url, storage: storage(), recipients: policy.encryption.recipients });
    expect(old.tableHash).toBeUndefined();
    const raw = JSON.parse(readFileSync(join(backupsDir, old.id, 'manifest.json'), 'utf8')) as Record<string, unknown>;
    expect(raw).not.toHaveProperty('tableHash');
    const passed = await verify([old.id, '--restore']);
    expect(passed.code, passed.all).toBe(0);
    expect(passed.data.record.checks.find((c) => c.name === 'manifest')).toMatchObject({ ok: true, message: expect.stringMatching(/tables match/) });
    // The same database, backed up by create (the first test): the other method, the same verdict.
    expect(good.tableHash?.method).toBe('copy-xxh64');
    expect(old.tables.map((t) => t.name)).toEqual(good.tables.map((t) => t.name));
    // Old manifests are compared the old way: a copy of one with a changed row count fails, naming the table.
    const tampered = await makeBackup({
      url: src.url,
      storage: storage(),
      recipients: policy.encryption.recipients,
      tables: old.tables.map((t) => (t.name === 'accounts' ? { ...t, rows: String(BigInt(t.rows) + 1n) } : t)),
    });
    const failed = await verify([tampered.id, '--restore']);
    expect(failed.code, failed.all).toBe(1);
    expect(failed.data.record.checks.find((c) => c.name === 'manifest')?.message).toMatch(/public\.accounts has \d+ rows, the manifest \d+/);
  });

  it('a backup a newer pg_dump wrote is refused with the pg_restore it needs (exit 3), and nothing is recorded', async () => {
    const copy = await copyBackup(good);
    const newer = { ...copy, dump: { ...copy.dump, pgDump: 'pg_dump (PostgreSQL) 99.1' } };
    await writeManifest(storage(), newer);
    const run = await cli(['backup', 'verify', newer.id]);
    expect(run.code, run.all).toBe(3);
    expect(run.stderr).toMatch(/pg_restore \S+ \(.*\) is older than the pg_dump 99 that wrote the archive/);
    expect(run.stderr).toContain('postgresql-client-99');
    expect(readdirSync(join(backupsDir, newer.id))).not.toContain('verify');
    expect(leftovers()).toEqual([]);
  });

  it('a dump of different content inside a valid encryption fails the manifest check, naming the table', async () => {
    // Same schema, one balance changed: a correct age file, a correct archive, the wrong data.
    const other = await createDatabase('verify_other');
    try {
      await populate(other, 20_000);
      await other.query('UPDATE accounts SET balance = balance + 0.01 WHERE id = 4242');
      const { id } = await makeBackup({
        url: other.url,
        storage: storage(),
        recipients: policy.encryption.recipients,
        tables: good.tables,
        tableHash: good.tableHash,
      });
      const run = await verify([id, '--restore']);
      expect(run.code, run.all).toBe(1);
      const checks = Object.fromEntries(run.data.record.checks.map((c) => [c.name, c]));
      for (const name of ['sha256', 'decrypt', 'archive', 'restore']) expect(checks[name]?.ok, name).toBe(true);
      expect(checks['manifest']?.ok).toBe(false);
      expect(checks['manifest']?.message).toMatch(/public\.accounts (has|content hash)/);
      expect(checks['manifest']?.message).not.toContain('public.Odd');
      expect(run.error?.message).toContain('manifest: public.accounts');
      expect(leftovers()).toEqual([]);
    } finally {
      await other.drop();
    }
  });

  it('the decrypted archive gets its final name only once decryption authenticated all of it', async () => {
    const dir = mkdtempSync(join(work, 'plain-'));
    const pgRestore = await pgTool(await findPgBinaries(), 'pg_restore');
    const read = (manifest: BackupManifest, plaintext: string) =>
      readBackup({
        storage: storage(),
        manifest,
        identities: [identity],
        pgRestore,
        env: process.env,
        signal: new AbortController().signal,
        log,
        progress: { intervalMs: 0, emit: () => undefined },
        plaintext,
      });

    const ok = await read(good, join(dir, 'good.dump'));
    expect(ok.ok).toBe(true);
    expect(ok.file).toBe(join(dir, 'good.dump'));
    expect(readdirSync(dir)).toEqual(['good.dump']);
    // Byte for byte what the standard age CLI decrypts from the stored object.
    writeFileSync(join(dir, 'key.txt'), `${identity}\n`, { mode: 0o600 });
    const cli = execFileSync('age', ['-d', '-i', join(dir, 'key.txt'), objectPath(good.id)], { maxBuffer: 1 << 30 });
    expect(createHash('sha256').update(readFileSync(ok.file!)).digest('hex')).toBe(createHash('sha256').update(cli).digest('hex'));

    // Damaged two thirds in: age has already emitted most of the plaintext when it finds out.
    const damaged = await copyBackup(good);
    const bytes = readFileSync(objectPath(damaged.id));
    const at = Math.floor((bytes.length * 2) / 3);
    bytes[at] = bytes[at]! ^ 0x80;
    writeFileSync(objectPath(damaged.id), bytes);
    const bad = await read(damaged, join(dir, 'bad.dump'));
    expect(bad.ok).toBe(false);
    expect(bad.file).toBeUndefined();
    expect(bad.plaintextBytes).toBeGreaterThan(0);
    expect(readdirSync(dir).sort()).toEqual(['good.dump', 'key.txt']);
  });

  it('a wrong identity is a configuration error: exit 2, nothing recorded', async () => {
    const before = (await listBackups(storage(), log)).find((e) => e.manifest.id === good.id)!.verifications.length;
    const wrong = await generateX25519Identity();
    const run = await dbops(['backup', 'verify', good.id, '--policies-dir', policiesDir, '--reports-dir', reportsDir], {
      ...env,
      DBOPS_BACKUP_IDENTITY: wrong,
    });
    expect(run.code, run.all).toBe(2);
    expect(run.all).toContain('test (');
    expect(run.all).not.toContain(wrong);
    const after = (await listBackups(storage(), log)).find((e) => e.manifest.id === good.id)!.verifications.length;
    expect(after).toBe(before);
    expect(leftovers()).toEqual([]);
  });

  it('Ctrl-C during the restore test removes the scratch cluster and the decrypted archive (exit 3, nothing recorded)', async () => {
    const before = (await listBackups(storage(), log)).find((e) => e.manifest.id === good.id)!.verifications.length;
    const run = spawnDbops(['backup', 'verify', good.id, '--restore', '--policies-dir', policiesDir, '--reports-dir', reportsDir], env);
    await waitFor(() => run.output().includes('Restoring into'));
    expect(leftovers()).toHaveLength(1);
    run.child.kill('SIGINT');
    const done = await run.done;
    expect(done.code, done.all).toBe(3);
    expect(done.all).toContain('Interrupted');
    expect(leftovers()).toEqual([]);
    const after = (await listBackups(storage(), log)).find((e) => e.manifest.id === good.id)!.verifications.length;
    expect(after).toBe(before);
  });

  it('after a kill -9 mid-restore, the next verification stops the orphaned cluster and deletes its folder', async () => {
    const run = spawnDbops(['backup', 'verify', good.id, '--restore', '--policies-dir', policiesDir, '--reports-dir', reportsDir], env);
    await waitFor(() => run.output().includes('Restoring into'));
    run.child.kill('SIGKILL');
    await run.done;
    const [orphan] = leftovers();
    expect(orphan).toBeDefined();
    const pidFile = join(scratchTmp, orphan!, 'cluster', 'data', 'postmaster.pid');
    expect(existsSync(pidFile)).toBe(true);
    const port = Number(readFileSync(pidFile, 'utf8').split('\n')[3]);

    const next = await verify([good.id]);
    expect(next.code, next.all).toBe(0);
    expect(leftovers()).toEqual([]);
    const probe = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 2000 });
    await expect(probe.connect()).rejects.toThrow();
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the condition');
    await new Promise((r) => setTimeout(r, 20));
  }
}
