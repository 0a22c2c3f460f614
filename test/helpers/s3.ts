import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import { ROOT } from './cli.ts';

/**
 * s3rver on loopback, for tests of the S3 storage target. Two ways to run it:
 *
 * - `startS3rver()` runs it inside the test process. `stop()` closes it; `restart()` starts it again on the
 *   same port over the same folder, so objects survive and the endpoint stays valid.
 * - `startS3rverProcess()` runs it in a child process that a test can `kill()` (SIGKILL) mid-upload — the
 *   "S3 target stopped mid-upload" case — and `restart()` afterwards to look at what was left.
 *
 * Authentication: s3rver knows one account with the access key id `S3RVER`. It checks that the key id exists
 * (an unknown one is InvalidAccessKeyId) but does not verify V4 signatures, so any secret works with it. The
 * helpers hand out a random secret, which lets tests assert that the secret never appears in any output.
 *
 * Limits of s3rver that tests must allow for: no ListMultipartUploads (NotImplemented) and no
 * AbortMultipartUpload (MethodNotAllowed); parts of an unfinished upload are kept in a hidden folder and are
 * never listed as objects. The client needs forcePathStyle and the WHEN_REQUIRED checksum settings, which
 * `s3Target()` sets.
 */
export interface S3Server {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Folder s3rver keeps its buckets in. */
  directory: string;
  /** Stops the server and deletes its folder. */
  stop(): Promise<void>;
  /** Starts the server again on the same port and folder (after `stop`-without-cleanup or `kill`). */
  restart(): Promise<void>;
}

export interface S3ServerOptions {
  bucket?: string;
  /** Serve HTTPS with this key and certificate (PEM): pgBackRest speaks only HTTPS to S3. */
  tls?: { key: string; cert: string };
  /** Reuse a folder (e.g. to look at what a killed server left); a new temporary one by default. */
  directory?: string;
}

/** The env variable names s3Target() points the policy at. */
export const S3_ENV = { keyId: 'DBOPS_TEST_S3_KEY_ID', secret: 'DBOPS_TEST_S3_SECRET', endpoint: 'DBOPS_TEST_S3_ENDPOINT' } as const;

/** An S3 target for policies/backups.yaml (or BackupsPolicy objects) that reaches `server` through `s3Env(server)`. */
export function s3Target(server: Pick<S3Server, 'bucket'>, extra: Record<string, unknown> = {}) {
  return {
    type: 's3' as const,
    bucket: server.bucket,
    prefix: 'backups/',
    region: 'us-east-1',
    endpoint_env: S3_ENV.endpoint,
    force_path_style: true,
    access_key_id_env: S3_ENV.keyId,
    secret_access_key_env: S3_ENV.secret,
    session_token_env: 'DBOPS_TEST_S3_SESSION_TOKEN',
    part_size_mib: 5,
    primary: false,
    ...extra,
  };
}

/** The environment variables `s3Target()` names, filled for `server`. */
export function s3Env(server: Pick<S3Server, 'endpoint' | 'accessKeyId' | 'secretAccessKey'>): NodeJS.ProcessEnv {
  return { [S3_ENV.keyId]: server.accessKeyId, [S3_ENV.secret]: server.secretAccessKey, [S3_ENV.endpoint]: server.endpoint };
}

const newSecret = () => `s3-secret-${randomBytes(12).toString('hex')}`;

/** s3rver inside the test process. */
export async function startS3rver({ bucket = 'dbops-test', directory, tls }: S3ServerOptions = {}): Promise<S3Server> {
  const dir = directory ?? (await mkdtemp(join(tmpdir(), 'dbops-s3rver-')));
  const make = (port: number) =>
    new S3rver({ port, address: '127.0.0.1', silent: true, directory: dir, configureBuckets: [{ name: bucket, configs: [] }], ...(tls ?? {}) });
  let server = make(0);
  const { port } = await server.run();
  let running = true;
  return {
    endpoint: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    bucket,
    accessKeyId: 'S3RVER',
    secretAccessKey: newSecret(),
    directory: dir,
    async stop() {
      if (running) await server.close();
      running = false;
      if (!directory) await rm(dir, { recursive: true, force: true });
    },
    async restart() {
      if (running) await server.close();
      server = make(port);
      await server.run();
      running = true;
    },
  };
}

export interface S3ServerProcess extends S3Server {
  child(): ChildProcess;
  /** SIGKILL, as when the server or its host dies; resolves once the process is gone. */
  kill(): Promise<void>;
}

// CommonJS on purpose: s3rver is a CommonJS package, and `node -e` resolves require() from the working directory.
const CHILD_SCRIPT = `
const S3rver = require('s3rver');
const [port, directory, bucket] = process.argv.slice(1);
new S3rver({ port: Number(port), address: '127.0.0.1', silent: true, directory, configureBuckets: [{ name: bucket, configs: [] }] })
  .run()
  .then((a) => process.stdout.write('READY ' + a.port + '\\n'), (e) => { console.error(e); process.exit(1); });
`;

function spawnServer(port: number, directory: string, bucket: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['-e', CHILD_SCRIPT, String(port), directory, bucket], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /READY (\d+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.on('exit', (code) => reject(new Error(`s3rver exited with ${code} before it was ready: ${err}`)));
  });
}

/** s3rver in a child process that a test can kill with SIGKILL. */
export async function startS3rverProcess({ bucket = 'dbops-test', directory }: S3ServerOptions = {}): Promise<S3ServerProcess> {
  const dir = directory ?? (await mkdtemp(join(tmpdir(), 'dbops-s3rver-')));
  let { child, port } = await spawnServer(0, dir, bucket);
  const kill = async (signal: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await gone;
  };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    accessKeyId: 'S3RVER',
    secretAccessKey: newSecret(),
    directory: dir,
    child: () => child,
    kill: () => kill('SIGKILL'),
    async stop() {
      await kill('SIGTERM');
      if (!directory) await rm(dir, { recursive: true, force: true });
    },
    async restart() {
      await kill('SIGKILL');
      ({ child, port } = await spawnServer(port, dir, bucket));
    },
  };
}

/** A self-signed certificate for localhost and 127.0.0.1 (openssl; pgBackRest 2.45 matches only host names, not IP addresses), for an HTTPS s3rver; `ca` is the certificate file itself. */
export async function selfSignedCertificate(): Promise<{ key: string; cert: string; certFile: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'dbops-tls-'));
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  await new Promise<void>((resolve, reject) => {
    const child = spawn(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        keyFile,
        '-out',
        certFile,
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
      ],
      {
        stdio: 'ignore',
      },
    );
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`openssl exited with ${code}`))));
  });
  await chmod(dir, 0o755);
  await chmod(certFile, 0o644);
  return { key: await readFile(keyFile, 'utf8'), cert: await readFile(certFile, 'utf8'), certFile };
}
