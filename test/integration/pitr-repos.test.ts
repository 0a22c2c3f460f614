// Two pgBackRest repositories (the backup server and an offsite copy): each gets its own base backup and its
// own verification; a problem in the second one is named with its repository, and stops expiry there.
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dbops, testEnv } from '../helpers/cli.ts';
import { tempDir } from '../helpers/migrations.ts';

describe('dbops pitr with two repositories', async () => {
  const home = await tempDir('dbops-pitr-repos-');
  await chmod(home, 0o755);
  const env = testEnv({ DBOPS_LOCAL_DIR: join(home, 'local') });
  const policies = join(home, 'policies');
  const flags = ['--policies-dir', policies, '--json'];
  beforeAll(async () => {
    await mkdir(policies);
    await writeFile(
      join(policies, 'backups.yaml'),
      JSON.stringify({
        version: 1,
        pitr: {
          repositories: [
            { type: 'directory', path: join(home, 'server') },
            { type: 'directory', path: join(home, 'offsite') },
          ],
        },
      }),
    );
    const enabled = await dbops(['pitr', 'enable', ...flags], env);
    expect(enabled.code, enabled.all).toBe(0);
  });
  afterAll(async () => {
    await dbops(['local', 'down', '--destroy'], env);
  });

  it('backs up into each repository, or the one --repo names', async () => {
    const both = await dbops(['pitr', 'backup', '--type', 'full', ...flags], env);
    expect(both.code, both.all).toBe(0);
    expect(JSON.parse(both.stdout).data.backups.map((b: { repo: number; type: string }) => [b.repo, b.type])).toEqual([
      [1, 'full'],
      [2, 'full'],
    ]);
    const second = await dbops(['pitr', 'backup', '--type', 'incr', '--repo', '2', ...flags], env);
    expect(second.code, second.all).toBe(0);
    expect(JSON.parse(second.stdout).data.backups.map((b: { repo: number }) => b.repo)).toEqual([2]);
    const list = JSON.parse((await dbops(['pitr', 'list', ...flags], env)).stdout).data.backups as Array<{ repo: number; type: string }>;
    expect(list.map((b) => `${b.repo}:${b.type}`).sort()).toEqual(['1:full', '2:full', '2:incr']);
    const bad = await dbops(['pitr', 'backup', '--repo', '3', ...flags], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--repo 3: policies/backups.yaml names 2 PITR repositories (1–2)');
  });

  it('verifies each repository and names the one whose file was damaged', async () => {
    expect((await dbops(['pitr', 'verify', ...flags], env)).code).toBe(0);
    const root = join(home, 'offsite', 'backup', 'main');
    const label = (await readdir(root)).find((n) => /F$/.test(n))!;
    const files: string[] = [];
    const walk = async (d: string): Promise<void> => {
      for (const e of await readdir(d, { withFileTypes: true })) {
        if (e.isDirectory()) await walk(join(d, e.name));
        else if (e.name.endsWith('.zst')) files.push(join(d, e.name));
      }
    };
    await walk(join(root, label, 'pg_data', 'base'));
    const victim = (await Promise.all(files.map(async (f) => ({ f, n: (await readFile(f)).length })))).sort((a, b) => b.n - a.n)[0]!.f;
    const bytes = await readFile(victim);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    await writeFile(victim, bytes);
    const r = await dbops(['pitr', 'verify', ...flags], env);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).data.record.problems).toContain(`repo2: checksum invalid: ${victim.slice(victim.indexOf(label))}`);
    // The first repository alone is still intact.
    expect((await dbops(['pitr', 'verify', '--repo', '1', ...flags], env)).code).toBe(0);
    // Nothing is expired from a repository whose verification failed: the record cannot say which backup is damaged.
    const before = JSON.parse((await dbops(['pitr', 'list', ...flags], env)).stdout).data.backups.length;
    const expire = await dbops(['pitr', 'expire', '--policies-dir', policies], env);
    expect(expire.code).toBe(1);
    expect(expire.stderr).toContain(`The newest verification of repo2/${label}`);
    expect(expire.stderr).toContain('nothing is expired while the repository is damaged');
    expect(JSON.parse((await dbops(['pitr', 'list', ...flags], env)).stdout).data.backups.length).toBe(before);
    expect((await dbops(['pitr', 'expire', '--repo', '1', ...flags], env)).code).toBe(0);
  });
});
