import { describe, expect, it } from 'vitest';
import { manifestCheck } from '../../pipeline/protection/backup/restore.ts';
import type { TableManifest } from '../../pipeline/protection/backup/manifest.ts';

const table = (name: string, rows: string, hash: string): TableManifest => ({ schema: 'public', name, rows, hash });

describe('manifest check message', () => {
  it('names every difference when there are few', () => {
    const { check } = manifestCheck([table('a', '1', '10'), table('b', '2', '20')], [table('a', '1', '11'), table('b', '3', '20')], 5);
    expect(check.ok).toBe(false);
    expect(check.message).toBe('public.a content hash 11 ≠ manifest 10 (same row count); public.b has 3 rows, the manifest 2');
  });

  it('stays one bounded line when many tables differ: the first five and how many more', () => {
    const expected = Array.from({ length: 40 }, (_, i) => table(`t${String(i).padStart(2, '0')}`, '5', String(i)));
    const actual = expected.map((t) => ({ ...t, hash: `${t.hash}0` }));
    const { check, differences } = manifestCheck(expected, actual, 5);
    expect(differences).toHaveLength(40);
    expect(check.message).toMatch(/^40 tables differ: public\.t00 content hash 00 ≠ manifest 0 \(same row count\);.*public\.t04 .*; and 35 more$/);
    expect(check.message).not.toContain('public.t05');
  });
});
