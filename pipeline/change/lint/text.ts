/**
 * Positions in a file's text. Tools count differently: squawk gives 0-based lines and UTF-8 byte
 * columns, libpg-query UTF-8 byte offsets; findings carry 1-based lines and 1-based character columns.
 */
export class SourceText {
  readonly text: string;
  readonly bytes: Buffer;
  /** Byte offset where each line starts. */
  private readonly lineStarts: number[];

  constructor(text: string) {
    this.text = text;
    this.bytes = Buffer.from(text, 'utf8');
    this.lineStarts = [0];
    for (let i = 0; i < this.bytes.length; i++) if (this.bytes[i] === 0x0a) this.lineStarts.push(i + 1);
  }

  /** 1-based line and column of a 0-based byte offset. */
  at(byteOffset: number): { line: number; column: number } {
    const offset = Math.max(0, Math.min(byteOffset, this.bytes.length));
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: this.charsBetween(this.lineStarts[lo]!, offset) + 1 };
  }

  /** 1-based column (in characters) of a 0-based line and 0-based byte column, as squawk reports them. */
  column(line0: number, byteColumn: number): number {
    const start = this.lineStarts[line0];
    if (start === undefined) return byteColumn + 1;
    return this.charsBetween(start, start + byteColumn) + 1;
  }

  get lineCount(): number {
    return this.lineStarts.length;
  }

  private charsBetween(from: number, to: number): number {
    // Count UTF-8 lead bytes: continuation bytes (10xxxxxx) do not start a character.
    let n = 0;
    for (let i = from; i < to && i < this.bytes.length; i++) if ((this.bytes[i]! & 0xc0) !== 0x80) n++;
    return n;
  }
}
