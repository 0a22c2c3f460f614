import type { Readable } from 'node:stream';
import { RefusedError } from '../../core/errors.ts';

export interface StoredObject {
  /** Key relative to the target's root/prefix, '/'-separated. */
  key: string;
  size: number;
  modified: Date;
}

export interface PutOptions {
  /** Plaintext is never given here: callers stream ciphertext or JSON. Known size lets S3 skip multipart for small objects. */
  size?: number;
  signal?: AbortSignal;
  /** Called with the cumulative bytes stored so far. */
  onProgress?: (bytes: number) => void;
}

/**
 * One backup storage target. `put` is atomic: the object exists complete under its key, or not at all
 * (a folder writes a hidden partial file and renames it; S3 completes a multipart upload or aborts it).
 * Errors are EnvError (exit 3) naming the target and key, never a credential.
 */
export interface Storage {
  readonly name: string;
  readonly kind: 'directory' | 's3';
  /** Where it is, for humans: `/srv/backups` or `s3://bucket/prefix/` (never a credential). */
  readonly location: string;
  put(key: string, body: Readable | Buffer | string, options?: PutOptions): Promise<{ bytes: number }>;
  /** Throws NotFoundError when the key does not exist. */
  get(key: string, options?: { signal?: AbortSignal }): Promise<Readable>;
  head(key: string): Promise<StoredObject | undefined>;
  /** Every object whose key starts with `prefix` ('' = all), in key order. Partial uploads are never listed. */
  list(prefix: string): Promise<StoredObject[]>;
  /** Missing keys are ignored. */
  delete(keys: string[]): Promise<void>;
  /** Removes partial uploads older than `olderThanMs` (killed writers); returns what was removed. */
  sweepPartial(olderThanMs: number): Promise<string[]>;
}

/**
 * `get` of a key that does not exist. A refusal (exit 1) rather than an environment error: the target was
 * reachable and answered, the object is simply not there (deleted by hand, or a backup without its object).
 */
export class NotFoundError extends RefusedError {
  readonly key: string;
  constructor(target: string, location: string, key: string) {
    super(`Target "${target}" (${location}) has no object ${key}.`, { hint: `List what the target holds with \`dbops backup list --target ${target}\`.` });
    this.key = key;
  }
}
