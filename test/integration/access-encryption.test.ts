// `dbops access encryption` against two clusters of its own: one with ssl off and a trust rule (fails,
// naming both), one with TLS, hostssl-only scram-sha-256 rules and data checksums (every server check
// passes). No output, human, JSON or report file, ever holds the superuser's password.
import { execFileSync } from 'node:child_process';
import { chown, mkdir, readFile, stat, writeFile, chmod, appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../pipeline/core/logger.ts';
import { clusterUrl, createCluster, destroyCluster, startCluster, type Cluster } from '../../pipeline/infra/pg/cluster.ts';
import { judgeBackups, judgeVolume, type AccessEncryptionData } from '../../pipeline/operations/access/index.ts';
import { AccessPolicy } from '../../pipeline/policy/access.ts';
import { BackupsPolicy } from '../../pipeline/policy/backups.ts';
import { dbops, testEnv } from '../helpers/cli.ts';
import { queryUrl } from '../helpers/db.ts';
import { tempDir } from '../helpers/migrations.ts';

const BACKUPS = `version: 1
encryption:
  recipients:
    - name: ops-oncall
      key: age1xy0gsm09d4v3htt3n27a76pzjce9ztr82nkhty0t7dwpf8xjeqdsdwrfkl
pitr:
  repositories:
    - type: directory
      path: /var/lib/pgbackrest
    - type: s3
      bucket: astro-pitr
      endpoint: s3.eu-central-1.amazonaws.com
      cipher_pass_env: PITR_CIPHER_PASS
`;

const HBA_TLS_ONLY = `# written by the test: TLS and SCRAM only
local all all scram-sha-256
hostssl all all 127.0.0.1/32 scram-sha-256
hostssl all all ::1/128 scram-sha-256
local replication all scram-sha-256
hostssl replication all 127.0.0.1/32 scram-sha-256
`;

describe('dbops access encryption', () => {
  const log = createLogger({ level: 'warn' });
  const env = testEnv();
  let open: Cluster;
  let closed: Cluster;
  let home = '';
  let trustLine = 0;

  const run = async (url: string, policies: string, reports: string, json: boolean) =>
    dbops(['access', 'encryption', '--database-url', url, '--policies-dir', policies, '--reports-dir', reports, ...(json ? ['--json'] : [])], env);

  beforeAll(async () => {
    home = await tempDir('dbops-access-encryption-');
    await chmod(home, 0o755);
    [open, closed] = await Promise.all([
      createCluster({ dir: join(home, 'open'), log, settings: { fsync: 'off' } }),
      createCluster({ dir: join(home, 'closed'), log, settings: { fsync: 'off', ssl: 'on', password_encryption: "'scram-sha-256'" } }),
    ]);
    // Cluster 1: ssl off (the default) and a trust rule for every address.
    const hba1 = join(open.dataDir, 'pg_hba.conf');
    await appendFile(hba1, 'host all all 0.0.0.0/0 trust\n');
    trustLine = (await readFile(hba1, 'utf8')).trimEnd().split('\n').length;
    // Cluster 2: a self-signed certificate as server.crt/server.key in the data directory (ssl_cert_file's
    // default), owned by the server's OS user, the key 0600; hostssl-only rules.
    const owner = await stat(closed.dataDir);
    const crt = join(closed.dataDir, 'server.crt');
    const key = join(closed.dataDir, 'server.key');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-keyout', key, '-out', crt], {
      stdio: 'ignore',
    });
    for (const f of [crt, key]) await chown(f, owner.uid, owner.gid);
    await chmod(key, 0o600);
    await writeFile(join(closed.dataDir, 'pg_hba.conf'), HBA_TLS_ONLY);
    await Promise.all([startCluster(open, log), startCluster(closed, log)]);
    await queryUrl(clusterUrl(open, 'postgres'), 'SELECT pg_reload_conf()');
    for (const dir of ['p-open', 'p-closed']) await mkdir(join(home, dir), { recursive: true });
    await writeFile(join(home, 'p-closed', 'backups.yaml'), BACKUPS);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([open && destroyCluster(open, log), closed && destroyCluster(closed, log)]);
  });

  const byName = (d: AccessEncryptionData) => Object.fromEntries(d.checks.map((c) => [c.name, c]));

  it('ssl off and a trust rule: exit 1, naming ssl and the pg_hba.conf line with trust', async () => {
    const url = clusterUrl(open, 'postgres');
    const human = await run(url, join(home, 'p-open'), join(home, 'r-open'), false);
    expect(human.code, human.stderr).toBe(1);
    expect(human.stdout).toMatch(/FAIL\s+ssl: ssl = off/);
    expect(human.stdout).toContain(`pg_hba.conf line ${trustLine} (host all all 0.0.0.0/0 trust): trust`);
    expect(human.stdout).toContain('PostgreSQL 15 has no transparent data encryption (TDE)');

    const json = await run(url, join(home, 'p-open'), join(home, 'r-open'), true);
    expect(json.code).toBe(1);
    const result = JSON.parse(json.stdout) as { verdict: string; findings: { severity: string; message: string }[]; data: AccessEncryptionData };
    expect(result.verdict).toBe('fail');
    const by = byName(result.data);
    expect(by['ssl']).toMatchObject({ status: 'fail', fix: expect.stringContaining('ssl: on') });
    expect(by['host rules']!.status).toBe('fail');
    expect(by['host rules']!.problems).toEqual(
      expect.arrayContaining([
        expect.stringContaining(`line ${trustLine} (host all all 0.0.0.0/0 trust): trust`),
        expect.stringContaining(`line ${trustLine} (host all all 0.0.0.0/0 trust): host accepts connections without TLS`),
      ]),
    );
    // initdb's own loopback `host` rules are not problems.
    expect(by['host rules']!.problems).toHaveLength(2);
    expect(by['password_encryption']!.status).toBe('pass');
    expect(by['md5 passwords']!.status).toBe('pass');
    expect(by['data checksums']!.status).toBe('pass');
    expect(by['logical backups']!.status).toBe('fail');
    expect(by['volume encryption']).toMatchObject({ status: 'not-checked', detail: expect.stringContaining('policies/access.yaml is absent') });
    expect(result.findings.filter((f) => f.severity === 'error').map((f) => f.message)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^ssl: /), expect.stringMatching(new RegExp(`^host rules: pg_hba.conf line ${trustLine} .*trust`))]),
    );
    const report = await readFile(join(home, 'r-open', 'access-encryption.json'), 'utf8');
    for (const text of [human.all, json.all, report]) expect(text).not.toContain(open.state.password);
  });

  it('ssl on, hostssl scram-only rules, data checksums: every server check passes', async () => {
    // The rules are hostssl only: the URL asks for TLS (the certificate is self-signed).
    const url = `${clusterUrl(closed, 'postgres')}?sslmode=no-verify`;
    await queryUrl(url, `CREATE ROLE app_scram LOGIN PASSWORD 'not-a-real-secret'`);
    const human = await run(url, join(home, 'p-closed'), join(home, 'r-closed'), false);
    expect(human.code, human.stderr).toBe(0);
    const json = await run(url, join(home, 'p-closed'), join(home, 'r-closed'), true);
    expect(json.code, json.stderr).toBe(0);
    const result = JSON.parse(json.stdout) as { verdict: string; data: AccessEncryptionData };
    const by = byName(result.data);
    for (const name of ['ssl', 'host rules', 'password_encryption', 'md5 passwords', 'data checksums', 'logical backups', 'pitr repositories'])
      expect(by[name], name).toMatchObject({ status: 'pass' });
    expect(by['ssl']!.detail).toMatch(/this connection uses TLSv1\.[23]/);
    expect(by['pitr repositories']!.detail).toContain('repo2 (s3://astro-pitr/pgbackrest): aes-256-cbc');
    // Only the volume attestation is not checked (a URL has no environment): a warning, exit 0.
    expect(result.verdict).toBe('warn');
    expect(by['volume encryption']!.status).toBe('not-checked');
    expect(result.data.counts).toEqual({ pass: 7, fail: 0, notChecked: 1 });
    const report = await readFile(join(home, 'r-closed', 'access-encryption.json'), 'utf8');
    for (const text of [human.all, json.all, report]) {
      expect(text).not.toContain(closed.state.password);
      expect(text).not.toContain('not-a-real-secret');
    }
  });

  it('an md5 password is named by its role only, never its hash', async () => {
    const url = `${clusterUrl(closed, 'postgres')}?sslmode=no-verify`;
    await queryUrl(url, `SET password_encryption = 'md5'; CREATE ROLE legacy_md5 LOGIN PASSWORD 'hunter2-md5'`);
    const hash = (await queryUrl<{ h: string }>(url, `SELECT rolpassword AS h FROM pg_authid WHERE rolname = 'legacy_md5'`))[0]!.h;
    try {
      const r = await run(url, join(home, 'p-closed'), join(home, 'r-closed'), true);
      expect(r.code).toBe(1);
      const by = byName((JSON.parse(r.stdout) as { data: AccessEncryptionData }).data);
      expect(by['md5 passwords']).toMatchObject({ status: 'fail', detail: '1 role with a password stored as an md5 hash: legacy_md5' });
      for (const secret of [hash, hash.slice(3), 'hunter2-md5', closed.state.password]) expect(r.all).not.toContain(secret);
    } finally {
      await queryUrl(url, 'DROP ROLE legacy_md5');
    }
  });

  it('volume attestation: fresh passes, stale or absent fails; a directory repository on the repository host needs a cipher', () => {
    const now = new Date('2026-12-07T12:00:00Z');
    const access = AccessPolicy.parse({
      version: 1,
      encryption: {
        volume: {
          production: { encrypted: true, by: 'AWS EBS, KMS alias/astro-prod-db', attested_by: 'sec-team', attested_at: '2026-11-30', max_age: '30d' },
          staging: { encrypted: true, by: 'LUKS', attested_by: 'ops', attested_at: '2026-06-01' },
          dev: { encrypted: false, by: 'nothing', attested_by: 'ops', attested_at: '2026-12-01' },
        },
      },
    });
    expect(judgeVolume(access, true, 'production', now)).toMatchObject({ status: 'pass' });
    expect(judgeVolume(access, true, 'staging', now)).toMatchObject({ status: 'fail', detail: expect.stringContaining('older than max_age 90d') });
    expect(judgeVolume(access, true, 'dev', now)).toMatchObject({ status: 'fail', detail: expect.stringContaining('encrypted: false') });
    expect(judgeVolume(access, true, 'qa', now)).toMatchObject({ status: 'fail', fix: expect.stringContaining('encryption.volume.qa') });
    expect(judgeVolume(AccessPolicy.parse({ version: 1 }), false, 'production', now)).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('absent'),
    });
    expect(judgeVolume(access, true, null, now).status).toBe('not-checked');

    const remote = BackupsPolicy.parse({
      version: 1,
      pitr: {
        repositories: [{ type: 'directory', path: '/backup/pgbackrest' }],
        database_host: { host: 'db1.internal', repository_host: 'backup1.internal' },
      },
    });
    const [logical, pitr] = judgeBackups(remote);
    expect(logical!.status).toBe('fail');
    expect(pitr).toMatchObject({
      status: 'fail',
      problems: [expect.stringContaining('repo1 (/backup/pgbackrest on the repository host backup1.internal): no cipher')],
    });
    expect(judgeBackups(BackupsPolicy.parse({ version: 1 }))[1]).toMatchObject({ status: 'pass', detail: expect.stringContaining('no pitr: section') });
  });
});
