import { createHash } from 'node:crypto';

/** Prisma's checksum: SHA-256 of the script's UTF-8 bytes, lowercase hex, 64 characters. */
export const checksum = (script: string): string => createHash('sha256').update(script, 'utf8').digest('hex');

// An old engine bug stored digests with each byte as {:x} (no zero padding); such rows are shorter than 64.
const legacyChecksum = (script: string): string => [...createHash('sha256').update(script, 'utf8').digest()].map((b) => b.toString(16)).join('');

/**
 * Whether a local script still matches the checksum stored when it was applied. A change of line endings
 * only (LF ↔ CRLF) is not an edit, exactly as in Prisma's `script_matches_checksum`.
 */
export function scriptMatches(script: string, stored: string): boolean {
  const digest = stored.length > 0 && stored.length !== 64 ? legacyChecksum : checksum;
  return [script, script.replaceAll('\r\n', '\n'), script.replaceAll('\n', '\r\n')].some((variant) => digest(variant) === stored);
}
