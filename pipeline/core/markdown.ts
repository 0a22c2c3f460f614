import { type Verdict } from './result.ts';
import { noun } from './format.ts';
/**
 * GitHub-flavoured Markdown building blocks. Everything that comes from a tool or a file (messages, SQL,
 * names, diffs) goes through `text()` or `fence()`: a PR comment is rendered HTML, and an unescaped `|`
 * splits a table row, `<!--` hides the rest of the comment, `<img src=x onerror=…>` is at best stripped,
 * and `@team` pings people. Hand-written because no maintained library escapes for GFM tables and HTML
 * together (markdown-escape libraries leave `|`, `<` and mentions alone).
 */

const MARKDOWN_SPECIAL = /[\\`*_[\]{}()#+!|~$^]/g;

/** Inline text for a paragraph or a table cell: no Markdown, no HTML, no mentions, no line breaks. */
export function text(value: string | number): string {
  return (
    String(value)
      .replace(MARKDOWN_SPECIAL, (c) => `\\${c}`)
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      // A zero-width space after @ keeps `@org/team` in a tool message from notifying anyone.
      .replace(/@(?=[\w-])/g, '@\u200b')
      .replace(/\r\n|\r|\n/g, '<br>')
  );
}

/** Inline code. `<code>` instead of backticks: a backtick in the value cannot end it, and `|` is escaped for tables. */
export const code = (value: string | number): string => `<code>${text(value)}</code>`;

/** A fenced block longer than any backtick run inside, so the content cannot close it. */
export function fence(content: string, lang = ''): string {
  const longest = Math.max(0, ...[...content.matchAll(/`+/g)].map((m) => m[0].length));
  const ticks = '`'.repeat(Math.max(3, longest + 1));
  return `${ticks}${lang}\n${content.replace(/\n+$/, '')}\n${ticks}`;
}

/** Caps a long multi-line value (a schema diff, a plan) and says how much was left out. */
export function capLines(content: string, maxLines: number, maxChars = 20_000): string {
  const lines = content.split('\n');
  let kept = lines.slice(0, maxLines);
  while (kept.length > 1 && kept.join('\n').length > maxChars) kept = kept.slice(0, Math.floor(kept.length / 2));
  const left = lines.length - kept.length;
  return left > 0 ? `${kept.join('\n')}\n… ${left} more ${noun(left, 'line')} (full text in the report JSON)` : content;
}

/** A GFM table; cells must already be escaped (text(), code()). */
export function table(head: string[], rows: string[][], align?: Array<'l' | 'r' | 'c'>): string {
  const sep = head.map((_, i) => ({ l: '---', r: '---:', c: ':---:' })[align?.[i] ?? 'l']);
  return [head, sep, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

/** A collapsed section; the body is Markdown (blank lines around it so GitHub renders it inside the HTML block). */
export const details = (summary: string, body: string): string => `<details><summary>${summary}</summary>\n\n${body}\n\n</details>`;

/** Pieces joined with blank lines; whole pieces are dropped when a length limit applies, never cut in half. */
export interface Block {
  markdown: string;
  /** Kept even over the limit (headline, verdict table). */
  essential?: boolean;
}

/**
 * Joins blocks within `limit` (measured by `measure`). Blocks are dropped from the end, whole, so no
 * fence, table or <details> is ever left open; `note(n)` says how many were dropped.
 */
export function assemble(blocks: Block[], limit: number, measure: (s: string) => number, note: (dropped: number) => string): string {
  const all = blocks.map((b) => b.markdown).join('\n\n');
  if (measure(all) <= limit) return all;
  const kept: string[] = [];
  let dropped = 0;
  const reserve = measure(note(blocks.length)) + 4;
  let used = 0;
  for (const b of blocks) {
    const size = measure(b.markdown) + 2;
    if (b.essential || (dropped === 0 && used + size + reserve <= limit)) {
      kept.push(b.markdown);
      used += size;
    } else dropped++;
  }
  return [...kept, note(dropped)].join('\n\n');
}

/** The icon of a step's verdict in Markdown. */
export const VERDICT_ICON: Record<Verdict, string> = { pass: '✅', warn: '⚠️', fail: '❌', skip: '⏭️' };
