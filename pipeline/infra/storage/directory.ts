import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, rmdir, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { EnvError, isDbopsError } from '../../core/errors.ts';
import { pidAlive } from '../pg/cluster.ts';
import { checkKey, checkPrefix } from './keys.ts';
import { NotFoundError, type PutOptions, type Storage, type StoredObject } from './types.ts';

/** `.<name>.partial-<pid>-<random>`: hidden (never listed), in the destination folder (so rename is atomic). */
const PARTIAL = /^\.(.+)\.partial-(\d+)-[0-9a-f]+$/;

export interface DirectoryStorageOptions {
  name: string;
  /** The policy's path; relative paths are resolved against `cwd`. */
  path: string;
  cwd?: string;
}

type Errno = NodeJS.ErrnoException;
const codeOf = (e: unknown) => (e as Errno | undefined)?.code;

/**
 * A storage target over a folder (the backup server's mount). Objects are files under the root; a put
 * streams into a hidden partial file beside its destination, fsyncs it, renames it over the key and fsyncs
 * the folder, so a crash or kill -9 leaves either the complete file or a partial that is never listed and
 * that `sweepPartial` removes later.
 *
 * An absolute root must already exist: when the backup server is not mounted, creating the folder would
 * quietly put backups on the runner's own disk. A relative root (the default `.dbops/backups`) is created.
 */
export class DirectoryStorage implements Storage {
  readonly kind = 'directory' as const;
  readonly name: string;
  readonly location: string;
  readonly root: string;
  readonly #createRoot: boolean;

  constructor({ name, path, cwd = process.cwd() }: DirectoryStorageOptions) {
    this.name = name;
    this.root = resolve(cwd, path);
    this.location = this.root;
    this.#createRoot = !isAbsolute(path);
  }

  #path(key: string): string {
    const full = join(this.root, ...checkKey(this.name, key).split('/'));
    // checkKey already refuses '..'; this is the last line of defence should that check ever be loosened.
    if (!full.startsWith(this.root + sep)) throw new EnvError(`Object key ${JSON.stringify(key)} leaves the folder of target "${this.name}".`);
    return full;
  }

  #error(action: string, path: string, e: unknown): EnvError {
    if (isDbopsError(e)) return e as EnvError;
    const code = codeOf(e);
    const where = `target "${this.name}" (${this.root})`;
    const subject = path === this.root ? `the folder of ${where}` : `${path} on ${where}`;
    const detail = (e as Error).message;
    switch (code) {
      case 'ENOSPC':
      case 'EDQUOT':
        return new EnvError(`Could not ${action} ${subject}: no space left on the device.`, {
          hint: `Free space on the file system of ${this.root} (\`dbops backup prune\` deletes what retention no longer keeps) or give the target more space.`,
          cause: e,
        });
      case 'EACCES':
      case 'EPERM':
        return new EnvError(`Could not ${action} ${subject}: permission denied.`, {
          hint: `Give the user running dbops read and write access to ${this.root} (and its subfolders).`,
          cause: e,
        });
      case 'EROFS':
        return new EnvError(`Could not ${action} ${subject}: the file system is read-only.`, { hint: `Remount ${this.root} read-write.`, cause: e });
      case 'ENOENT':
      case 'ENOTDIR':
        return new EnvError(`Could not ${action} ${subject}: it does not exist or is not a folder.`, {
          hint: `Mount the backup server at ${this.root}, or create the folder (mkdir -p ${this.root}); or fix targets.${this.name}.path in policies/backups.yaml.`,
          cause: e,
        });
      default:
        return new EnvError(`Could not ${action} ${subject}: ${detail}`, { hint: `Check that ${this.root} is mounted and healthy.`, cause: e });
    }
  }

  /** The root must be a folder; it is created only when the policy path is relative (see the class comment). */
  async #checkRoot(create: boolean): Promise<boolean> {
    try {
      const s = await stat(this.root);
      if (!s.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
      return true;
    } catch (e) {
      if (codeOf(e) !== 'ENOENT' || !this.#createRoot) throw this.#error('use', this.root, e);
      if (!create) return false;
      await mkdir(this.root, { recursive: true }).catch((m: unknown) => {
        throw this.#error('create', this.root, m);
      });
      return true;
    }
  }

  async put(key: string, body: Readable | Buffer | string, options: PutOptions = {}): Promise<{ bytes: number }> {
    const dest = this.#path(key);
    const { signal, onProgress } = options;
    if (signal?.aborted) throw interrupted(this.name, key, signal.reason);
    await this.#checkRoot(true);
    const folder = dirname(dest);
    await mkdir(folder, { recursive: true }).catch((e: unknown) => {
      throw this.#error('create', folder, e);
    });
    const partial = join(folder, `.${basename(dest)}.partial-${process.pid}-${randomBytes(6).toString('hex')}`);
    let bytes = 0;
    // Errors of the source (pg_dump died, a hash mismatch upstream) are rethrown as they are; only what the
    // file system itself said becomes this target's EnvError.
    let storageError: unknown;
    try {
      const source = typeof body === 'string' || Buffer.isBuffer(body) ? Readable.from([Buffer.from(body)]) : body;
      const count = new Transform({
        transform(chunk: Buffer, _enc, done) {
          bytes += chunk.length;
          onProgress?.(bytes);
          done(null, chunk);
        },
      });
      // 'wx': a partial name is never reused; flush: fsync before close, so the rename below publishes
      // bytes that are on disk.
      const sink = createWriteStream(partial, { flags: 'wx', mode: 0o640, flush: true, highWaterMark: 1 << 20 });
      sink.on('error', (e) => (storageError ??= e));
      // pipeline destroys every stream on the first error (or abort), so a failing source never leaves a
      // writer blocked, and resolves only after the file is closed.
      await pipeline(source, count, sink, ...(signal ? [{ signal }] : []));
      try {
        await rename(partial, dest);
        await syncFolder(folder);
      } catch (e) {
        storageError ??= e;
        throw e;
      }
      return { bytes };
    } catch (e) {
      await rm(partial, { force: true }).catch(() => undefined);
      if (signal?.aborted) throw interrupted(this.name, key, e);
      if (storageError !== undefined) throw this.#error('write', dest, storageError);
      throw e;
    }
  }

  async get(key: string, options: { signal?: AbortSignal } = {}): Promise<Readable> {
    const path = this.#path(key);
    let fh: FileHandle;
    try {
      // Opened before the stream exists, so a missing key is an error here rather than an 'error' event later.
      fh = await open(path, 'r');
      if (!(await fh.stat()).isFile()) {
        await fh.close();
        throw Object.assign(new Error('not a file'), { code: 'ENOENT' });
      }
    } catch (e) {
      if (codeOf(e) === 'ENOENT' || codeOf(e) === 'ENOTDIR' || codeOf(e) === 'EISDIR') {
        await this.#checkRoot(false);
        throw new NotFoundError(this.name, this.location, key);
      }
      throw this.#error('read', path, e);
    }
    return fh.createReadStream({ highWaterMark: 1 << 20, ...(options.signal ? { signal: options.signal } : {}) });
  }

  async head(key: string): Promise<StoredObject | undefined> {
    const path = this.#path(key);
    try {
      const s = await stat(path);
      return s.isFile() ? { key, size: s.size, modified: s.mtime } : undefined;
    } catch (e) {
      if (codeOf(e) === 'ENOENT' || codeOf(e) === 'ENOTDIR') {
        await this.#checkRoot(false);
        return undefined;
      }
      throw this.#error('read', path, e);
    }
  }

  async list(prefix: string): Promise<StoredObject[]> {
    checkPrefix(this.name, prefix);
    if (!(await this.#checkRoot(false))) return [];
    // Start at the deepest folder the prefix names, so listing one backup does not walk the whole target.
    const folderPart = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    const out: StoredObject[] = [];
    await this.#walk(folderPart, (entry) => {
      if (!entry.hidden && entry.key.startsWith(prefix)) out.push({ key: entry.key, size: entry.size, modified: entry.modified });
    });
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(keys: string[]): Promise<void> {
    const folders = new Set<string>();
    for (const key of keys) {
      const path = this.#path(key);
      try {
        await rm(path, { force: true });
      } catch (e) {
        throw this.#error('delete', path, e);
      }
      folders.add(dirname(path));
    }
    // Durable before returning, so a caller that deletes in steps (deleteBackup: the manifest first) gets that
    // order on disk too; then empty folders go, so a deleted backup leaves nothing behind.
    for (const folder of folders) await syncFolder(folder);
    for (const folder of [...folders].sort((a, b) => b.length - a.length)) await this.#pruneEmpty(folder);
  }

  async sweepPartial(olderThanMs: number): Promise<string[]> {
    if (!(await this.#checkRoot(false))) return [];
    const cutoff = Date.now() - olderThanMs;
    const stale: Array<{ key: string; path: string }> = [];
    await this.#walk('', (entry) => {
      const m = entry.hidden ? PARTIAL.exec(entry.name) : null;
      if (!m) return;
      // A writer that is still alive keeps its file (its mtime moves anyway); the age limit covers writers on
      // other hosts of a shared mount, whose pids mean nothing here.
      if (entry.modified.getTime() > cutoff || pidAlive(Number(m[2]))) return;
      stale.push({ key: entry.key, path: join(this.root, ...entry.key.split('/')) });
    });
    for (const { path } of stale) {
      await rm(path, { force: true }).catch((e: unknown) => {
        throw this.#error('delete', path, e);
      });
      await this.#pruneEmpty(dirname(path));
    }
    return stale.map((s) => s.key);
  }

  async #pruneEmpty(folder: string): Promise<void> {
    let dir = folder;
    while (dir.startsWith(this.root + sep)) {
      try {
        await rmdir(dir);
      } catch {
        return; // not empty, or gone: either way the walk up ends here
      }
      dir = dirname(dir);
    }
  }

  async #walk(relative: string, visit: (e: { key: string; name: string; hidden: boolean; size: number; modified: Date }) => void): Promise<void> {
    const dir = relative === '' ? this.root : join(this.root, ...relative.split('/'));
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (e) {
      if (codeOf(e) === 'ENOENT' || codeOf(e) === 'ENOTDIR') return;
      throw this.#error('list', dir, e);
    }
    for (const entry of entries) {
      const key = relative === '' ? entry.name : `${relative}/${entry.name}`;
      const hidden = entry.name.startsWith('.');
      if (entry.isDirectory()) {
        if (!hidden) await this.#walk(key, visit);
      } else if (entry.isFile()) {
        let s;
        try {
          s = await stat(join(dir, entry.name));
        } catch (e) {
          if (codeOf(e) === 'ENOENT') continue; // deleted or renamed while we walked
          throw this.#error('list', join(dir, entry.name), e);
        }
        visit({ key, name: entry.name, hidden, size: s.size, modified: s.mtime });
      }
    }
  }
}

/** fsync of the folder makes the rename (or unlink) itself durable; some file systems refuse it, which is harmless, and a folder that is gone has nothing to sync. */
async function syncFolder(folder: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(folder, 'r');
    await fh.sync();
  } catch (e) {
    if (!['EINVAL', 'EISDIR', 'EPERM', 'EACCES', 'ENOTSUP', 'EBADF', 'ENOENT', 'ENOTDIR'].includes(codeOf(e) ?? '')) throw e;
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

export function interrupted(target: string, key: string, cause: unknown): EnvError {
  return new EnvError(`Interrupted: ${key} was not stored on target "${target}".`, { hint: 'Nothing partial is left visible; run the command again.', cause });
}
