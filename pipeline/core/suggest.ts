import { distance } from 'fastest-levenshtein';

/**
 * The candidates close enough to `name` to be what was meant (edit distance within about a third of the
 * name, at least 2), best first: for "did you mean" hints after a typo in a name or a path.
 */
export function closest(name: string, candidates: Iterable<string>, max = 3): string[] {
  const limit = Math.max(2, Math.floor(name.length / 3));
  return [...new Set(candidates)]
    .map((c) => ({ c, d: c.toLowerCase() === name.toLowerCase() ? 0 : distance(name, c) }))
    .filter(({ d }) => d <= limit)
    .sort((a, b) => a.d - b.d || a.c.localeCompare(b.c))
    .slice(0, max)
    .map(({ c }) => c);
}

/** ` Did you mean "a" or "b"?`, or '' when nothing is close. */
export function didYouMean(name: string, candidates: Iterable<string>): string {
  const near = closest(name, candidates);
  if (near.length === 0) return '';
  const quoted = near.map((n) => `"${n}"`);
  return ` Did you mean ${quoted.length === 1 ? quoted[0] : `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1)}`}?`;
}
