import { UsageError } from '../../core/errors.ts';

/**
 * Object keys are '/'-separated paths relative to a target's root. They reach storage partly from user
 * input (a backup id on the command line), so anything that could leave the root — `..`, an absolute path,
 * a backslash on a folder target — is refused before a path is built. Segments starting with '.' are
 * reserved for partial files, which must never look like objects.
 */
export function checkKey(target: string, key: string): string {
  const bad = (why: string) =>
    new UsageError(`Invalid object key ${JSON.stringify(key)} for target "${target}": ${why}.`, {
      hint: 'Keys are relative paths such as 20261124T020003Z-daily-3f9a/manifest.json; pass a backup id as `dbops backup list` prints it.',
    });
  if (key.length === 0) throw bad('empty');
  if (key.length > 900) throw bad('longer than 900 characters');
  if (key.startsWith('/')) throw bad('absolute');
  if (/[\\\0\r\n]/.test(key)) throw bad('contains a backslash or a control character');
  for (const segment of key.split('/')) {
    if (segment === '') throw bad('empty path segment');
    if (segment === '.' || segment === '..') throw bad('"." and ".." are not allowed');
    if (segment.startsWith('.')) throw bad('segments starting with "." are reserved for partial uploads');
  }
  return key;
}

/** A list prefix: '' (everything) or a key prefix with the same rules as keys (a trailing '/' allowed). */
export function checkPrefix(target: string, prefix: string): string {
  if (prefix === '') return prefix;
  checkKey(target, prefix.endsWith('/') ? prefix.slice(0, -1) : prefix);
  return prefix;
}
