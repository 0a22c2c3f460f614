/** Sizes in policy files are written the way PostgreSQL settings are: `8kB`, `10MB`, `1GB` (units of 1024, as pg_size_bytes reads them). */
export const SIZE_PATTERN = /^(\d+(?:\.\d+)?)\s*(B|kB|MB|GB|TB)?$/;

const UNIT_BYTES = { B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 } as const;

/** `10MB` → 10485760; a bare number is bytes; undefined when it is not a size. */
export function parseSize(text: string): number | undefined {
  const m = SIZE_PATTERN.exec(text.trim());
  if (!m) return undefined;
  const unit = (m[2] ?? 'B') as keyof typeof UNIT_BYTES;
  return Math.round(Number(m[1]) * UNIT_BYTES[unit]);
}
