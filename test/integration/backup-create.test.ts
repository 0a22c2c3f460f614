// `dbops backup create` against a real database: what it stores is a standard age file that the `age` CLI
// decrypts into a pg_dump custom archive, its SHA-256 and table manifest are the ones recorded, the manifest
// describes the exported snapshot rather than the live tables (writes made while the dump runs are not in
// it, nor in the archive), nothing unencrypted is written to the target, and every recipient can decrypt.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { access, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import type { BackupManifest } from '../../pipeline/protection/backup/manifest.ts';
import type { BackupCreateData } from '../../pipeline/protection/backup/report.ts';
import { findPgBinaries } from '../../pipeline/infra/pg/binaries.ts';
import { dbops, testEnv, type CliRun } from '../helpers/cli.ts';
import { adminUrl, databasePerTest, queryUrl, useDatabase, urlFor } from '../helpers/db.ts';
import { tempDir } from '../helpers/migrations.ts';
import { ageKeyFile } from '../helpers/age.ts';
import { liveManifest } from '../helpers/backup-fixture.ts';

const run = promisify(execFile);
const bin = (tool: string) => (inject('pgBinDir') ? join(inject('pgBinDir'), tool) : tool);
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface Key {
  file: string;
  recipient: string;
  secret: string;
}

async function newKey(dir: string, name: string): Promise<Key> {
  const k = await ageKeyFile(dir, name);
  return { file: k.file, recipient: k.recipient, secret: k.identity };
}

/** A policies folder whose backups.yaml writes to a fresh folder. */
async function policies(recipients: Key[], extra = ''): Promise<{ dir: string; target: string; reports: string }> {
  const dir = await tempDir('dbops-backup-policies-');
  const target = await tempDir('dbops-backup-target-');
  const reports = await tempDir('dbops-backup-reports-');
  const list = recipients.map((r, i) => `    - name: holder-${i + 1}\n      key: ${r.recipient}`).join('\n');
  await writeFile(
    join(dir, 'backups.yaml'),
    `version: 1\nencryption:\n  recipients:\n${list}\ntargets:\n  server:\n    type: directory\n    path: ${target}\n    primary: true\nprogress_interval: 0\n${extra}`,
  );
  return { dir, target, reports };
}

async function create(
  url: string,
  p: { dir: string; reports: string },
  extra: string[] = [],
  env: NodeJS.ProcessEnv = {},
): Promise<CliRun & { data: BackupCreateData }> {
  const out = await dbops(['backup', 'create', '--database-url', url, '--policies-dir', p.dir, '--reports-dir', p.reports, '--json', ...extra], testEnv(env));
  const parsed = out.code === 0 ? (JSON.parse(out.stdout) as { data: BackupCreateData }).data : (undefined as unknown as BackupCreateData);
  return { ...out, data: parsed };
}

/**
 * A PG_BIN folder whose pg_dump waits for `go()` before running the real one (`--version` answers at once):
 * lets a test act between the snapshot export and pg_dump's connection.
 */
async function gatedPgDump(): Promise<{ dir: string; started(): Promise<void>; go(): Promise<void> }> {
  const real = (await findPgBinaries()).binDir;
  const dir = await tempDir('dbops-pg-bin-');
  for (const name of await readdir(real)) if (name !== 'pg_dump') await symlink(join(real, name), join(dir, name));
  const script = [
    '#!/bin/sh',
    `if [ "$1" = "--version" ]; then exec '${join(real, 'pg_dump')}' --version; fi`,
    `touch '${join(dir, 'started')}'`,
    `while [ ! -e '${join(dir, 'go')}' ]; do sleep 0.05; done`,
    `exec '${join(real, 'pg_dump')}' "$@"`,
  ].join('\n');
  await writeFile(join(dir, 'pg_dump'), `${script}\n`, { mode: 0o755 });
  return {
    dir,
    async started() {
      for (let i = 0; i < 1200; i++) {
        if (
          await access(join(dir, 'started')).then(
            () => true,
            () => false,
          )
        )
          return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error('pg_dump was not started within 60 s');
    },
    go: () => writeFile(join(dir, 'go'), ''),
  };
}

async function files(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await files(dir, rel)));
    else out.push(rel);
  }
  return out.sort();
}

async function decrypt(path: string, key: Key, out: string): Promise<Buffer> {
  await run('age', ['-d', '-i', key.file, '-o', out, path]);
  return readFile(out);
}

const AWKWARD = `
  CREATE TYPE mood AS ENUM ('calm', 'tense', 'it''s complicated');
  CREATE SCHEMA "Ledger Data";
  CREATE TABLE "Ledger Data"."Entries" (
    id bigint PRIMARY KEY, at timestamptz, amount numeric(20, 6), ratio float8, payload bytea, doc jsonb,
    tags text[], m mood, note text);
  INSERT INTO "Ledger Data"."Entries"
  SELECT g, timestamptz '2026-03-29 01:30:00+01' + g * interval '17 minutes', (g * 1234.567891)::numeric(20, 6),
         g / 7.0, decode(md5(g::text), 'hex'), jsonb_build_object('g', g, 'nested', jsonb_build_array(g, 'x', null)),
         ARRAY['a' || g, NULL, 'quote"d'], (ARRAY['calm', 'tense', 'it''s complicated']::mood[])[1 + g % 3],
         CASE WHEN g % 5 = 0 THEN NULL ELSE E'line\\nbreak\\ttab ' || g END
    FROM generate_series(1, 3000) g;
  INSERT INTO "Ledger Data"."Entries" (id) VALUES (0);
  CREATE TABLE measurements (id int, taken date NOT NULL, value float8) PARTITION BY RANGE (taken);
  CREATE TABLE measurements_2026_03 PARTITION OF measurements FOR VALUES FROM ('2026-03-01') TO ('2026-04-01');
  CREATE TABLE measurements_2026_04 PARTITION OF measurements FOR VALUES FROM ('2026-04-01') TO ('2026-05-01');
  INSERT INTO measurements SELECT g, date '2026-03-01' + (g % 60),
         CASE WHEN g % 7 = 0 THEN 'NaN'::float8 WHEN g % 11 = 0 THEN '-Infinity' WHEN g % 13 = 0 THEN NULL ELSE g * 0.1 END
    FROM generate_series(1, 2000) g;
  CREATE TABLE empty_one (id int);
`;

describe('backup create', () => {
  const seeded = useDatabase('backup_create');
  let one: Key;
  let two: Key;
  let scratch: string;

  beforeAll(async () => {
    await seeded().query(AWKWARD);
    scratch = await tempDir('dbops-backup-scratch-');
    [one, two] = await Promise.all([newKey(scratch, 'one'), newKey(scratch, 'two')]);
  });

  it('stores an age file the age CLI decrypts into a custom archive with the recorded SHA-256 and table manifest; only ciphertext reaches the target', async () => {
    const p = await policies([one]);
    const out = await create(seeded().url, p, ['--tier', 'weekly', '--note', 'before deploy #812']);
    expect(out.code, out.all).toBe(0);
    const m = out.data.manifest;
    expect(m.tier).toBe('weekly');
    expect(m.note).toBe('before deploy #812');
    expect(m.database.name).toBe(seeded().name);
    expect(m.database.serverVersion).toMatch(/^\d+\.\d+/);
    const [{ sysid }] = (await seeded().query<{ sysid: string }>('SELECT system_identifier::text AS sysid FROM pg_control_system()')) as [{ sysid: string }];
    expect(m.database.systemIdentifier).toBe(sysid);
    expect(m.encryption.recipients).toEqual([{ name: 'holder-1', recipient: one.recipient, fingerprint: sha256(Buffer.from(one.recipient)).slice(0, 16) }]);
    expect(m.dump.compressionLevel).toBe(1);
    expect(m.dump.pgDump).toMatch(/^pg_dump \(PostgreSQL\) \d+/);

    // The target holds the object and the manifest written last, and nothing else.
    expect(await files(p.target)).toEqual([`${m.id}/backup.dump.age`, `${m.id}/manifest.json`]);
    const stored = JSON.parse(await readFile(join(p.target, m.id, 'manifest.json'), 'utf8')) as BackupManifest;
    expect(stored).toEqual(m);
    const object = await readFile(join(p.target, m.id, 'backup.dump.age'));
    expect(object.subarray(0, 22).toString()).toBe('age-encryption.org/v1\n');
    expect(object.includes(Buffer.from('PGDMP'))).toBe(false);
    expect(object.length).toBe(m.object.ciphertextBytes);
    expect(sha256(object)).toBe(m.object.sha256);

    const archive = await decrypt(join(p.target, m.id, 'backup.dump.age'), one, join(scratch, 'plain.dump'));
    expect(archive.subarray(0, 5).toString()).toBe('PGDMP');
    expect(archive.length).toBe(m.dump.plaintextBytes);
    const list = (await run(bin('pg_restore'), ['--list', join(scratch, 'plain.dump')])).stdout;
    for (const table of ['Ledger Data Entries', 'public measurements_2026_03', 'public measurements_2026_04', 'public empty_one']) {
      expect(list).toContain(`TABLE DATA ${table}`);
    }

    // Read from the archive as it passed; equal to a fresh dump of the same rows read the same way.
    expect(m.tableHash).toEqual({
      method: 'copy-xxh64',
      encoding: 'UTF8',
      settings: { TimeZone: 'UTC', bytea_output: 'hex', lc_monetary: expect.any(String) },
    });
    expect(m.tables).toEqual(await liveManifest(seeded().url, m.tableHash));
    const names = m.tables.map((t) => `${t.schema}.${t.name}`);
    expect(names).toEqual(['Ledger Data.Entries', 'public.empty_one', 'public.measurements_2026_03', 'public.measurements_2026_04']);
    expect(m.tables.find((t) => t.name === 'Entries')!.rows).toBe('3001');
    expect(m.tables.find((t) => t.name === 'empty_one')).toMatchObject({ rows: '0', hash: '0' });

    // The report the CLI wrote is the same result.
    const report = JSON.parse(await readFile(join(p.reports, 'backup-create.json'), 'utf8')) as { verdict: string; data: BackupCreateData };
    expect(report.verdict).toBe('pass');
    expect(report.data.manifest).toEqual(m);
  });

  it('with dump.table_manifest: database, or an archive the reader does not know, the manifest is the database scan (record-hash)', async () => {
    const scanned = await create(seeded().url, await policies([one], 'dump:\n  table_manifest: database\n'));
    expect(scanned.code, scanned.all).toBe(0);
    expect(scanned.data.manifest.tableHash).toEqual({ method: 'record-hash' });
    expect(scanned.data.manifest.tables).toEqual(await liveManifest(seeded().url));

    // A pg_dump whose archive claims version 1.17: the reader refuses it, and the snapshot is scanned instead.
    const real = (await findPgBinaries()).binDir;
    const dir = await tempDir('dbops-pg-bin-');
    for (const name of await readdir(real)) if (name !== 'pg_dump') await symlink(join(real, name), join(dir, name));
    const patch = `let first = true; process.stdin.on('data', (c) => { if (first) { c[6] = 17; first = false; } process.stdout.write(c); });`;
    await writeFile(
      join(dir, 'pg_dump'),
      `#!/bin/bash\nset -o pipefail\nif [ "$1" = "--version" ]; then exec '${join(real, 'pg_dump')}' --version; fi\n'${join(real, 'pg_dump')}' "$@" | '${process.execPath}' -e "${patch}"\n`,
      {
        mode: 0o755,
      },
    );
    const fellBack = await create(seeded().url, await policies([one]), [], { PG_BIN: dir });
    expect(fellBack.code, fellBack.all).toBe(0);
    expect(fellBack.stderr).toMatch(/could not read the table manifest from the archive.*version 1\.17/);
    expect(fellBack.data.manifest.tableHash).toEqual({ method: 'record-hash' });
    expect(fellBack.data.manifest.tables).toEqual(scanned.data.manifest.tables);
  });

  it('encrypts to every recipient: each identity alone decrypts the same archive', async () => {
    const p = await policies([one, two]);
    const out = await create(seeded().url, p);
    expect(out.code, out.all).toBe(0);
    const m = out.data.manifest;
    expect(m.encryption.recipients.map((r) => r.recipient)).toEqual([one.recipient, two.recipient]);
    const path = join(p.target, m.id, 'backup.dump.age');
    const a = await decrypt(path, one, join(scratch, 'by-one.dump'));
    const b = await decrypt(path, two, join(scratch, 'by-two.dump'));
    expect(a.equals(b)).toBe(true);
    expect(a.subarray(0, 5).toString()).toBe('PGDMP');
    expect((await readFile(path)).toString('latin1').match(/^-> X25519 /gm)).toHaveLength(2);
  });
});

describe('backup create: the snapshot', () => {
  const fresh = databasePerTest('backup_snapshot');

  it('describes the exported snapshot, not the live tables: writes committed after the export are in neither the manifest nor the archive', async () => {
    const db = await fresh();
    await db.query(`
      CREATE TABLE ledger (id serial PRIMARY KEY, amount numeric(12, 2) NOT NULL);
      INSERT INTO ledger (amount) SELECT g * 1.5 FROM generate_series(1, 1000) g;
      CREATE TABLE held (id int PRIMARY KEY, v text);
      INSERT INTO held SELECT g, 'v' || g FROM generate_series(1, 100) g;`);
    const [{ lc_monetary }] = (await db.query<{ lc_monetary: string }>('SHOW lc_monetary')) as [{ lc_monetary: string }];
    const tableHash = { method: 'copy-xxh64', encoding: 'UTF8', settings: { TimeZone: 'UTC', bytea_output: 'hex', lc_monetary } } as const;
    const before = await liveManifest(db.url, tableHash);
    const scratch = await tempDir('dbops-backup-snapshot-');
    const key = await newKey(scratch, 'k');
    const p = await policies([key]);

    // Two holds make the ordering deterministic. pg_dump is started through a wrapper that waits for a go
    // file, so the writes below land after the snapshot was exported and before pg_dump connects: a pg_dump
    // that took its own snapshot would see them. ACCESS EXCLUSIVE on `held` parks the manifest query until
    // the writes are committed: a manifest computed outside the snapshot would see them too.
    const gate = await gatedPgDump();
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE held IN ACCESS EXCLUSIVE MODE');
    const running = create(db.url, p, [], { PG_BIN: gate.dir });
    try {
      await gate.started();
      await db.query('INSERT INTO ledger (amount) SELECT g FROM generate_series(1, 500) g');
      await db.query('UPDATE ledger SET amount = amount + 1000 WHERE id <= 10');
      await db.query('DELETE FROM ledger WHERE id BETWEEN 11 AND 15');
      await holder.query("INSERT INTO held SELECT g, 'late' FROM generate_series(101, 150) g");
      await holder.query('COMMIT');
    } finally {
      await holder.end();
      await gate.go();
    }
    const out = await running;
    expect(out.code, out.all).toBe(0);
    const m = out.data.manifest;

    expect(m.tableHash).toEqual(tableHash);
    const live = await liveManifest(db.url, m.tableHash);
    expect(live.find((t) => t.name === 'ledger')!.rows).toBe('1495');
    expect(live.find((t) => t.name === 'held')!.rows).toBe('150');
    expect(m.tables).toEqual(before);
    expect(m.tables).not.toEqual(live);

    // The archive holds the same snapshot: restored, it has exactly the manifest's counts and hashes.
    await decrypt(join(p.target, m.id, 'backup.dump.age'), key, join(scratch, 'snap.dump'));
    const restored = `${db.name}_r`;
    await queryUrl(adminUrl(), `CREATE DATABASE "${restored}"`);
    try {
      const u = new URL(urlFor(restored));
      await run(
        bin('pg_restore'),
        ['--exit-on-error', '--no-owner', '-h', u.hostname, '-p', u.port, '-U', decodeURIComponent(u.username), '-d', restored, join(scratch, 'snap.dump')],
        {
          env: { ...process.env, PGPASSWORD: decodeURIComponent(u.password) },
        },
      );
      expect(await liveManifest(urlFor(restored), m.tableHash)).toEqual(m.tables);
    } finally {
      await queryUrl(adminUrl(), `DROP DATABASE IF EXISTS "${restored}" WITH (FORCE)`);
    }
  });

  it('a role whose EXECUTE on pg_control_system() was revoked gets exit 3 naming the GRANT that fixes it, and nothing is stored', async () => {
    const db = await fresh();
    const role = `backup_${randomBytes(4).toString('hex')}`;
    const password = `pw-${randomBytes(8).toString('hex')}`;
    await db.query('CREATE TABLE t (id int); INSERT INTO t VALUES (1)');
    await queryUrl(adminUrl(), `CREATE ROLE ${role} LOGIN PASSWORD '${password}' IN ROLE pg_read_all_data`);
    try {
      await db.query('REVOKE EXECUTE ON FUNCTION pg_control_system() FROM PUBLIC');
      const scratch = await tempDir('dbops-backup-grant-');
      const p = await policies([await newKey(scratch, 'k')]);
      const u = new URL(db.url);
      u.username = role;
      u.password = password;
      const out = await dbops(['backup', 'create', '--database-url', u.toString(), '--policies-dir', p.dir, '--reports-dir', p.reports], testEnv());
      expect(out.code, out.all).toBe(3);
      expect(out.stderr).toContain(`The role ${role} may not call pg_control_system()`);
      expect(out.stderr).toContain(`GRANT EXECUTE ON FUNCTION pg_catalog.pg_control_system() TO ${role};`);
      expect(out.all).not.toContain(password);
      expect(await files(p.target)).toEqual([]);

      await db.query(`GRANT EXECUTE ON FUNCTION pg_catalog.pg_control_system() TO ${role}`);
      const ok = await dbops(['backup', 'create', '--database-url', u.toString(), '--policies-dir', p.dir, '--reports-dir', p.reports, '--json'], testEnv());
      expect(ok.code, ok.all).toBe(0);
    } finally {
      await db.drop();
      await queryUrl(adminUrl(), `DROP ROLE IF EXISTS ${role}`);
    }
  });

  it('gives up after dump.lock_wait_timeout when a migration holds a table exclusively (exit 3), stores nothing, and succeeds once the lock is gone', async () => {
    const db = await fresh();
    await db.query('CREATE TABLE busy (id int); INSERT INTO busy SELECT generate_series(1, 100)');
    const scratch = await tempDir('dbops-backup-lock-');
    const p = await policies([await newKey(scratch, 'k')], 'dump:\n  lock_wait_timeout: 300ms\n');
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    try {
      await holder.query('BEGIN; LOCK TABLE busy IN ACCESS EXCLUSIVE MODE');
      const blocked = await create(db.url, p);
      expect(blocked.code, blocked.all).toBe(3);
      // pg_dump's LOCK TABLE gives up on the lock (its --lock-wait-timeout is a statement_timeout), and the error names the table and the setting.
      expect(blocked.all).toMatch(/canceling statement due to statement timeout/);
      expect(blocked.stderr).toContain('public.busy');
      expect(blocked.stderr).toContain('dump.lock_wait_timeout');
      expect(await files(p.target)).toEqual([]);
      await holder.query('COMMIT');
      const ok = await create(db.url, p);
      expect(ok.code, ok.all).toBe(0);
      expect(ok.data.manifest.tables).toEqual([expect.objectContaining({ name: 'busy', rows: '100' })]);
    } finally {
      await holder.end();
    }
  });
});
