// An S3 pgBackRest repository over TLS (s3rver with a certificate the test makes), encrypted with
// pgBackRest's own cipher: backup, verify and restore through it; the passphrase and the S3 secret never
// appear in any output, and the repository holds ciphertext only.
import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../pipeline/core/logger.ts';
import { stopServerAt } from '../../pipeline/infra/pg/cluster.ts';
import { dbops, testEnv, type CliRun } from '../helpers/cli.ts';
import { tempDir } from '../helpers/migrations.ts';
import { selfSignedCertificate, startS3rver, type S3Server } from '../helpers/s3.ts';

describe('dbops pitr with an encrypted S3 repository over TLS', async () => {
  const home = await tempDir('dbops-pitr-s3-');
  await chmod(home, 0o755);
  const passphrase = `cipher-${Math.random().toString(36).slice(2)}-passphrase`;
  let s3: S3Server;
  let env: NodeJS.ProcessEnv;
  const policies = join(home, 'policies');
  const flags = ['--policies-dir', policies, '--json'];
  const runs: CliRun[] = [];
  const run = async (...args: string[]) => {
    const r = await dbops([...args, ...flags], env);
    runs.push(r);
    return r;
  };

  beforeAll(async () => {
    const tls = await selfSignedCertificate();
    s3 = await startS3rver({ bucket: 'dbops-pitr', tls });
    env = testEnv({ DBOPS_LOCAL_DIR: join(home, 'local'), PITR_S3_KEY: s3.accessKeyId, PITR_S3_SECRET: s3.secretAccessKey, PITR_CIPHER: passphrase });
    await mkdir(policies);
    const port = Number(new URL(s3.endpoint).port);
    await writeFile(
      join(policies, 'backups.yaml'),
      JSON.stringify({
        version: 1,
        pitr: {
          repositories: [
            {
              type: 's3',
              bucket: s3.bucket,
              endpoint: 'localhost',
              port,
              uri_style: 'path',
              ca_file: tls.certFile,
              key_env: 'PITR_S3_KEY',
              secret_env: 'PITR_S3_SECRET',
              cipher_pass_env: 'PITR_CIPHER',
            },
          ],
        },
      }),
    );
  });
  afterAll(async () => {
    await stopServerAt(join(home, 'restored'), silentLogger(), 'immediate');
    await dbops(['local', 'down', '--destroy'], env);
    await s3?.stop();
    for (const r of runs) {
      expect(r.all).not.toContain(passphrase);
      expect(r.all).not.toContain(s3.secretAccessKey);
    }
  });

  it('enables, backs up, verifies and restores through the encrypted repository; it stores ciphertext only', async () => {
    const enabled = await run('pitr', 'enable');
    expect(enabled.code, enabled.all).toBe(0);
    // The passphrase lives only in the 0600 configuration, which archive-push (run by PostgreSQL) reads.
    const conf = join(home, 'local', 'pitr', 'pgbackrest.conf');
    expect((await stat(conf)).mode & 0o777).toBe(0o600);
    expect(await readFile(conf, 'utf8')).toContain(`repo1-cipher-pass=${passphrase}`);

    const backup = await run('pitr', 'backup', '--type', 'full');
    expect(backup.code, backup.all).toBe(0);
    expect((await run('pitr', 'verify')).code).toBe(0);

    // Every object s3rver holds is pgBackRest ciphertext (OpenSSL's "Salted__" header), none is a readable file.
    const objects: string[] = [];
    const walk = async (d: string): Promise<void> => {
      for (const e of await readdir(d, { withFileTypes: true })) {
        if (e.isDirectory()) await walk(join(d, e.name));
        else if (e.name.endsWith('._S3rver_object')) objects.push(join(d, e.name));
      }
    };
    await walk(s3.directory);
    expect(objects.length).toBeGreaterThan(10);
    for (const o of objects) {
      const head = (await readFile(o)).subarray(0, 8).toString('latin1');
      expect(head, o).toBe('Salted__');
    }

    const restored = await run('pitr', 'restore', '--latest', '--target-dir', join(home, 'restored'));
    expect(restored.code, restored.all).toBe(0);
    expect(JSON.parse(restored.stdout).data.phases.every((p: { ok: boolean }) => p.ok)).toBe(true);
  });
});
