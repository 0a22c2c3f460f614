import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { ConfigError, EnvError } from '../../core/errors.ts';
import type { Shell } from '../../core/shell.ts';
import { DBOPS_VERSION } from '../../core/version.ts';

/**
 * What a pull request changes, from git: the base ref's migrations and the work tree's differences to it.
 * Shared by lint (history integrity, scope) and rehearse (base state, pending set). Paths are relative to
 * the current directory, as the --*-dir flags are.
 */

/** The form git prints paths in (relative to the current directory, forward slashes). */
export const gitPath = (dir: string): string => (relative(process.cwd(), resolve(dir)) || '.').split(sep).join('/');

export interface BaseRef {
  /** As given, e.g. origin/main. */
  ref: string;
  /** The merge base of ref and HEAD: what the PR started from, so later commits on main do not count as the PR's. */
  sha: string;
}

export interface ChangedPath {
  status: 'added' | 'modified' | 'deleted' | 'renamed';
  path: string;
  /** For renames: the path on the base ref. */
  oldPath?: string;
}

async function git(sh: Shell, args: string[]): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  const out = await sh({ nothrow: true })`git ${args}`;
  return { ok: out.exitCode === 0, stdout: out.stdout, stderr: out.stderr.trim() };
}

/** Resolves the base ref to the merge base with HEAD; names the fix when the ref is not there (shallow CI checkouts). */
export async function resolveBase(sh: Shell, ref: string): Promise<BaseRef> {
  const inside = await git(sh, ['rev-parse', '--is-inside-work-tree']).catch(() => undefined);
  if (!inside) throw new EnvError('git is not installed or not on PATH; dbops needs it to compare with the base ref.', { hint: 'Install git, or pass --all.' });
  if (!inside.ok)
    throw new ConfigError('This is not a git work tree, so there is no base ref to compare with.', {
      hint: 'Run inside the repository, or pass --all to check every migration.',
    });
  const commit = await git(sh, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]);
  if (!commit.ok) {
    throw new ConfigError(`The base ref "${ref}" does not exist in this clone.`, {
      hint: `Fetch it (git fetch origin ${ref.replace(/^origin\//, '')}; in GitHub Actions use actions/checkout with fetch-depth: 0), pass another one with --base, or pass --all.`,
    });
  }
  const base = await git(sh, ['merge-base', commit.stdout.trim(), 'HEAD']);
  if (!base.ok) throw new ConfigError(`"${ref}" and HEAD have no common ancestor.`, { hint: 'Fetch the full history (fetch-depth: 0) or pass --all.' });
  return { ref, sha: base.stdout.trim() };
}

/** Git's blob id of a file's content, to compare work-tree files with the base ref without reading blobs. */
export const blobId = (content: Buffer): string => createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');

/** Files under `dir` on the commit: path (relative to the current directory, like dir) → blob id. */
export async function filesAt(sh: Shell, sha: string, dir: string): Promise<Map<string, string>> {
  const out = await git(sh, ['ls-tree', '-r', sha, '--', `${dir.replace(/\/+$/, '')}/`]);
  if (!out.ok) throw new EnvError(`git ls-tree failed: ${out.stderr}`);
  const files = new Map<string, string>();
  for (const line of out.stdout.split('\n')) {
    const m = /^\d+ blob ([0-9a-f]+)\t(.+)$/.exec(line);
    if (m) files.set(m[2]!, m[1]!);
  }
  return files;
}

/** Migration folder names present on the commit (directories holding a migration.sql), sorted as Prisma sorts. */
export async function migrationsAt(sh: Shell, sha: string, migrationsDir: string): Promise<string[]> {
  const names = new Set<string>();
  const prefix = `${migrationsDir.replace(/\/+$/, '')}/`;
  for (const path of (await filesAt(sh, sha, migrationsDir)).keys()) {
    const rest = path.slice(prefix.length).split('/');
    if (rest.length === 2 && rest[1] === 'migration.sql') names.add(rest[0]!);
  }
  return [...names].sort((a, b) => a.localeCompare(b));
}

/** A file's content on the commit, or undefined when it does not exist there. */
export async function showFile(sh: Shell, sha: string, path: string): Promise<string | undefined> {
  const out = await git(sh, ['show', `${sha}:./${path}`]);
  return out.ok ? out.stdout : undefined;
}

/**
 * Work tree (committed, staged, unstaged and untracked files) against the commit, under the given
 * directories. Untracked files count: a developer linting before `git add` should see the new migration.
 */
export async function changedSince(sh: Shell, sha: string, dirs: string[]): Promise<ChangedPath[]> {
  const diff = await git(sh, ['diff', '--name-status', '-M', '--relative', '--no-color', sha, '--', ...dirs]);
  if (!diff.ok) throw new EnvError(`git diff failed: ${diff.stderr}`);
  const changes: ChangedPath[] = [];
  for (const line of diff.stdout.split('\n').filter(Boolean)) {
    const [code = '', a = '', b] = line.split('\t');
    if (code.startsWith('R') && b) changes.push({ status: 'renamed', path: b, oldPath: a });
    else if (code === 'A') changes.push({ status: 'added', path: a });
    else if (code === 'D') changes.push({ status: 'deleted', path: a });
    else changes.push({ status: 'modified', path: a });
  }
  const untracked = await git(sh, ['ls-files', '--others', '--exclude-standard', '--', ...dirs]);
  for (const path of untracked.stdout.split('\n').filter(Boolean)) changes.push({ status: 'added', path });
  return changes;
}

/** HEAD's commit id, or null outside a git work tree. */
export async function headCommit(sh: Shell): Promise<string | null> {
  const out = await git(sh, ['rev-parse', 'HEAD']).catch(() => undefined);
  return out?.ok ? out.stdout.trim() : null;
}

/** Blob id of a work-tree file (for comparing with filesAt). */
export const workTreeBlob = async (path: string, root = '.'): Promise<string> => blobId(await readFile(join(root, path)));

/** dbops version and git commit, as manifests, verification records and evidence record them. */
export async function dbopsBuild(sh: Shell): Promise<{ version: string; commit: string | null }> {
  return { version: DBOPS_VERSION, commit: await headCommit(sh) };
}
