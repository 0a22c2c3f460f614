import { randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { access, chown, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { EnvError, UsageError } from './errors.ts';
import { didYouMean } from './suggest.ts';

export interface AtomicWriteOptions {
  /** File mode of the new file (e.g. 0o600 for one holding secrets); default 0o666 less the umask. */
  mode?: number | undefined;
  /** Owner of the new file, when it is not this process's user (files PostgreSQL or pgBackRest read). */
  owner?: { uid: number; gid: number } | undefined;
}

/**
 * Writes next to the target and renames over it: a reader (the report step, an artifact upload after a
 * cancelled job, archive-push reading pgBackRest's configuration) sees the old file or the new one, never
 * half of one.
 */
export async function writeFileAtomic(path: string, text: string, options: AtomicWriteOptions = {}): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, text, { flag: 'wx', ...(options.mode === undefined ? {} : { mode: options.mode }) });
    if (options.owner) await chown(tmp, options.owner.uid, options.owner.gid);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** writeFileAtomic only when the file does not already hold exactly `text`; returns whether it wrote. */
export async function replaceFileIfChanged(path: string, text: string, options: AtomicWriteOptions = {}): Promise<boolean> {
  if ((await readFile(path, 'utf8').catch(() => undefined)) === text) return false;
  await writeFileAtomic(path, text, options);
  return true;
}

const kindOf = (s: Stats | undefined) => (!s ? 'missing' : s.isDirectory() ? 'folder' : 'file');
const statOf = (path: string) => stat(path).catch(() => undefined);

/** The nearest of `path` and its ancestors that exists (the root at worst), and what it is. */
export async function nearestExisting(path: string): Promise<{ path: string; stats: Stats | undefined }> {
  let p = resolve(path);
  for (;;) {
    const s = await statOf(p);
    const up = dirname(p);
    if (s || up === p) return { path: p, stats: s };
    p = up;
  }
}

async function writable(folder: string): Promise<boolean> {
  return access(folder, constants.W_OK | constants.X_OK).then(
    () => true,
    () => false,
  );
}

/**
 * Refuses, before any side effect, a folder the command will write into but cannot: a path through a regular
 * file or a file where the folder should be (exit 2: the argument is wrong), or a folder it may not write
 * (exit 3: the environment). A missing folder is fine when it can be created. `what` names the argument,
 * e.g. `--reports-dir reports`.
 */
export async function assertWritableFolder(path: string, what: string): Promise<void> {
  const s = await statOf(path);
  if (s && !s.isDirectory()) throw new UsageError(`${what} is a file, not a folder.`, { hint: 'Pass a folder (it is created when missing).' });
  await assertCreatable(s ? resolve(path) : path, what);
}

/** As assertWritableFolder, for a file the command will write (its folder must be writable for the atomic rename). */
export async function assertWritableFile(path: string, what: string): Promise<void> {
  const s = await statOf(path);
  if (s?.isDirectory()) throw new UsageError(`${what} is a folder; name a file to write.`, { hint: `e.g. ${join(path, 'report.md')}` });
  await assertCreatable(dirname(resolve(path)), what);
}

/** The folder exists and is writable, or can be created: its nearest existing ancestor is a writable folder. */
async function assertCreatable(folder: string, what: string): Promise<void> {
  const existing = await nearestExisting(folder);
  if (existing.stats && !existing.stats.isDirectory())
    throw new UsageError(`${what} cannot be written: ${existing.path} is a file, not a folder.`, { hint: 'Pass a path whose parents are folders.' });
  if (!(await writable(existing.path)))
    throw new EnvError(`${what} cannot be written: ${existing.path} is not writable for this user.`, { hint: 'Make it writable, or pass another path.' });
}

/**
 * Refuses a folder given explicitly on the command line that does not exist or is not a folder (exit 2),
 * naming the closest existing folders beside it: a typo must not silently fall back to defaults or to "no
 * files". `what` names the flag, e.g. `--policies-dir`.
 */
export async function assertExistingFolder(path: string, what: string): Promise<void> {
  const kind = kindOf(await statOf(path));
  if (kind === 'folder') return;
  throw new UsageError(`${what} ${path} ${kind === 'file' ? 'is a file, not a folder' : 'does not exist'}.${await nearbyNames(path, 'folder')}`, {
    hint: `Pass an existing folder, or leave ${what} out to use its default.`,
  });
}

/** As assertExistingFolder, for a file the command reads (a dump, a key). */
export async function assertExistingFile(path: string, what: string): Promise<void> {
  const kind = kindOf(await statOf(path));
  if (kind === 'file') return;
  throw new UsageError(`${what} ${path} ${kind === 'folder' ? 'is a folder, not a file' : 'does not exist'}.${await nearbyNames(path, 'file')}`, {
    hint: 'Pass the path of an existing file.',
  });
}

/** " Did you mean …?" over the entries of the same kind beside `path`, spelt as `path` is (relative stays relative). */
async function nearbyNames(path: string, kind: 'folder' | 'file'): Promise<string> {
  const siblings = await readdir(dirname(resolve(path)), { withFileTypes: true }).then(
    (entries) => entries.filter((e) => (kind === 'folder' ? e.isDirectory() : e.isFile())).map((e) => e.name),
    () => [] as string[],
  );
  const near = didYouMean(basename(path), siblings);
  return near ? near.replace(/"([^"]+)"/g, (_m, n: string) => `"${join(dirname(path), n)}"`) : '';
}
