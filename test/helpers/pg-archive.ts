/**
 * Test-only tools for pg_dump custom-format archives: a parser of the header and TOC (the archive's prefix)
 * written from the layout documented in pipeline/protection/backup/archive.ts (PostgreSQL's
 * pg_backup_archiver.c ReadHead/ReadToc), and an encoder that writes that prefix back in another archive
 * version's layout, so a real 1.14 archive from pg_dump 15 can be turned into a 1.15 or 1.16 one. The data
 * blocks are copied untouched. The parser repeats the shape of archive.ts's Cursor on purpose: a test oracle
 * that reused the reader under test could not catch a mistake they share.
 */

/** A field of the prefix: an int, a string (null = NULL), or raw bytes copied as they are. */
type Field = { int: number } | { str: Buffer | null } | { raw: Buffer };

export interface ParsedEntry {
  /** dumpId … tablespace: ints and strings in archive order. */
  before: Field[];
  /** tableam (≥ 1.14); undefined before 1.14. */
  tableam: Buffer | null | undefined;
  /** relkind (≥ 1.16); undefined before. */
  relkind: number | undefined;
  /** owner, "false", the dependency ids and their NULL end. */
  after: Field[];
  /** The data offset: flag byte and offSize bytes. */
  offset: Buffer;
  desc: string;
}

export interface ParsedArchive {
  major: number;
  minor: number;
  rev: number;
  intSize: number;
  offSize: number;
  format: number;
  /** Before 1.15: the int level; from 1.15: undefined. */
  level: number | undefined;
  /** From 1.15: the algorithm byte; before: undefined. */
  algorithm: number | undefined;
  /** Creation time ints, database name, server and pg_dump versions. */
  rest: Field[];
  entries: ParsedEntry[];
  /** Everything after the TOC: the data blocks. */
  data: Buffer;
}

const ver = (major: number, minor: number) => major * 256 + minor;

class Reader {
  pos = 0;
  intSize = 4;
  readonly buf: Buffer;
  constructor(buf: Buffer) {
    this.buf = buf;
  }
  take(n: number): Buffer {
    if (this.pos + n > this.buf.length) throw new Error(`test archive parser: ran past the end at ${this.pos}+${n}`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  byte(): number {
    return this.take(1)[0]!;
  }
  int(): number {
    const sign = this.byte();
    const bytes = this.take(this.intSize);
    let v = 0;
    for (let i = bytes.length - 1; i >= 0; i--) v = v * 256 + bytes[i]!;
    return sign ? -v : v;
  }
  str(): Buffer | null {
    const n = this.int();
    return n < 0 ? null : Buffer.from(this.take(n));
  }
}

export function parseArchive(buf: Buffer): ParsedArchive {
  const r = new Reader(buf);
  if (r.take(5).toString('latin1') !== 'PGDMP') throw new Error('test archive parser: no PGDMP');
  const major = r.byte();
  const minor = r.byte();
  const rev = r.byte();
  const v = ver(major, minor);
  r.intSize = r.byte();
  const offSize = r.byte();
  const format = r.byte();
  let level: number | undefined;
  let algorithm: number | undefined;
  if (v >= ver(1, 15)) algorithm = r.byte();
  else level = r.int();
  const rest: Field[] = [];
  for (let i = 0; i < 7; i++) rest.push({ int: r.int() });
  for (let i = 0; i < 3; i++) rest.push({ str: r.str() });
  const count = r.int();
  const entries: ParsedEntry[] = [];
  for (let i = 0; i < count; i++) {
    const before: Field[] = [];
    before.push({ int: r.int() }); // dumpId
    before.push({ int: r.int() }); // hadDumper
    before.push({ str: r.str() }); // tableoid
    before.push({ str: r.str() }); // oid
    before.push({ str: r.str() }); // tag
    const desc = r.str();
    before.push({ str: desc });
    before.push({ int: r.int() }); // section
    for (let j = 0; j < 5; j++) before.push({ str: r.str() }); // defn, dropStmt, copyStmt, namespace, tablespace
    const tableam = v >= ver(1, 14) ? r.str() : undefined;
    const relkind = v >= ver(1, 16) ? r.int() : undefined;
    const after: Field[] = [];
    after.push({ str: r.str() }); // owner
    after.push({ str: r.str() }); // "false"
    for (;;) {
      const dep = r.str();
      after.push({ str: dep });
      if (dep === null) break;
    }
    const offset = Buffer.from(r.take(1 + offSize));
    entries.push({ before, tableam, relkind, after, offset, desc: desc?.toString('utf8') ?? '' });
  }
  return { major, minor, rev, intSize: r.intSize, offSize, format, level, algorithm, rest, entries, data: buf.subarray(r.pos) };
}

export function encodeInt(value: number, intSize: number): Buffer {
  const out = Buffer.alloc(1 + intSize);
  out[0] = value < 0 ? 1 : 0;
  let v = Math.abs(value);
  for (let i = 0; i < intSize; i++) {
    out[1 + i] = v % 256;
    v = Math.floor(v / 256);
  }
  return out;
}

export function encodeStr(value: Buffer | null, intSize: number): Buffer {
  return value === null ? encodeInt(-1, intSize) : Buffer.concat([encodeInt(value.length, intSize), value]);
}

const encodeField = (f: Field, intSize: number): Buffer => ('int' in f ? encodeInt(f.int, intSize) : 'str' in f ? encodeStr(f.str, intSize) : f.raw);

export interface EncodeOptions {
  /** Archive version to write (major is always 1). */
  minor: number;
  /** ≥ 1.15: the algorithm byte to write (0 none, 1 gzip, 2 lz4, 3 zstd); default: from the parsed archive. */
  algorithm?: number;
  /** ≥ 1.16: the relkind of every entry; default: the parsed one, else 'r'. */
  relkind?: number;
}

/** The archive re-encoded in the layout of version 1.<minor>, data blocks untouched. */
export function encodeArchive(a: ParsedArchive, o: EncodeOptions): Buffer {
  const { intSize } = a;
  const parts: Buffer[] = [];
  parts.push(Buffer.from('PGDMP', 'latin1'), Buffer.from([1, o.minor, a.rev, intSize, a.offSize, a.format]));
  const fromLevel = a.level === undefined ? undefined : a.level === 0 ? 0 : 1;
  if (o.minor >= 15) {
    const algorithm = o.algorithm ?? a.algorithm ?? fromLevel;
    if (algorithm === undefined) throw new Error('test archive encoder: no compression to write');
    parts.push(Buffer.from([algorithm]));
  } else {
    const level = a.level ?? (a.algorithm === 0 ? 0 : a.algorithm === 1 ? 1 : undefined);
    if (level === undefined) throw new Error('test archive encoder: this compression has no int level');
    parts.push(encodeInt(level, intSize));
  }
  for (const f of a.rest) parts.push(encodeField(f, intSize));
  parts.push(encodeInt(a.entries.length, intSize));
  for (const e of a.entries) {
    for (const f of e.before) parts.push(encodeField(f, intSize));
    if (o.minor >= 14) parts.push(encodeStr(e.tableam ?? null, intSize));
    if (o.minor >= 16) parts.push(encodeInt(o.relkind ?? e.relkind ?? 'r'.charCodeAt(0), intSize));
    for (const f of e.after) parts.push(encodeField(f, intSize));
    parts.push(e.offset);
  }
  parts.push(a.data);
  return Buffer.concat(parts);
}
