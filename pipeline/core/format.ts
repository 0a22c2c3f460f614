/** Formatting for humans (terminal, Markdown, messages); never parsed back. One of each, used everywhere. */

/** `1234` → `1.23 s`, `87` → `87 ms`, `125000` → `2 min 5 s`. */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  const min = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return s === 0 ? `${min} min` : `${min} min ${s} s`;
}

/** formatMs, with decimals below 10 ms (probe and workload timings live there). */
export const formatShortMs = (ms: number): string => (ms >= 10 || Number.isInteger(ms) ? formatMs(ms) : `${ms < 1 ? ms.toFixed(2) : ms.toFixed(1)} ms`);

/** An age for humans: `42 s`, `17 min`, `3 h 5 min`, `4 d 2 h`. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const min = Math.floor(s / 60);
  if (min < 120) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return min % 60 === 0 ? `${h} h` : `${h} h ${min % 60} min`;
  return h % 24 === 0 ? `${Math.floor(h / 24)} d` : `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** Sizes in binary units (1 KiB = 1024 B), as PostgreSQL's pg_size_pretty counts them; `–` for unknown. */
export function formatBytes(n: number | null): string {
  if (n === null) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = Math.abs(n);
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${n < 0 ? '-' : ''}${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

/** `1,234,567`; `–` for unknown. */
export const formatCount = (n: number | null): string => (n === null ? '–' : Math.round(n).toLocaleString('en-US'));

/** The word alone, singular for exactly one: `migration`, `migrations` (pass the plural when it is not the word + s). */
export const noun = (n: number, word: string, many = `${word}s`): string => (n === 1 ? word : many);

/** `1 migration`, `3 migrations`, `2 queries`: the count and its noun. */
export const plural = (n: number, word: string, many = `${word}s`): string => `${formatCount(n)} ${noun(n, word, many)}`;

/** The start of a long text, with an ellipsis when it was cut. */
export const clip = (s: string, max: number): string => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

/** A text (an SQL statement) on one line, whitespace runs collapsed, clipped to `max`. */
export const oneLine = (s: string, max: number): string => clip(s.replace(/\s+/g, ' ').trim(), max);

/** A statement's time in milliseconds, as pg_stat_statements users read it: 0.42, 12.50, 602. */
export const statementMs = (n: number): string => (n >= 100 ? n.toFixed(0) : n.toFixed(2));

/** Names for messages: `a, b and 3 more`. */
export function names(list: readonly string[], max = 5): string {
  if (list.length <= max) return list.join(', ');
  return `${list.slice(0, max).join(', ')} and ${list.length - max} more`;
}

/** Aligned columns for the terminal, two spaces indented, the `right` ones right-aligned, the last one not padded. */
export function alignedTable(head: string[], rows: string[][], right: ReadonlySet<number> = new Set()): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    `  ${cells.map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')}`.trimEnd();
  return [line(head), ...rows.map(line)];
}
