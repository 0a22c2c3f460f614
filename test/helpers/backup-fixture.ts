import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { writeManifest } from '../../pipeline/protection/backup/catalog.ts';
import { compactUtc, type BackupManifest, type TableHash, type TableManifest } from '../../pipeline/protection/backup/manifest.ts';
import { databaseManifest } from '../../pipeline/protection/backup/restore.ts';
import { parseDatabaseUrl } from '../../pipeline/infra/db/url.ts';
import { silentLogger } from '../../pipeline/core/logger.ts';
import { computeTableManifest, MANIFEST_SETTINGS } from '../../pipeline/protection/backup/tables.ts';
import { createEncryptStream, recipientFingerprint } from '../../pipeline/infra/crypto/age.ts';
import type { Tier } from '../../pipeline/policy/backups.ts';
import { findPgBinaries, pgTool } from '../../pipeline/infra/pg/binaries.ts';
import type { Storage } from '../../pipeline/infra/storage/types.ts';

export interface FixtureOptions {
  /** Superuser URL of the database to back up. */
  url: string;
  storage: Storage;
  recipients: ReadonlyArray<{ name: string; key: string }>;
  tier?: Tier;
  /** Store these tables in the manifest instead of the ones computed in the dump's snapshot (a tampered backup). */
  tables?: TableManifest[];
  /** With `tables`: how they were computed (another backup's). Without, the manifest is an old one (`record-hash`). */
  tableHash?: TableHash | undefined;
}

/** The table manifest of a database as it is now, computed the way `tableHash` says (absent: the old way). */
export async function liveManifest(url: string, tableHash?: TableHash): Promise<TableManifest[]> {
  const bins = await findPgBinaries();
  return databaseManifest(parseDatabaseUrl(url), tableHash, {
    bins,
    serverMajor: bins.major,
    env: process.env,
    signal: new AbortController().signal,
    log: silentLogger(),
    applicationName: 'dbops test',
  });
}

/** libpq's environment for the superuser URL `url` (its database in PGDATABASE), for client tools run directly. */
export const libpq = (url: string): NodeJS.ProcessEnv => {
  const u = new URL(url);
  return {
    ...process.env,
    PGHOST: u.hostname,
    PGPORT: u.port,
    PGUSER: decodeURIComponent(u.username),
    PGPASSWORD: decodeURIComponent(u.password),
    PGDATABASE: decodeURIComponent(u.pathname.slice(1)),
  };
};

/**
 * A backup written the way `dbops backup create` writes one, built from the parts directly: the table
 * manifest computed inside an exported snapshot, `pg_dump -Fc --snapshot` of that snapshot, age-encrypted,
 * stored with its manifest written last. Lets the verify and restore tests shape backups (a different dump
 * under an original manifest) that the create command never produces.
 */
export async function makeBackup(o: FixtureOptions): Promise<BackupManifest> {
  const client = new pg.Client({ connectionString: o.url });
  await client.connect();
  try {
    for (const s of MANIFEST_SETTINGS) await client.query(s);
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const snapshot = (await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id')).rows[0]!.id;
    const startedAt = new Date();
    const info = (
      await client.query<{ name: string; sysid: string; version: string; num: number }>(
        `SELECT current_database() AS name, (pg_control_system()).system_identifier::text AS sysid, current_setting('server_version') AS version, current_setting('server_version_num')::int AS num`,
      )
    ).rows[0]!;
    const bins = await findPgBinaries();
    const pgDump = await pgTool(bins, 'pg_dump');
    const dump = spawn(pgDump, ['-Fc', '-Z1', `--snapshot=${snapshot}`], { env: libpq(o.url), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    dump.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => dump.once('close', resolve));
    let plaintextBytes = 0;
    let ciphertextBytes = 0;
    const sha = createHash('sha256');
    const chunks: Buffer[] = [];
    const [tables] = await Promise.all([
      computeTableManifest(client),
      pipeline(
        dump.stdout,
        new Transform({ transform: (c: Buffer, _e, done) => ((plaintextBytes += c.length), done(null, c)) }),
        await createEncryptStream(o.recipients.map((r) => r.key)),
        new Writable({
          write(c: Buffer, _e, done) {
            sha.update(c);
            ciphertextBytes += c.length;
            chunks.push(c);
            done();
          },
        }),
      ),
    ]);
    const code = await exited;
    if (code !== 0) throw new Error(`pg_dump failed (${code}): ${stderr}`);
    await client.query('COMMIT');
    const tier = o.tier ?? 'daily';
    const id = `${compactUtc(startedAt)}-${tier}-${randomBytes(2).toString('hex')}`;
    await o.storage.put(`${id}/backup.dump.age`, Buffer.concat(chunks));
    const version = await new Promise<string>((resolve) => {
      const v = spawn(pgDump, ['--version']);
      let out = '';
      v.stdout.on('data', (d: Buffer) => (out += d.toString()));
      v.on('close', () => resolve(out.trim()));
    });
    const manifest: BackupManifest = {
      formatVersion: 1,
      id,
      tier,
      database: { name: info.name, systemIdentifier: info.sysid, serverVersion: info.version.split(' ')[0]!, serverVersionNum: info.num },
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      dump: { format: 'custom', compressionLevel: 1, pgDump: version, plaintextBytes, durationMs: 0 },
      object: { key: 'backup.dump.age', ciphertextBytes, sha256: sha.digest('hex') },
      encryption: { format: 'age-v1', recipients: o.recipients.map((r) => ({ name: r.name, recipient: r.key, fingerprint: recipientFingerprint(r.key) })) },
      tables: o.tables ?? tables,
      ...(o.tables && o.tableHash ? { tableHash: o.tableHash } : {}),
      dbops: { version: '0.0.0-test', commit: null },
    };
    await writeManifest(o.storage, manifest);
    return manifest;
  } finally {
    await client.end();
  }
}
