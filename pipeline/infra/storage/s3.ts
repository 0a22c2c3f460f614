import {
  AbortMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { state as sdkWarningState } from '@aws-sdk/core/client';
import { Upload } from '@aws-sdk/lib-storage';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ConfigError, EnvError, isDbopsError } from '../../core/errors.ts';
import { silentLogger, type Logger } from '../../core/logger.ts';
import { redact, registerSecret } from '../../core/redact.ts';
import type { S3Target } from '../../policy/backups.ts';
import { interrupted } from './directory.ts';
import { checkKey, checkPrefix } from './keys.ts';
import { NotFoundError, type PutOptions, type Storage, type StoredObject } from './types.ts';

export interface S3StorageOptions {
  name: string;
  target: S3Target;
  env: NodeJS.ProcessEnv;
  log?: Logger;
}

/** DeleteObjects takes at most 1000 keys per request. */
const DELETE_BATCH = 1000;

interface ErrorLike {
  name?: string;
  code?: string;
  message?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
  cause?: unknown;
  errors?: unknown[];
}

/** The network-level code of an SDK error, which may sit on a cause or inside an AggregateError. */
function networkCode(e: unknown, depth = 0): string | undefined {
  if (!e || typeof e !== 'object' || depth > 4) return undefined;
  const err = e as ErrorLike;
  if (err.code && /^E[A-Z]+$/.test(err.code)) return err.code;
  for (const inner of [err.cause, ...(err.errors ?? [])]) {
    const code = networkCode(inner, depth + 1);
    if (code) return code;
  }
  return undefined;
}

const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);

/**
 * A storage target over S3 or an S3-compatible server. `put` is a multipart upload through lib-storage's
 * `Upload`: the object appears only when CompleteMultipartUpload succeeds, and a failed or interrupted
 * upload is aborted (leavePartsOnError: false), so put is atomic. Parts left by a killed process are
 * removed by `sweepPartial` (ListMultipartUploads + AbortMultipartUpload).
 *
 * The client is built on first use, so a command that never touches this target (create on the primary
 * folder) does not need its credentials. Secrets are registered for redaction the moment they are read.
 */
export class S3Storage implements Storage {
  readonly kind = 's3' as const;
  readonly name: string;
  readonly location: string;
  readonly bucket: string;
  /** '' or ending in '/'. */
  readonly prefix: string;
  readonly endpoint: string | undefined;
  readonly #target: S3Target;
  readonly #env: NodeJS.ProcessEnv;
  readonly #log: Logger;
  #client: S3Client | undefined;

  constructor({ name, target, env, log = silentLogger() }: S3StorageOptions) {
    this.name = name;
    this.#target = target;
    this.#env = env;
    this.#log = log;
    this.bucket = target.bucket;
    this.prefix = target.prefix === '' || target.prefix.endsWith('/') ? target.prefix : `${target.prefix}/`;
    if (this.prefix.startsWith('/')) throw new ConfigError(`targets.${name}.prefix must not start with "/" (got "${target.prefix}").`);
    const fromEnv = target.endpoint_env ? env[target.endpoint_env]?.trim() : undefined;
    this.endpoint = fromEnv || target.endpoint;
    this.location = `s3://${this.bucket}/${this.prefix}`;
    registerSecret(env[target.secret_access_key_env]);
    registerSecret(env[target.session_token_env]);
  }

  get client(): S3Client {
    if (this.#client) return this.#client;
    const t = this.#target;
    const accessKeyId = this.#env[t.access_key_id_env];
    const secretAccessKey = this.#env[t.secret_access_key_env];
    const sessionToken = this.#env[t.session_token_env];
    if (this.endpoint !== undefined && !URL.canParse(this.endpoint)) {
      throw new EnvError(`Target "${this.name}": the endpoint ${t.endpoint_env ? `in $${t.endpoint_env} ` : ''}is not a URL.`, {
        hint: 'Use a URL such as https://s3.example.com or http://127.0.0.1:9000.',
      });
    }
    if (accessKeyId && !secretAccessKey) {
      throw new EnvError(`Target "${this.name}": $${t.access_key_id_env} is set but $${t.secret_access_key_env} is not.`, {
        hint: `Set both, or neither (then the AWS SDK's default chain applies: OIDC web identity in GitHub Actions, instance roles, ~/.aws).`,
      });
    }
    const config: S3ClientConfig = {
      region: t.region,
      forcePathStyle: t.force_path_style,
      // S3-compatible servers do not all implement the SDK's default CRC checksums; integrity is checked
      // end to end with the SHA-256 in the manifest instead.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // A dead endpoint fails within seconds instead of hanging the backup job; the idle limit is generous
      // because a download is read at the pace of its consumer (decryption, pg_restore).
      requestHandler: { connectionTimeout: 10_000, socketTimeout: 300_000 },
      ...(this.endpoint ? { endpoint: this.endpoint } : {}),
      ...(accessKeyId && secretAccessKey ? { credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) } } : {}),
    };
    // On Node 20 the SDK prints a multi-line "NodeVersionSupportWarning" to stderr on every run (it wants
    // Node 22 from 2027); dbops' stderr is its log stream, and the supported runtime is stated in the README.
    sdkWarningState.warningEmitted = true;
    this.#client = new S3Client(config);
    return this.#client;
  }

  #key(key: string): string {
    return this.prefix + checkKey(this.name, key);
  }

  /** SDK errors → EnvError naming bucket and key, with the fix. Never the request (it carries the signature). */
  #error(action: string, key: string | undefined, e: unknown): Error {
    if (isDbopsError(e)) return e;
    const err = (e ?? {}) as ErrorLike;
    const name = err.name ?? err.Code ?? 'Error';
    const status = err.$metadata?.httpStatusCode;
    const what = key === undefined ? this.location : `${this.location}${key}`;
    const head = `Could not ${action} ${what} (target "${this.name}"${this.endpoint ? `, endpoint ${this.endpoint}` : ''})`;
    const t = this.#target;
    const policyKey = `targets.${this.name}`;
    const net = networkCode(e);
    if (name === 'NoSuchBucket') {
      return new EnvError(`${head}: the bucket ${this.bucket} does not exist.`, {
        hint: `Create the bucket, or fix ${policyKey}.bucket (and endpoint) in policies/backups.yaml.`,
        cause: e,
      });
    }
    if (
      ['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'TokenRefreshRequired', 'AllAccessDisabled'].includes(
        name,
      ) ||
      status === 403
    ) {
      return new EnvError(`${head}: access denied (${name}).`, {
        hint: `Check the credentials in $${t.access_key_id_env} / $${t.secret_access_key_env}${this.#env[t.session_token_env] ? ` / $${t.session_token_env}` : ''} (or the role assumed through OIDC) and that they allow s3:ListBucket, s3:GetObject, s3:PutObject, s3:DeleteObject, s3:AbortMultipartUpload and s3:ListBucketMultipartUploads on ${this.bucket}.`,
        cause: e,
      });
    }
    if (name === 'CredentialsProviderError' || /credential/i.test(name)) {
      return new EnvError(`${head}: no AWS credentials found.`, {
        hint: `Set $${t.access_key_id_env} and $${t.secret_access_key_env}, or in GitHub Actions give the job id-token: write and assume a role with aws-actions/configure-aws-credentials.`,
        cause: e,
      });
    }
    if ((net && NETWORK.has(net)) || name === 'TimeoutError' || /socket hang up|timed? ?out/i.test(err.message ?? '')) {
      return new EnvError(`${head}: the endpoint is unreachable (${net ?? name}).`, {
        hint: `Check that ${this.endpoint ?? 'S3'} is up and reachable from this machine${t.endpoint_env ? ` ($${t.endpoint_env})` : ''}, then run the command again.`,
        cause: e,
      });
    }
    if (name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformed' || status === 301) {
      return new EnvError(`${head}: the bucket is in another region (${name}).`, { hint: `Set ${policyKey}.region to the bucket's region.`, cause: e });
    }
    return new EnvError(`${head}: ${name}${status ? ` (HTTP ${status})` : ''}: ${redact(err.message ?? String(e))}`, {
      hint: `Check the endpoint, bucket and credentials of ${policyKey} in policies/backups.yaml.`,
      cause: e,
    });
  }

  async put(key: string, body: Readable | Buffer | string, options: PutOptions = {}): Promise<{ bytes: number }> {
    const objectKey = this.#key(key);
    const { signal, onProgress } = options;
    if (signal?.aborted) throw interrupted(this.name, key, signal.reason);
    const client = this.client;
    let bytes = 0;
    let sourceError: unknown;
    const counter = new Transform({
      highWaterMark: 1 << 20,
      transform(chunk: Buffer, _enc, done) {
        bytes += chunk.length;
        onProgress?.(bytes);
        done(null, chunk);
      },
    });
    const source = typeof body === 'string' || Buffer.isBuffer(body) ? Readable.from([Buffer.from(body)]) : body;
    const feeding = pipeline(source, counter).catch((e: unknown) => {
      sourceError ??= e;
    });
    // On abort the stream feeding the upload is destroyed rather than calling upload.abort(): Upload then
    // fails through its own error path, aborts the multipart upload and settles only after every request
    // it started has ended, so the object can never be completed after put has returned.
    const onAbort = () => counter.destroy(Object.assign(new Error('aborted'), { name: 'AbortError' }));
    signal?.addEventListener('abort', onAbort, { once: true });
    const upload = new Upload({
      client,
      params: { Bucket: this.bucket, Key: objectKey, Body: counter },
      partSize: this.#target.part_size_mib * 1024 * 1024,
      queueSize: 4,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
      await feeding;
      if (sourceError !== undefined) throw sourceError;
      return { bytes };
    } catch (e) {
      if (!counter.destroyed) counter.destroy();
      await feeding;
      if (signal?.aborted) throw interrupted(this.name, key, e);
      // The source's own failure (pg_dump died, a hash check upstream) says more than the abort that followed.
      if (sourceError !== undefined && !isPrematureClose(sourceError)) throw sourceError;
      throw this.#error('upload', key, e);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async get(key: string, options: { signal?: AbortSignal } = {}): Promise<Readable> {
    try {
      const res = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.#key(key) }),
        options.signal ? { abortSignal: options.signal } : {},
      );
      if (!(res.Body instanceof Readable)) throw new EnvError(`Target "${this.name}": the S3 client returned no stream for ${key}.`);
      return res.Body;
    } catch (e) {
      if ((e as ErrorLike).name === 'NoSuchKey') throw new NotFoundError(this.name, this.location, key);
      if (options.signal?.aborted) throw new EnvError(`Interrupted: reading ${key} from target "${this.name}".`, { cause: e });
      throw this.#error('read', key, e);
    }
  }

  async head(key: string): Promise<StoredObject | undefined> {
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.#key(key) }));
      return { key, size: res.ContentLength ?? 0, modified: res.LastModified ?? new Date(0) };
    } catch (e) {
      const err = e as ErrorLike;
      if (err.name === 'NotFound' || err.name === 'NoSuchKey' || err.$metadata?.httpStatusCode === 404) return undefined;
      throw this.#error('read', key, e);
    }
  }

  async list(prefix: string): Promise<StoredObject[]> {
    checkPrefix(this.name, prefix);
    const out: StoredObject[] = [];
    let token: string | undefined;
    try {
      do {
        const res = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix + prefix, ...(token ? { ContinuationToken: token } : {}) }),
        );
        for (const o of res.Contents ?? []) {
          const key = o.Key?.slice(this.prefix.length);
          // Keys written by other tools that dbops could not address (empty segments, '..') are not its objects.
          if (!key || !isValidKey(this.name, key)) continue;
          out.push({ key, size: o.Size ?? 0, modified: o.LastModified ?? new Date(0) });
        }
        token = res.IsTruncated ? res.NextContinuationToken : undefined;
      } while (token);
    } catch (e) {
      throw this.#error('list', prefix, e);
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(keys: string[]): Promise<void> {
    const full = keys.map((k) => this.#key(k));
    for (let i = 0; i < full.length; i += DELETE_BATCH) {
      const batch = full.slice(i, i + DELETE_BATCH);
      let res;
      try {
        res = await this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }));
      } catch (e) {
        throw this.#error('delete objects in', undefined, e);
      }
      const failed = (res.Errors ?? []).filter((x) => x.Code !== 'NoSuchKey');
      if (failed.length > 0) {
        const first = failed[0]!;
        throw this.#error(
          'delete',
          first.Key?.slice(this.prefix.length),
          Object.assign(new Error(first.Message ?? 'delete failed'), { name: first.Code ?? 'DeleteFailed' }),
        );
      }
    }
  }

  async sweepPartial(olderThanMs: number): Promise<string[]> {
    const cutoff = Date.now() - olderThanMs;
    const removed: string[] = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    try {
      do {
        const res = await this.client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.bucket,
            Prefix: this.prefix,
            ...(keyMarker ? { KeyMarker: keyMarker } : {}),
            ...(uploadIdMarker ? { UploadIdMarker: uploadIdMarker } : {}),
          }),
        );
        for (const u of res.Uploads ?? []) {
          if (!u.Key || !u.UploadId || (u.Initiated && u.Initiated.getTime() > cutoff)) continue;
          await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.Key, UploadId: u.UploadId }));
          removed.push(u.Key.slice(this.prefix.length));
        }
        const more = res.IsTruncated === true;
        keyMarker = more ? res.NextKeyMarker : undefined;
        uploadIdMarker = more ? res.NextUploadIdMarker : undefined;
      } while (keyMarker);
    } catch (e) {
      // Some S3-compatible servers (s3rver among them) do not implement ListMultipartUploads; their parts
      // are not objects either, so nothing partial can be listed there.
      if ((e as ErrorLike).name === 'NotImplemented' || (e as ErrorLike).$metadata?.httpStatusCode === 501) {
        this.#log.debug({ target: this.name }, 'the server does not implement ListMultipartUploads: no partial uploads swept');
        return removed;
      }
      throw this.#error('sweep partial uploads in', undefined, e);
    }
    return removed;
  }
}

function isValidKey(target: string, key: string): boolean {
  try {
    checkKey(target, key);
    return true;
  } catch {
    return false;
  }
}

const isPrematureClose = (e: unknown) => (e as ErrorLike).code === 'ERR_STREAM_PREMATURE_CLOSE' || (e as ErrorLike).name === 'AbortError';
