// `dbops local …`, the embedded default for commands without a database URL, and binary discovery.
import { execFileSync } from 'node:child_process';
import { access, chmod, chown, constants, mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findPgBinaries, serverRunAs } from '../../pipeline/pg/binaries.ts';
import { BIN, ROOT, runDbops, testEnv } from '../helpers/cli.ts';
import { queryUrl } from '../helpers/db.ts';
import { tempDir } from '../helpers/migrations.ts';

const isRoot = process.getuid?.() === 0;
/** The OS user the server runs as under root (the `postgres` user), else undefined. */
const serverUser = await serverRunAs();

describe('the embedded cluster', async () => {
  const home = await tempDir('dbops-local-');
  await chmod(home, 0o755); // under root the server runs as postgres, which must reach the cluster directory
  const env = testEnv({ DBOPS_LOCAL_DIR: join(home, 'local') });
  const local = (...args: string[]) => runDbops(['local', ...args], env);
  afterAll(async () => { await local('down', '--destroy'); });

  it.runIf(isRoot)('as root, a cluster directory the postgres user cannot reach is refused with the fix', async () => {
    const closed = await tempDir('dbops-closed-'); // mode 0700, owned by root
    const run = await runDbops(['local', 'up'], testEnv({ DBOPS_LOCAL_DIR: join(closed, 'local') }));
    expect(run.code).toBe(3);
    expect(run.stderr).toContain(`The postgres OS user cannot write to ${join(closed, 'local')}`);
    expect(run.stderr).toContain('chmod o+x');
  });

  it('status before anything exists says how to create it', async () => {
    const run = await local('status');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('No embedded cluster');
    expect(run.stdout).toContain('dbops local up');
  });

  it('up creates a checksummed cluster with pg_stat_statements, running as the postgres user under root; two at once make one cluster', async () => {
    const [a, b] = await Promise.all([local('up', '--json'), local('up', '--json')]);
    expect([a.code, b.code]).toEqual([0, 0]);
    const [first, second] = [JSON.parse(a.stdout).data, JSON.parse(b.stdout).data];
    expect([first.created, second.created].sort()).toEqual([false, true]);
    expect(first.port).toBe(second.port);
    const state = JSON.parse(await readFile(join(home, 'local', 'cluster.json'), 'utf8'));
    expect(first.url).toBe(`postgresql://postgres:***@127.0.0.1:${state.port}/dbops`);
    expect(a.all + b.all).not.toContain(state.password);
    expect((await stat(join(home, 'local', 'cluster.json'))).mode & 0o777).toBe(0o600);

    const url = `postgresql://postgres:${encodeURIComponent(state.password)}@127.0.0.1:${state.port}/dbops`;
    const [settings] = await queryUrl<{ checksums: string; preload: string; ext: number }>(
      url,
      `SELECT current_setting('data_checksums') AS checksums, current_setting('shared_preload_libraries') AS preload, (SELECT count(*)::int FROM pg_extension WHERE extname = 'pg_stat_statements') AS ext`,
    );
    expect(settings).toEqual({ checksums: 'on', preload: 'pg_stat_statements', ext: 1 });
    const postmasterPid = (await readFile(join(home, 'local', 'data', 'postmaster.pid'), 'utf8')).split('\n')[0]!;
    const uid = Number(/^Uid:\s+(\d+)/m.exec(await readFile(`/proc/${postmasterPid}/status`, 'utf8'))![1]);
    expect(uid).toBe(serverUser?.uid ?? process.getuid!());
  });

  it('commands without --database-url or DATABASE_URL use it', async () => {
    const dir = join(home, 'migrations');
    await mkdir(join(dir, '20240101000000_init'), { recursive: true });
    await writeFile(join(dir, '20240101000000_init', 'migration.sql'), 'CREATE TABLE "Hello"(id int);');
    const run = await runDbops(['migrate', 'deploy', '--migrations-dir', dir], env);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Using the embedded PostgreSQL 1\d cluster in .*local \(port \d+\)/);
    expect(run.stdout).toContain('Applying migration `20240101000000_init`');
    const status = await runDbops(['migrate', 'status', '--migrations-dir', dir], env);
    expect(status.stdout).toContain('Database schema is up to date!');
  });

  it('psql opens on the cluster, with the password in the environment, not the command line', async () => {
    const out = join(home, 'psql.out');
    const run = await local('psql', '--', '-tA', '-c', 'SELECT count(*) FROM "Hello"', '-o', out);
    expect(run.code).toBe(0);
    expect((await readFile(out, 'utf8')).trim()).toBe('0');
  });

  it('down stops it, up starts it again with its data, down --destroy deletes it', async () => {
    expect((await local('down')).stdout).toContain('Stopped the embedded cluster');
    expect((await local('status')).stdout).toContain(': stopped');
    expect((await local('up')).code).toBe(0);
    expect((await runDbops(['migrate', 'status', '--migrations-dir', join(home, 'migrations')], env)).stdout).toContain('up to date');
    expect((await local('down', '--destroy')).stdout).toContain('Stopped and deleted');
    await expect(access(join(home, 'local'))).rejects.toThrow();
  });
});

describe('PostgreSQL binary discovery', async () => {
  const real = await findPgBinaries(testEnv());

  it('finds the binaries without PG_BIN and reports their version', () => {
    expect(real.major).toBeGreaterThanOrEqual(15);
    expect(['pg_config', '/usr/lib/postgresql', 'PATH']).toContain(real.source);
  });

  it('PG_BIN without binaries → exit 3 naming what to install', async () => {
    const empty = await tempDir('dbops-nobin-');
    const run = await runDbops(['local', 'up'], testEnv({ PG_BIN: empty, DBOPS_LOCAL_DIR: join(empty, 'local') }));
    expect(run.code).toBe(3);
    expect(run.stderr).toContain(`PG_BIN=${empty} holds no runnable postgres binary`);
    expect(run.stderr).toContain('apt-get install postgresql postgresql-contrib');
    expect(run.stderr).toContain('brew install');
  });

  it('a client tool older than the server → exit 3 naming the client package', async () => {
    const bin = await tempDir('dbops-oldpsql-');
    await chmod(bin, 0o755);
    for (const tool of ['postgres', 'initdb', 'pg_ctl']) await symlink(join(real.binDir, tool), join(bin, tool));
    await writeFile(join(bin, 'psql'), '#!/bin/sh\necho "psql (PostgreSQL) 11.22"\n', { mode: 0o755 });
    const env = testEnv({ PG_BIN: bin, DBOPS_LOCAL_DIR: join(bin, 'local') });
    if (serverUser) await chown(bin, serverUser.uid, serverUser.gid);
    try {
      const run = await runDbops(['local', 'psql', '--', '-c', 'select 1'], env);
      expect(run.code).toBe(3);
      expect(run.stderr).toContain(`psql 11.22 (${join(bin, 'psql')}) is older than the PostgreSQL ${real.major} server`);
      expect(run.stderr).toContain(`postgresql-client-${real.major}`);
    } finally {
      await runDbops(['local', 'down', '--destroy'], env);
    }
  });

  const repoReadableByPostgres = isRoot && (() => {
    try {
      execFileSync('runuser', ['-u', 'postgres', '--', 'test', '-r', join(ROOT, 'package.json')]);
      return true;
    } catch {
      return false;
    }
  })();

  it.runIf(repoReadableByPostgres)('as an ordinary OS user the cluster runs as that user', async () => {
    const dir = await tempDir('dbops-user-');
    await chown(dir, serverUser!.uid, serverUser!.gid);
    await access(BIN, constants.R_OK);
    const asUser = (...args: string[]) =>
      execFileSync('runuser', ['-u', 'postgres', '--', 'env', `DBOPS_LOCAL_DIR=${join(dir, 'local')}`, `PATH=${process.env['PATH']}`, 'DBOPS_LOG_LEVEL=warn', process.execPath, BIN, ...args], { cwd: dir }).toString();
    try {
      expect(asUser('local', 'up')).toContain('Created and started');
      expect(asUser('local', 'status', '--json')).toContain('"running": true');
    } finally {
      asUser('local', 'down', '--destroy');
    }
  });
});
