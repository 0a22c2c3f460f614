// pgBackRest's dedicated repository host: dbops on the "backup server" reaches the database host through
// pgBackRest's TLS server (pg1-host), and the database host pushes WAL to the backup server's TLS server.
// Both hosts are this machine, on loopback, with a CA and certificates the test makes; the database host's
// configuration is the one `dbops pitr enable` printed, installed as an operator would.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { appendFile, chmod, chown, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from '../../pipeline/core/duration.ts';
import { silentLogger } from '../../pipeline/core/logger.ts';
import { serverRunAs } from '../../pipeline/infra/pg/binaries.ts';
import { clusterUrl, createCluster, destroyCluster, freePort, startCluster, stopCluster, stopServerAt, type Cluster } from '../../pipeline/infra/pg/cluster.ts';
import { dbops, testEnv, type CliRun } from '../helpers/cli.ts';
import { queryUrl } from '../helpers/db.ts';
import { tempDir } from '../helpers/migrations.ts';
import { waitFor } from '../helpers/wait.ts';

const openssl = (cwd: string, ...args: string[]) => execFileSync('openssl', args, { cwd, stdio: 'pipe' });

/** A CA, a server certificate for localhost and a client certificate with CN `cn`, as pgBackRest's TLS wants them. */
async function makePki(dir: string, cn: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  openssl(dir, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=dbops-test-ca');
  await writeFile(join(dir, 'san.ext'), 'subjectAltName=DNS:localhost\n');
  for (const [name, subject, ext] of [
    ['server', '/CN=localhost', ['-extfile', 'san.ext']],
    ['client', `/CN=${cn}`, []],
  ] as const) {
    openssl(dir, 'req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
    openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', ...ext);
  }
}

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => (s.end(), resolve(true)));
    s.on('error', () => resolve(false));
  });

describe('dbops pitr from a repository host (pg1-host over TLS)', async () => {
  const home = await tempDir('dbops-pitr-repohost-');
  await chmod(home, 0o755);
  const log = silentLogger();
  const runAs = await serverRunAs();
  const own = async (path: string) => {
    if (runAs) await chown(path, runAs.uid, runAs.gid);
  };
  const tls = join(home, 'tls');
  const stateDir = join(home, 'backup-server');
  const dbHost = join(home, 'db-host');
  const dbHostConf = join(dbHost, 'pgbackrest.conf');
  const runs: CliRun[] = [];
  const servers: ChildProcess[] = [];
  const restored: string[] = [];
  let cluster: Cluster;
  let env: NodeJS.ProcessEnv;
  let password = '';
  const run = async (...args: string[]) => {
    const r = await dbops([...args, '--policies-dir', join(home, 'policies')], env);
    runs.push(r);
    return r;
  };

  beforeAll(async () => {
    await makePki(tls, 'pgbackrest');
    for (const f of ['ca.crt', 'server.crt', 'server.key', 'client.crt', 'client.key']) {
      await own(join(tls, f));
      await chmod(join(tls, f), f.endsWith('.key') ? 0o600 : 0o644);
    }
    await own(tls);
    cluster = await createCluster({ dir: join(home, 'db'), log, settings: { fsync: 'off' } });
    await startCluster(cluster, log);
    password = cluster.state.password;
    const [dbPort, repoPort] = [await freePort(), await freePort()];
    await mkdir(join(home, 'policies'));
    await writeFile(
      join(home, 'policies', 'backups.yaml'),
      JSON.stringify({
        version: 1,
        pitr: {
          state_dir: stateDir,
          repositories: [{ type: 'directory', path: join(home, 'repo') }],
          database_host: {
            host: 'localhost',
            port: dbPort,
            config: dbHostConf,
            repository_host: 'localhost',
            repository_port: repoPort,
            listen: '127.0.0.1',
            tls_dir: tls,
            client_cn: 'pgbackrest',
          },
        },
      }),
    );
    env = testEnv({ DATABASE_URL: clusterUrl(cluster, 'postgres') });
  });

  afterAll(async () => {
    for (const s of servers) s.kill('SIGTERM');
    for (const dir of restored) await stopServerAt(dir, log, 'immediate');
    if (cluster) await destroyCluster(cluster, log);
    for (const r of runs) expect(r.all).not.toContain(password);
  });

  it('enable prints the database host its configuration, and once it is installed checks archiving from here', async () => {
    const first = await run('pitr', 'enable', '--json');
    expect(first.code, first.all).toBe(0);
    const d = JSON.parse(first.stdout).data;
    expect(d.site).toBe('repository');
    expect(d.databaseHost).toMatchObject({ configPath: dbHostConf, checked: false, serverCommand: `pgbackrest --config=${dbHostConf} server` });
    // This machine's configuration reaches pg1 through the database host's TLS server.
    const here = await readFile(join(stateDir, 'pgbackrest.conf'), 'utf8');
    expect(here).toContain('pg1-host=localhost\npg1-host-type=tls');
    expect(here).toContain(`pg1-path=${cluster.dataDir}`);
    const text = await run('pitr', 'enable');
    expect(text.stdout).toContain('The database host does not archive through pgBackRest yet.');

    // The operator installs what was printed: the database host's pgBackRest configuration (with its own
    // log, spool and lock folders here), the archiving settings, a restart for archive_mode, both TLS servers.
    const folders = { 'log-path': join(dbHost, 'log'), 'spool-path': join(dbHost, 'spool'), 'lock-path': join(dbHost, 'lock') };
    for (const f of [dbHost, ...Object.values(folders)]) {
      await mkdir(f, { recursive: true });
      await own(f);
    }
    let conf = d.databaseHost.pgbackrestConf as string;
    for (const [k, v] of Object.entries(folders)) conf = conf.replace(new RegExp(`^${k}=.*$`, 'm'), `${k}=${v}`);
    expect(conf).toContain(`repo1-path=${join(home, 'repo')}\n`);
    expect(conf).toContain('repo1-host=localhost\nrepo1-host-type=tls');
    await writeFile(dbHostConf, conf, { mode: 0o600 });
    await own(dbHostConf);
    await appendFile(join(cluster.dataDir, 'postgresql.conf'), d.databaseHost.postgresqlConf);
    await stopCluster(cluster, log);
    await startCluster(cluster, log);
    // pgBackRest's remote on the database host keeps its locks in the default lock folder whatever its
    // configuration says; both hosts being this machine, that folder must be the server user's.
    await mkdir('/tmp/pgbackrest', { recursive: true });
    if (runAs && (await stat('/tmp/pgbackrest')).uid !== runAs.uid) await own('/tmp/pgbackrest');
    const serverEnv = { ...process.env, PGHOST: '127.0.0.1', PGPASSWORD: password };
    const start = (config: string) => {
      const child = spawn('pgbackrest', [`--config=${config}`, 'server'], {
        env: serverEnv,
        stdio: 'ignore',
        ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
      });
      servers.push(child);
    };
    start(dbHostConf);
    start(join(stateDir, 'pgbackrest.conf'));
    const policy = JSON.parse(await readFile(join(home, 'policies', 'backups.yaml'), 'utf8')).pitr.database_host;
    await waitFor('both TLS servers', async () => (await listening(policy.port)) && (await listening(policy.repository_port)), 20_000, 100);

    const second = await run('pitr', 'enable', '--json');
    expect(second.code, second.all).toBe(0);
    const d2 = JSON.parse(second.stdout).data;
    expect(d2.databaseHost.checked).toBe(true);
    expect(d2.actions).toEqual(expect.arrayContaining(['created stanza main', 'created dbops.heartbeat']));
  });

  it('backs up, lists, verifies and judges archiving from the repository host; a restore lands here', async () => {
    const backup = await run('pitr', 'backup', '--type', 'full', '--json');
    expect(backup.code, backup.all).toBe(0);
    const label = JSON.parse(backup.stdout).data.backups[0].label as string;
    await queryUrl(clusterUrl(cluster, 'postgres'), 'CREATE TABLE after_backup AS SELECT 42 AS answer');
    await queryUrl(clusterUrl(cluster, 'postgres'), 'SELECT pg_switch_wal()');
    const list = await run('pitr', 'list', '--json');
    expect(JSON.parse(list.stdout).data.backups.map((b: { label: string }) => b.label)).toEqual([label]);
    expect((await run('pitr', 'verify')).code).toBe(0);
    await waitFor('the switched segment to be archived', async () => (await run('pitr', 'status')).code === 0, 30_000, 500);

    const dir = join(home, 'restored');
    restored.push(dir);
    const r = await run('pitr', 'restore', '--latest', '--target-dir', dir, '--json');
    expect(r.code, r.all).toBe(0);
    const port = JSON.parse(r.stdout).data.port as number;
    expect(await queryUrl(clusterUrl(cluster, 'postgres').replace(/:\d+\//, `:${port}/`), 'SELECT answer FROM after_backup')).toEqual([{ answer: 42 }]);
    await sleep(0);
  });
});
