import { describe, expect, it } from 'vitest';
import { checksum, scriptMatches } from '../../pipeline/change/migrations/checksum.ts';

describe('Prisma checksums', () => {
  it("is lowercase hex SHA-256 of the UTF-8 text (values stored by Prisma's engine)", () => {
    expect(checksum('hello')).toBe('2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
    expect(checksum('CREATE TABLE "User" (id SERIAL PRIMARY KEY, name TEXT);\n')).toBe('5d9ee1995e445af08653cff66791d5cf3fe86de5043ab150a3b522757fd352bc');
    expect(checksum('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('keeps a BOM: Node decodes it into the string and it is hashed', () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf, 0x41]).toString('utf8');
    expect(bom.charCodeAt(0)).toBe(0xfeff);
    expect(checksum(bom)).not.toBe(checksum('A'));
  });

  it('treats LF↔CRLF as unchanged and anything else as an edit', () => {
    const lf = 'CREATE TABLE a(id int);\nCREATE TABLE b(id int);\n';
    const stored = checksum(lf);
    expect(scriptMatches(lf, stored)).toBe(true);
    expect(scriptMatches(lf.replaceAll('\n', '\r\n'), stored)).toBe(true);
    expect(scriptMatches(lf.replaceAll('\n', '\r\n'), checksum(lf.replaceAll('\n', '\r\n')))).toBe(true);
    expect(scriptMatches(lf, checksum(lf.replaceAll('\n', '\r\n')))).toBe(true);
    expect(scriptMatches(`${lf}-- edited\n`, stored)).toBe(false);
  });

  it('accepts the legacy unpadded format of old engines', () => {
    const digest = Buffer.from(checksum('x'), 'hex');
    const legacy = [...digest].map((b) => b.toString(16)).join('');
    expect(legacy).not.toBe(checksum('x'));
    expect(scriptMatches('x', legacy)).toBe(true);
    expect(scriptMatches('y', legacy)).toBe(false);
  });
});
