import { describe, expect, it } from 'vitest';
import { ArchiveFormatError } from '../../pipeline/protection/backup/archive.ts';
import { CopyDigest, loadH64 } from '../../pipeline/protection/backup/archive-manifest.ts';

// COPY text as pg_dump writes it in a table data block: one line per row, then "\." and two empty lines.
const ROWS = ['1\tone\t\\N', '2\ttwo\\ttab\tx', '3\tback\\\\slash\t\\n', '4\t\\\\.\ty', '', '5\tlast\tz'];
const block = (rows: readonly string[]) => Buffer.from(`${rows.map((r) => `${r}\n`).join('')}\\.\n\n\n`);

async function digest(pieces: Iterable<Buffer>) {
  const d = new CopyDigest(await loadH64());
  for (const p of pieces) d.update(p);
  return d.finish();
}

describe('CopyDigest', () => {
  it('counts rows (not the end marker nor the empty lines after it) and sums their xxHash64', async () => {
    const h64 = await loadH64();
    const result = await digest([block(ROWS)]);
    expect(result.rows).toBe(ROWS.length);
    const sum = ROWS.map((r) => h64(Buffer.from(r))).reduce((a, b) => a + b, 0n);
    expect(result.hash).toBe(BigInt.asUintN(64, sum).toString(16));
    expect(await digest([block([])])).toEqual({ rows: 0, hash: '0' });
    expect(await digest([])).toEqual({ rows: 0, hash: '0' });
  });

  it('does not depend on row order', async () => {
    const forward = await digest([block(ROWS)]);
    expect(await digest([block([...ROWS].reverse())])).toEqual(forward);
    expect(await digest([block([ROWS[3]!, ROWS[0]!, ROWS[5]!, ROWS[1]!, ROWS[4]!, ROWS[2]!])])).toEqual(forward);
  });

  it('changes with one byte of one row, and with a duplicated row', async () => {
    const original = await digest([block(ROWS)]);
    const changed = [...ROWS];
    changed[2] = changed[2]!.replace('slash', 'slasH');
    const one = await digest([block(changed)]);
    expect(one.rows).toBe(original.rows);
    expect(one.hash).not.toBe(original.hash);

    const duplicated = await digest([block([...ROWS, ROWS[1]!])]);
    expect(duplicated.rows).toBe(original.rows + 1);
    expect(duplicated.hash).not.toBe(original.hash);
    // Adding an empty-string row (an empty line before the marker) is a row too.
    const blank = await digest([block([...ROWS, ''])]);
    expect(blank.rows).toBe(original.rows + 1);
    expect(blank.hash).not.toBe(original.hash);
  });

  it('gives the same result whatever the pieces', async () => {
    const bytes = block(ROWS);
    const whole = await digest([bytes]);
    for (let cut = 0; cut <= bytes.length; cut++) {
      expect({ cut, ...(await digest([bytes.subarray(0, cut), bytes.subarray(cut)])) }).toEqual({ cut, ...whole });
    }
    for (let a = 1; a < bytes.length; a++) {
      for (let b = a; b < bytes.length; b += 3) {
        expect({ a, b, ...(await digest([bytes.subarray(0, a), bytes.subarray(a, b), bytes.subarray(b)])) }).toEqual({ a, b, ...whole });
      }
    }
    const singles = [...bytes].map((x) => Buffer.from([x]));
    expect(await digest(singles)).toEqual(whole);
  });

  it('refuses a block that ends inside a row', async () => {
    const d = new CopyDigest(await loadH64());
    d.update(Buffer.from('1\tone\n2\ttw'));
    expect(() => d.finish()).toThrow(ArchiveFormatError);
    expect(() => d.finish()).toThrow(/ends inside a row/);
    // Cut right after the marker's backslash: also inside a line.
    const e = new CopyDigest(await loadH64());
    e.update(Buffer.from('1\tone\n\\'));
    expect(() => e.finish()).toThrow(ArchiveFormatError);
  });

  it('refuses rows after the end marker', async () => {
    const d = new CopyDigest(await loadH64());
    expect(() => d.update(Buffer.from('1\tone\n\\.\n2\ttwo\n'))).toThrow(ArchiveFormatError);
  });
});
