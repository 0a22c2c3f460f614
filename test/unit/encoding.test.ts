import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodingFault } from '../../pipeline/core/encoding.ts';
import { checksum } from '../../pipeline/change/migrations/checksum.ts';
import { decodeSql, textProblems } from '../../pipeline/change/migrations/folder.ts';

const fault = (bytes: Buffer) => encodingFault(bytes, bytes.toString('utf8'));

describe('encodingFault', () => {
  it('is undefined for valid UTF-8, including a file that really contains U+FFFD', () => {
    expect(fault(Buffer.from("SELECT 'é€😀';\n"))).toBeUndefined();
    expect(fault(Buffer.from('-- the replacement character \uFFFD itself\nSELECT 1;\n'))).toBeUndefined();
  });

  it('names the first invalid byte with its offset, line and column after multi-byte characters', () => {
    const bytes = Buffer.concat([Buffer.from("-- ü€😀\nSELECT 'caf"), Buffer.from([0xe9]), Buffer.from("';\n")]);
    // "-- ü€😀\n" is 3 + 2 + 3 + 4 + 1 = 13 bytes; "SELECT 'caf" 11 more.
    expect(fault(bytes)).toEqual({ offset: 24, line: 2, column: 12, byte: '0xE9', kind: 'invalid-utf8' });
  });

  it('finds a genuine U+FFFD before the invalid byte without losing count', () => {
    const bytes = Buffer.concat([Buffer.from('\uFFFD'), Buffer.from([0xff])]);
    expect(fault(bytes)).toMatchObject({ offset: 3, column: 2, byte: '0xFF' });
  });

  it('a sequence cut off at the end of the file, and a NUL byte', () => {
    expect(fault(Buffer.from([0x41, 0xe2, 0x82]))).toMatchObject({ offset: 1, byte: '0xE2', kind: 'invalid-utf8' });
    expect(fault(Buffer.from('SELECT 1;\n\0'))).toEqual({ offset: 10, line: 2, column: 1, byte: '0x00', kind: 'nul' });
  });

  it('property: one invalid byte inserted anywhere into valid text is found exactly there', () => {
    const invalid = fc.constantFrom(0x80, 0xbf, 0xc0, 0xc1, 0xf5, 0xff);
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), invalid, (before, after, byte) => {
        const head = Buffer.from(before.replaceAll('\0', ''));
        const bytes = Buffer.concat([head, Buffer.from([byte]), Buffer.from(after.replaceAll('\0', ''))]);
        const found = fault(bytes);
        expect(found?.offset).toBe(head.length);
        expect(found?.line).toBe(before.replaceAll('\0', '').split('\n').length);
      }),
    );
  });
});

describe('decoding a SQL file', () => {
  it("keeps Prisma's checksum (over the string Node decodes) and reports the file, line and byte offset with the iconv fix", () => {
    const bytes = Buffer.concat([Buffer.from("INSERT INTO t VALUES ('caf"), Buffer.from([0xe9]), Buffer.from("');\n")]);
    const { script, fault: f } = decodeSql(bytes);
    expect(checksum(script)).toBe(checksum(bytes.toString('utf8')));
    const [problem] = textProblems('prisma/migrations/m/migration.sql', script, f, 'm');
    expect(problem).toMatchObject({ rule: 'file/encoding', line: 1, column: 27, file: 'prisma/migrations/m/migration.sql' });
    expect(problem!.message).toContain('byte 0xE9 at offset 26 (line 1, column 27)');
    expect(problem!.hint).toBe(
      'Convert the file to UTF-8 (here from Latin-1): iconv -f LATIN1 -t UTF-8 prisma/migrations/m/migration.sql > prisma/migrations/m/migration.sql.utf8 && mv prisma/migrations/m/migration.sql.utf8 prisma/migrations/m/migration.sql',
    );
  });

  it("a BOM is kept in the text (it is part of Prisma's checksum) and is a problem of its own", () => {
    const { script, fault: f } = decodeSql(Buffer.from([0xef, 0xbb, 0xbf, 0x53]));
    expect(script).toBe('\uFEFFS');
    expect(f).toBeUndefined();
    expect(textProblems('m.sql', script, f).map((p) => p.rule)).toEqual(['file/bom']);
  });
});
