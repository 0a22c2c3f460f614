import { isUtf8 } from 'node:buffer';

/** Where a file stops being valid UTF-8 (or holds a byte PostgreSQL cannot receive). */
export interface EncodingFault {
  /** 0-based byte offset of the first offending byte. */
  offset: number;
  /** 1-based line and column (in characters) of that byte. */
  line: number;
  column: number;
  /** The offending byte, e.g. `0xE9`. */
  byte: string;
  kind: 'invalid-utf8' | 'nul';
}

const hex = (b: number | undefined) => `0x${(b ?? 0).toString(16).toUpperCase().padStart(2, '0')}`;

/**
 * The first place `bytes` is not valid UTF-8, or holds a NUL (PostgreSQL rejects it in any query text),
 * or undefined. The decoded text is the caller's (`Buffer.toString('utf8')`, as Prisma decodes): it
 * replaces each invalid sequence by U+FFFD, so walking it code point by code point keeps the byte offset
 * exact up to the first replacement that the file did not contain as the three bytes EF BF BD itself.
 */
export function encodingFault(bytes: Buffer, text: string): EncodingFault | undefined {
  const valid = isUtf8(bytes);
  if (valid && !bytes.includes(0)) return undefined;
  let offset = 0;
  let line = 1;
  let column = 1;
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (cp === 0) return { offset, line, column, byte: '0x00', kind: 'nul' };
    if (cp === 0xfffd && !(bytes[offset] === 0xef && bytes[offset + 1] === 0xbf && bytes[offset + 2] === 0xbd)) {
      return { offset, line, column, byte: hex(bytes[offset]), kind: 'invalid-utf8' };
    }
    offset += Buffer.byteLength(ch, 'utf8');
    if (ch === '\n') {
      line++;
      column = 1;
    } else column++;
  }
  // Unreachable for a buffer that failed the checks above; kept total rather than asserting.
  return valid ? undefined : { offset, line, column, byte: hex(bytes[offset]), kind: 'invalid-utf8' };
}
