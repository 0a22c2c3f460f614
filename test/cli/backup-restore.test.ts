import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openTargets, writeManifest } from '../../pipeline/protection/backup/catalog.ts';
import type { BackupManifest } from '../../pipeline/protection/backup/manifest.ts';
import type { BackupRestoreData } from '../../pipeline/protection/backup/report.ts';
import { generateX25519Identity, identityToRecipient } from '../../pipeline/infra/crypto/age.ts';
import { quoteIdent } from '../../pipeline/infra/db/url.ts';
import { BackupsPolicy } from '../../pipeline/policy/backups.ts';
import { dbops, testEnv } from '../helpers/cli.ts';
import { adminUrl, createDatabase, queryUrl, urlFor } from '../helpers/db.ts';

const work = mkdtempSync(join(tmpdir(), 'dbops-rtest-'));
const scratchTmp = join(work, 'tmp');
mkdirSync(scratchTmp, { mode: 0o755 });
chmodSync(work, 0o755);
process.env['TMPDIR'] = scratchTmp;
const backupsDir = join(work, 'backups');
const policiesDir = join(work, 'policies');
const reportsDir = join(work, 'reports');
const tag = randomBytes(3).toString('hex');
// Roles the backup's objects belong to; they are dropped after the backup, so every restore meets a server without them.
const OWNER = `rt_owner_${tag}`;
const READER = `rt_reader_${tag}`;

let identity: string;
let env: NodeJS.ProcessEnv;
let policy: BackupsPolicy;
let backup: BackupManifest;
const targets: string[] = [];

const leftovers = () => readdirSync(scratchTmp).filter((n) => n.startsWith('dbops-'));
const adminPassword = () => decodeURIComponent(new URL(adminUrl()).password);
const rows = (m: BackupManifest, table: string) => m.tables.find((t) => t.name === table)!.rows;

function targetName(label: string): string {
  const name = `rt_${label}_${randomBytes(3).toString('hex')}`;
  targets.push(name);
  return name;
}

async function restore(args: string[]) {
  return dbops(['backup', 'restore', ...args, '--policies-dir', policiesDir, '--reports-dir', reportsDir], env);
}

async function restoreJson(
  args: string[],
): Promise<{ code: number; all: string; data: BackupRestoreData; findings: Array<{ rule: string; severity: string; message: string }> }> {
  const run = await restore([...args, '--json']);
  const parsed = JSON.parse(run.stdout) as { data: BackupRestoreData; findings: Array<{ rule: string; severity: string; message: string }> };
  return { code: run.code, all: run.all, data: parsed.data, findings: parsed.findings };
}

const roleExists = async (role: string) => (await queryUrl(adminUrl(), 'SELECT 1 FROM pg_roles WHERE rolname = $1', [role])).length > 0;

beforeAll(async () => {
  identity = await generateX25519Identity();
  const recipient = await identityToRecipient(identity);
  mkdirSync(backupsDir);
  mkdirSync(policiesDir);
  writeFileSync(
    join(policiesDir, 'backups.yaml'),
    `version: 1\nencryption:\n  recipients: [{ name: test, key: ${recipient} }]\ntargets:\n  local: { type: directory, path: ${JSON.stringify(backupsDir)}, primary: true }\nverify: { restore_jobs: 2 }\n`,
  );
  policy = BackupsPolicy.parse({
    version: 1,
    encryption: { recipients: [{ name: 'test', key: recipient }] },
    targets: { local: { type: 'directory', path: backupsDir, primary: true } },
  });
  env = testEnv({ DBOPS_BACKUP_IDENTITY: identity, TMPDIR: scratchTmp });

  await queryUrl(adminUrl(), `CREATE ROLE ${OWNER} NOLOGIN`);
  await queryUrl(adminUrl(), `CREATE ROLE ${READER} NOLOGIN`);
  const src = await createDatabase('restore_src');
  try {
    await src.query(`
      CREATE TABLE accounts (id bigint PRIMARY KEY, iban text UNIQUE NOT NULL, balance numeric(18,2), opened timestamptz);
      INSERT INTO accounts SELECT g, 'DE' || lpad(g::text, 20, '0'), (g * 7.31)::numeric(18,2), timestamptz '2026-01-01 00:00:00+00' + g * interval '17 minutes' FROM generate_series(1, 5000) g;
      CREATE TABLE ledger (id bigserial PRIMARY KEY, account_id bigint NOT NULL REFERENCES accounts, amount numeric(18,2) NOT NULL);
      INSERT INTO ledger (account_id, amount) SELECT 1 + g % 5000, (g % 1000) - 500.25 FROM generate_series(1, 10000) g;
      ALTER TABLE accounts OWNER TO ${OWNER};
      ALTER TABLE ledger OWNER TO ${OWNER};
      GRANT SELECT ON ledger TO ${READER};
    `);
    const created = await dbops(['backup', 'create', '--database-url', src.url, '--policies-dir', policiesDir, '--reports-dir', reportsDir, '--json'], env);
    expect(created.code, created.all).toBe(0);
    backup = (JSON.parse(created.stdout) as { data: { manifest: BackupManifest } }).data.manifest;
  } finally {
    await src.drop();
  }
  await queryUrl(adminUrl(), `DROP ROLE ${OWNER}`);
  await queryUrl(adminUrl(), `DROP ROLE ${READER}`);
});

afterEach(async () => {
  for (const name of targets.splice(0)) await queryUrl(adminUrl(), `DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  await queryUrl(adminUrl(), `DROP ROLE IF EXISTS ${OWNER}`);
  await queryUrl(adminUrl(), `DROP ROLE IF EXISTS ${READER}`);
  expect(leftovers()).toEqual([]);
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('backup restore', () => {
  it('restores into a database it creates, after printing the plan, creating the roles the archive names as NOLOGIN', async () => {
    const name = targetName('new');
    const run = await restore([backup.id, '--target-url', urlFor(name)]);
    expect(run.code, run.all).toBe(0);
    const plan = run.stdout.indexOf('Restore plan');
    expect(plan).toBeGreaterThanOrEqual(0);
    expect(plan).toBeLessThan(run.stdout.indexOf('Restoring into'));
    expect(run.stdout).toContain(`${name} does not exist: it will be created`);
    expect(run.stdout).toMatch(new RegExp(`missing, created now as NOLOGIN.*${OWNER}, ${READER}`));
    expect(run.stdout).toContain(backup.id);
    // Neither the database password nor the age identity is printed anywhere.
    expect(run.all).not.toContain(adminPassword());
    expect(run.all).toContain(':***@');
    expect(run.all).not.toContain(identity);

    const [counts] = await queryUrl<{ accounts: string; ledger: string }>(
      urlFor(name),
      'SELECT (SELECT count(*) FROM accounts)::text AS accounts, (SELECT count(*) FROM ledger)::text AS ledger',
    );
    expect(counts).toEqual({ accounts: rows(backup, 'accounts'), ledger: rows(backup, 'ledger') });
    const [acl] = await queryUrl<{ owner: string; can: boolean }>(
      urlFor(name),
      `SELECT tableowner AS owner, has_table_privilege($1, 'public.ledger', 'SELECT') AS can FROM pg_tables WHERE tablename = 'accounts'`,
      [READER],
    );
    expect(acl).toEqual({ owner: OWNER, can: true });
    const logins = await queryUrl<{ rolname: string; rolcanlogin: boolean }>(
      adminUrl(),
      'SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname = ANY($1) ORDER BY 1',
      [[OWNER, READER]],
    );
    expect(logins).toEqual([
      { rolname: OWNER, rolcanlogin: false },
      { rolname: READER, rolcanlogin: false },
    ]);
    // ANALYZE ran: PostgreSQL 15 restores no planner statistics by itself.
    const [analyzed] = await queryUrl<{ n: string }>(
      urlFor(name),
      `SELECT count(*)::text AS n FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL AND relname IN ('accounts', 'ledger')`,
    );
    expect(analyzed?.n).toBe('2');

    const report = JSON.parse(readFileSync(join(reportsDir, 'backup-restore.json'), 'utf8')) as { verdict: string; data: BackupRestoreData };
    expect(report.verdict).toBe('pass');
    expect(report.data).toMatchObject({
      backupId: backup.id,
      createdDatabase: true,
      forced: false,
      rolesCreated: [OWNER, READER],
      manifestMatched: true,
      tables: 2,
    });
    expect(report.data.phases.map((p) => p.name)).toEqual(['download and decrypt', 'restore', 'manifest', 'analyze']);
    expect(JSON.stringify(report)).not.toContain(adminPassword());
  });

  it('restores into an existing empty database', async () => {
    const name = targetName('empty');
    await queryUrl(adminUrl(), `CREATE DATABASE ${quoteIdent(name)}`);
    const run = await restoreJson([backup.id, '--target-url', urlFor(name)]);
    expect(run.code, run.all).toBe(0);
    expect(run.data).toMatchObject({ createdDatabase: false, manifestMatched: true });
    expect(run.all).not.toContain(adminPassword());
  });

  it('refuses a database that has tables without --force, and changes nothing (no roles, no objects)', async () => {
    const name = targetName('busy');
    await queryUrl(adminUrl(), `CREATE DATABASE ${quoteIdent(name)}`);
    await queryUrl(urlFor(name), 'CREATE TABLE keepme (x int); INSERT INTO keepme VALUES (42)');
    const run = await restore(['--latest', '--target-url', urlFor(name)]);
    expect(run.code).toBe(1);
    expect(run.all).toContain(`already has 1 table (public.keepme); nothing was changed`);
    expect(run.all).toContain('--force');
    expect(run.stdout).not.toContain('Restoring into');
    expect(await queryUrl(urlFor(name), 'SELECT x FROM keepme')).toEqual([{ x: 42 }]);
    expect(await queryUrl(urlFor(name), `SELECT 1 FROM pg_tables WHERE tablename = 'accounts'`)).toEqual([]);
    expect(await roleExists(OWNER)).toBe(false);
    expect(run.all).not.toContain(adminPassword());
  });

  it("--force drops and recreates the backup's objects and leaves other tables alone", async () => {
    const name = targetName('force');
    expect((await restoreJson([backup.id, '--target-url', urlFor(name)])).code).toBe(0);
    await queryUrl(urlFor(name), 'UPDATE accounts SET balance = 0; DELETE FROM ledger WHERE id <= 100; CREATE TABLE extra (x int)');
    const run = await restoreJson([backup.id, '--target-url', urlFor(name), '--force']);
    expect(run.code, run.all).toBe(0);
    expect(run.data).toMatchObject({ createdDatabase: false, forced: true, manifestMatched: true, rolesCreated: [] });
    expect(run.findings).toEqual([
      expect.objectContaining({ rule: 'backup/extra-table', severity: 'notice', message: expect.stringContaining('public.extra') }),
    ]);
    const [n] = await queryUrl<{ n: string }>(urlFor(name), 'SELECT count(*)::text AS n FROM ledger');
    expect(n?.n).toBe(rows(backup, 'ledger'));
    expect(await queryUrl(urlFor(name), `SELECT 1 FROM pg_tables WHERE tablename = 'extra'`)).toHaveLength(1);
  });

  it('a pg_restore error stops at once (exit 1) with its message and what state the database is in', async () => {
    const name = targetName('blocked');
    expect((await restoreJson([backup.id, '--target-url', urlFor(name)])).code).toBe(0);
    // A view of the target that is not in the backup depends on a table --clean must drop.
    await queryUrl(urlFor(name), 'CREATE VIEW rich AS SELECT id FROM accounts WHERE balance > 1000');
    const run = await restore([backup.id, '--target-url', urlFor(name), '--force']);
    expect(run.code).toBe(1);
    expect(run.all).toMatch(/pg_restore failed after .*cannot drop table public\.accounts because other objects depend on it/);
    expect(run.all).toContain(`Database ${name} now holds part of the backup`);
    expect(run.all).not.toContain(adminPassword());
  });

  it('a damaged backup is refused before anything is created, and the failure is recorded', async () => {
    const id = backup.id.replace(/-[0-9a-f]{4}$/, `-${randomBytes(2).toString('hex')}`);
    const bytes = readFileSync(join(backupsDir, backup.id, 'backup.dump.age'));
    bytes[bytes.length - 100] = bytes[bytes.length - 100]! ^ 0x01;
    const storage = openTargets(policy, env).primary;
    await storage.put(`${id}/backup.dump.age`, bytes);
    await writeManifest(storage, { ...backup, id });
    const name = targetName('damaged');
    const run = await restore([id, '--target-url', urlFor(name)]);
    expect(run.code).toBe(1);
    expect(run.all).toMatch(/damaged, nothing was changed.*sha256: .*decrypt: /s);
    expect(await queryUrl(adminUrl(), 'SELECT 1 FROM pg_database WHERE datname = $1', [name])).toEqual([]);
    expect(await roleExists(OWNER)).toBe(false);
    const records = (await storage.list(`${id}/verify/`)).map((o) => o.key);
    expect(records).toHaveLength(1);
  });
});
