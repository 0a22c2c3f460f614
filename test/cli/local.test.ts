// `dbops local …`, the embedded default for commands without a database URL, and binary discovery.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { access, chmod, chown, constants, mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findPgBinaries, serverRunAs } from '../../pipeline/infra/pg/binaries.ts';
import { BIN, dbops, ROOT, runDbops, testEnv, type CliRun } from '../helpers/cli.ts';
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
  afterAll(async () => {
    await local('down', '--destroy');
  });

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
    expect([a.code, b.code], `${a.all}\n${b.all}`).toEqual([0, 0]);
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
    expect(run.code, run.all).toBe(0);
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
    const again = await local('up');
    expect(again.code, again.all).toBe(0);
    expect((await runDbops(['migrate', 'status', '--migrations-dir', join(home, 'migrations')], env)).stdout).toContain('up to date');
    expect((await local('down', '--destroy')).stdout).toContain('Stopped and deleted');
    await expect(access(join(home, 'local'))).rejects.toThrow();
  });
});

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/** A zombie counts as gone: in a container nothing may reap a server that pg_ctl started detached. */
const processGone = async (pid: number) => {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
  return status === undefined || /^State:\s+Z/m.test(status);
};

const acceptsConnections = (port: number) =>
  new Promise<boolean>((done) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });

/** Printed as an error a person can act on: no stack, no internal error. */
const expectClean = (run: CliRun) => expect(run.all).not.toMatch(/Internal error|\n\s+at /);

describe('the embedded cluster recovers from its own broken state', async () => {
  const home = await tempDir('dbops-broken-');
  await chmod(home, 0o755); // under root the server runs as postgres, which must reach the cluster directories

  afterAll(async () => {
    // Should a test fail, a server it started must not outlive it.
    const bins = await findPgBinaries(testEnv());
    for (const name of await readdir(home)) {
      const data = join(home, name, 'data');
      if (!(await exists(join(data, 'postmaster.pid')))) continue;
      try {
        execFileSync(join(bins.binDir, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop'], {
          stdio: 'ignore',
          ...(serverUser ? { uid: serverUser.uid, gid: serverUser.gid } : {}),
        });
      } catch {
        /* not running */
      }
    }
  });

  it('a running cluster whose cluster.json turned to garbage: status names the file, up refuses with the fix, down --destroy stops the server and removes it all', async () => {
    const dir = join(home, 'garbled');
    const env = testEnv({ DBOPS_LOCAL_DIR: dir });
    const stateFile = join(dir, 'cluster.json');
    expect((await runDbops(['local', 'up'], env)).code).toBe(0);
    const state = JSON.parse(await readFile(stateFile, 'utf8'));
    const postmaster = Number((await readFile(join(dir, 'data', 'postmaster.pid'), 'utf8')).split('\n')[0]);
    expect(await acceptsConnections(state.port)).toBe(true);
    // Half-readable, as after a torn write: the password is still in it.
    await writeFile(stateFile, `{"version": 1, "password": "${state.password}", {not json`);

    const status = await runDbops(['local', 'status'], env);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`${stateFile} is corrupt`);
    expect(status.stdout).toContain('Its server is running');
    expect(status.stdout).toContain('dbops local down --destroy');
    expectClean(status);

    const up = await runDbops(['local', 'up', '--verbose'], env);
    expect(up.code).toBe(3);
    expect(up.stderr).toContain(`${stateFile} is corrupt`);
    expect(up.stderr).toContain('dbops local down --destroy');
    expectClean(up);

    const destroy = await runDbops(['local', 'down', '--destroy'], env);
    expect(destroy.code).toBe(0);
    expect(destroy.stdout).toContain(`Stopped and deleted the unusable embedded cluster in ${dir}`);
    expect(await processGone(postmaster)).toBe(true);
    expect(await acceptsConnections(state.port)).toBe(false);
    expect(await exists(dir)).toBe(false);
    expect(await exists(`${dir}.lock`)).toBe(false);
    for (const run of [status, up, destroy]) expect(run.all).not.toContain(state.password);

    // What the hint promised: the next command makes a new cluster there.
    const again = await runDbops(['local', 'up', '--json'], env);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).data.created).toBe(true);
    expect((await runDbops(['local', 'down', '--destroy'], env)).code).toBe(0);
    expect(await exists(dir)).toBe(false);
  });

  it("destroy in a folder that also holds the user's files removes only what dbops created, follows no link, and says what it kept", async () => {
    const dir = join(home, 'shared');
    const env = testEnv({ DBOPS_LOCAL_DIR: dir });
    const precious = join(home, 'precious.txt');
    await writeFile(precious, 'not dbops\n');
    await mkdir(join(dir, 'data'), { recursive: true });
    await writeFile(join(dir, 'data', 'PG_VERSION'), '15\n');
    await symlink(precious, join(dir, 'data', 'outside')); // removed with data/, its target stays
    await writeFile(join(dir, 'cluster.json'), '{"version": 1, "port": 5432}\n'); // valid JSON, fields missing
    await writeFile(join(dir, 'cluster.json.tmp'), '{"vers');
    await writeFile(join(dir, 'postgres.log'), 'LOG: ...\n');
    await symlink(precious, join(dir, '.pwfile')); // dbops writes .pwfile as a file: a link of that name is not its own
    await writeFile(join(dir, 'notes.txt'), 'my notes\n');
    // The lock of a dbops that died while holding it.
    const gone = spawn(process.execPath, ['-e', '']);
    await once(gone, 'exit');
    await writeFile(`${dir}.lock`, String(gone.pid));

    const status = await runDbops(['local', 'status'], env);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`${join(dir, 'cluster.json')} is corrupt (missing or invalid: superuser, password, major, createdAt)`);
    expectClean(status);

    const destroy = await runDbops(['local', 'down', '--destroy'], env);
    expect(destroy.code).toBe(0);
    expect((await readdir(dir)).sort()).toEqual(['.pwfile', 'notes.txt']);
    expect(await readFile(join(dir, 'notes.txt'), 'utf8')).toBe('my notes\n');
    expect(await readFile(precious, 'utf8')).toBe('not dbops\n');
    expect(await exists(`${dir}.lock`)).toBe(false);
    expect(destroy.stdout).toContain('removed cluster.json, cluster.json.tmp, data, postgres.log');
    expect(destroy.stdout).toContain('Kept the folder and what dbops did not create in it: .pwfile, notes.txt');
    expectClean(destroy);

    // What is left holds no dbops cluster: a second destroy removes nothing and says why.
    const again = await runDbops(['local', 'down', '--destroy'], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`${dir} does not look like a dbops cluster`);
    expect((await readdir(dir)).sort()).toEqual(['.pwfile', 'notes.txt']);
  });

  it('DBOPS_LOCAL_DIR naming a regular file: nothing to destroy, status reports it, up and commands needing the cluster are a configuration error (exit 2)', async () => {
    const file = join(home, 'a-file');
    await writeFile(file, 'user data\n');
    const env = testEnv({ DBOPS_LOCAL_DIR: file });

    const destroy = await runDbops(['local', 'down', '--destroy'], env);
    expect(destroy.code).toBe(0);
    expect(destroy.stdout).toContain('Nothing to destroy');
    expect(destroy.stdout).toContain(`${file} is a file, not a folder`);
    expectClean(destroy);

    const status = await runDbops(['local', 'status', '--json'], env);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout).data).toMatchObject({ dir: file, exists: false, problem: { message: expect.stringContaining(`${file} is a file`) } });

    const migrations = await tempDir('dbops-migrations-');
    for (const args of [
      ['local', 'up'],
      ['migrate', 'status', '--migrations-dir', migrations],
    ]) {
      const run = await runDbops(args, env);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr).toContain(`${file} is a file, not a folder`);
      expect(run.stderr).toContain('Point DBOPS_LOCAL_DIR at a folder');
      expect(run.all).not.toContain('local down --destroy');
      expectClean(run);
    }
    expect(await readFile(file, 'utf8')).toBe('user data\n');
    expect(await exists(`${file}.lock`)).toBe(false);
  });

  it('DBOPS_LOCAL_DIR naming a link to nothing is refused (exit 2), and the link is left alone', async () => {
    const dir = await tempDir('dbops-dangling-');
    const link = join(dir, 'local');
    await symlink(join(dir, 'gone'), link);
    const run = await runDbops(['local', 'up'], testEnv({ DBOPS_LOCAL_DIR: link }));
    expect(run.code, run.all).toBe(2);
    expect(run.stderr).toContain(`${link} is a symbolic link to a missing target, not a folder`);
    expect(await readdir(dir)).toEqual(['local']);
  });

  it('an in-process run uses the DBOPS_LOCAL_DIR of the environment it is given, not process.env', async () => {
    const dir = join(home, 'in-process');
    await mkdir(dir);
    await writeFile(join(dir, 'cluster.json'), '{not json');
    const run = await dbops(['local', 'status', '--json'], testEnv({ DBOPS_LOCAL_DIR: dir }));
    expect(run.code).toBe(0);
    const { data } = JSON.parse(run.stdout);
    expect(data.dir).toBe(dir);
    expect(data.problem.message).toContain(`${join(dir, 'cluster.json')} is corrupt`);
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

  const repoReadableByPostgres =
    isRoot &&
    (() => {
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
      execFileSync(
        'runuser',
        [
          '-u',
          'postgres',
          '--',
          'env',
          `DBOPS_LOCAL_DIR=${join(dir, 'local')}`,
          `PATH=${process.env['PATH']}`,
          'DBOPS_LOG_LEVEL=warn',
          process.execPath,
          BIN,
          ...args,
        ],
        { cwd: dir },
      ).toString();
    try {
      expect(asUser('local', 'up')).toContain('Created and started');
      expect(asUser('local', 'status', '--json')).toContain('"running": true');
    } finally {
      asUser('local', 'down', '--destroy');
    }
  });
});
