import { createHash } from 'node:crypto';

/**
 * Counter-based randomness: every value is a hash of (seed, stream, keys), never the state of a
 * generator, so a value does not depend on how many were drawn before it or in which order. The SQL
 * side (volume.ts) follows the same rule with PostgreSQL's own hash functions.
 */
export interface Random {
  readonly seed: number;
  /** Uniform in [0, 1). */
  unit(stream: string, ...keys: Array<string | number>): number;
  /** Integer in [0, n). */
  int(stream: string, n: number, ...keys: Array<string | number>): number;
  pick<T>(stream: string, items: readonly T[], ...keys: Array<string | number>): T;
  /** A version-4-shaped UUID (reference rows; the bulk SQL derives its own with `pg_temp.uid`). */
  uuid(stream: string, n: number): string;
  hex(stream: string, length: number, ...keys: Array<string | number>): string;
}

/** 32 hex digits as a UUID, with the version and variant bits of a v4 UUID set. */
export function uuidFromHex(h: string): string {
  const v = `${h.slice(0, 12)}4${h.slice(13, 16)}${'89ab'[parseInt(h[16]!, 16) % 4]}${h.slice(17, 32)}`;
  return `${v.slice(0, 8)}-${v.slice(8, 12)}-${v.slice(12, 16)}-${v.slice(16, 20)}-${v.slice(20)}`;
}

export function createRandom(seed: number): Random {
  const digest = (stream: string, keys: Array<string | number>) =>
    createHash('sha256')
      .update(`${seed}:${stream}:${keys.join(':')}`)
      .digest('hex');
  const unit = (stream: string, ...keys: Array<string | number>) => parseInt(digest(stream, keys).slice(0, 13), 16) / 2 ** 52;
  const int = (stream: string, n: number, ...keys: Array<string | number>) => Math.floor(unit(stream, ...keys) * n);
  return {
    seed,
    unit,
    int,
    pick: (stream, items, ...keys) => items[int(stream, items.length, ...keys)]!,
    uuid: (stream, n) => uuidFromHex(createHash('md5').update(`${seed}:${stream}:${n}`).digest('hex')),
    hex: (stream, length, ...keys) => digest(stream, keys).slice(0, length),
  };
}
