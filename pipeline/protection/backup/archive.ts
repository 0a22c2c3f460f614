/**
 * A streaming reader of pg_dump's custom-format archive (`pg_dump -Fc`), as it passes through dbops on its way
 * to age: the header, the table of contents, then every data block, chunk by chunk, without copying the data.
 * It lets `backup create` read each table's COPY rows from the archive pg_dump already streams, instead of
 * scanning every table a second time in the database (tables.ts).
 *
 * Why it is written here: no maintained library reads this format (pg_restore is the reader, and it only
 * prints SQL or restores into a server). The layout is small and fixed per archive version, and it is read
 * from PostgreSQL's own source (src/bin/pg_dump/pg_backup_archiver.c: ReadHead, ReadToc, ReadInt, ReadStr,
 * ReadOffset; pg_backup_custom.c: _StartData, _CustomWriteFunc, _EndData, _StartLOs). Versions 1.12 to 1.16
 * are read (pg_dump 9.6 to 17); anything else is refused with ArchiveFormatError, and backup create then
 * falls back to the database scan rather than guessing.
 *
 * Layout, for the versions read:
 * - header: "PGDMP", version major/minor/revision (1 byte each), int size, offset size, format (1 = custom),
 *   compression (≥ 1.15: 1 byte algorithm; before: an int level, 0 = none), creation time (7 ints),
 *   database name, server version and pg_dump version (strings).
 * - int: a sign byte, then `intSize` bytes little-endian. string: an int length (-1 = NULL), then the bytes.
 * - TOC: an int count, then per entry: dumpId, hadDumper, tableoid, oid, tag, desc, section, defn, dropStmt,
 *   copyStmt, namespace, tablespace, tableam (≥ 1.14), relkind int (≥ 1.16), owner, "false" (WITH OIDS),
 *   dependency ids (strings ending with NULL), then the data offset: a flag byte and `offSize` bytes.
 * - data: per block a type byte (1 = table data, 3 = large objects) and the dumpId; table data is a run of
 *   chunks (int length, then the bytes; compressed as one zlib stream per block when the archive is) ending
 *   with a 0 length; large objects are (oid, chunks, 0) repeated and ended by an oid of 0.
 */

export class ArchiveFormatError extends Error {
  override readonly name = 'ArchiveFormatError';
}

/** The compression of the data blocks; only `none` and `gzip` can be read by dbops (zlib in node:zlib). */
export type ArchiveCompression = 'none' | 'gzip' | 'lz4' | 'zstd';

export interface ArchiveHeader {
  /** e.g. "1.14" */
  version: string;
  compression: ArchiveCompression;
  /** pg_dump's version, e.g. "15.18 (Debian 15.18-0+deb12u1)". */
  dumpVersion: string;
  /** The server's version at dump time. */
  serverVersion: string;
}

export interface ArchiveEntry {
  dumpId: number;
  /** "TABLE DATA", "BLOBS", "ENCODING" … */
  desc: string;
  /** Table name for TABLE DATA. */
  tag: string;
  /** Schema for TABLE DATA. */
  namespace: string | null;
  /** For TABLE DATA: `COPY schema.table (col, …) FROM stdin;`, what the restore test asks the server for. */
  copyStmt: string | null;
  /** The statement for ENCODING / STDSTRINGS entries, e.g. `SET client_encoding = 'UTF8';` */
  defn: string | null;
  /** pg_dump wrote a data block for this entry (every TABLE DATA entry, empty tables included). */
  hasData: boolean;
}

export interface ArchiveVisitor {
  header?(header: ArchiveHeader): void;
  toc?(entries: readonly ArchiveEntry[]): void;
  /** A table data block begins. */
  blockStart?(dumpId: number): void;
  /** Bytes of the current table data block as stored (compressed when the archive is); a view, not a copy. */
  blockData?(dumpId: number, bytes: Buffer): void;
  blockEnd?(dumpId: number): void;
}

const MIN_VERSION = 0x010c00; // 1.12
const MAX_VERSION = 0x0110ff; // 1.16.x
const version = (major: number, minor: number, rev = 0) => (major * 256 + minor) * 256 + rev;
const BLK_DATA = 1;
const K_OFFSET_NO_DATA = 3;
const BLK_BLOBS = 3;
const COMPRESSION: Record<number, ArchiveCompression> = { 0: 'none', 1: 'gzip', 2: 'lz4', 3: 'zstd' };

/** Thrown by the prefix parser when the bytes so far end inside the header or TOC: wait for `need` bytes. */
class NeedMore {
  readonly need: number;
  constructor(need: number) {
    this.need = need;
  }
}

/** Reads ints and strings from a buffer holding the archive's prefix; throws NeedMore past its end. */
class Cursor {
  pos = 0;
  intSize = 4;
  readonly buf: Buffer;
  constructor(buf: Buffer) {
    this.buf = buf;
  }
  take(n: number): Buffer {
    if (this.pos + n > this.buf.length) throw new NeedMore(this.pos + n);
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
    let value = 0;
    for (let i = bytes.length - 1; i >= 0; i--) value = value * 256 + bytes[i]!;
    return sign ? -value : value;
  }
  str(): string | null {
    const length = this.int();
    if (length < 0) return null;
    return this.take(length).toString('utf8');
  }
}

function readHeader(c: Cursor): { header: ArchiveHeader; version: number; offSize: number } {
  if (c.take(5).toString('latin1') !== 'PGDMP') throw new ArchiveFormatError('not a pg_dump custom-format archive (no PGDMP signature)');
  const [major, minor, rev] = [c.byte(), c.byte(), c.byte()];
  const v = version(major, minor, rev);
  const label = `${major}.${minor}`;
  if (v < MIN_VERSION || v > MAX_VERSION) {
    throw new ArchiveFormatError(`archive version ${label} is not one dbops reads (1.12 to 1.16: pg_dump 9.6 to 17)`);
  }
  c.intSize = c.byte();
  const offSize = c.byte();
  if (c.intSize < 1 || c.intSize > 8 || offSize < 1 || offSize > 8) throw new ArchiveFormatError(`implausible int/offset sizes ${c.intSize}/${offSize}`);
  const format = c.byte();
  if (format !== 1) throw new ArchiveFormatError(`archive format ${format} is not the custom format (1)`);
  let compression: ArchiveCompression;
  if (v >= version(1, 15)) {
    const algorithm = c.byte();
    const known = COMPRESSION[algorithm];
    if (!known) throw new ArchiveFormatError(`unknown compression algorithm ${algorithm}`);
    compression = known;
  } else {
    compression = c.int() === 0 ? 'none' : 'gzip';
  }
  for (let i = 0; i < 7; i++) c.int(); // creation time
  c.str(); // database name
  const serverVersion = c.str() ?? '';
  const dumpVersion = c.str() ?? '';
  return { header: { version: label, compression, dumpVersion, serverVersion }, version: v, offSize };
}

function readToc(c: Cursor, v: number, offSize: number): ArchiveEntry[] {
  const count = c.int();
  if (count < 0) throw new ArchiveFormatError(`negative TOC entry count ${count}`);
  const entries: ArchiveEntry[] = [];
  for (let i = 0; i < count; i++) {
    const dumpId = c.int();
    c.int(); // hadDumper
    c.str(); // tableoid
    c.str(); // oid
    const tag = c.str() ?? '';
    const desc = c.str() ?? '';
    c.int(); // section
    const defn = c.str();
    c.str(); // dropStmt
    const copyStmt = c.str();
    const namespace = c.str();
    c.str(); // tablespace
    if (v >= version(1, 14)) c.str(); // tableam
    if (v >= version(1, 16)) c.int(); // relkind
    c.str(); // owner
    c.str(); // WITH OIDS: always "false" since 1.9
    while (c.str() !== null); // dependencies
    // Data offset: a flag (1 position not set: pg_dump wrote to a pipe; 2 set; 3 no data) and the position.
    const hasData = c.byte() !== K_OFFSET_NO_DATA;
    c.take(offSize);
    entries.push({ dumpId, desc, tag, namespace, copyStmt, defn, hasData });
  }
  return entries;
}

/** Where the reader is in the data section. */
const At = { Prefix: 0, BlockType: 1, BlockId: 2, ChunkLength: 3, Chunk: 4, BlobOid: 5, Done: 6 } as const;
type At = (typeof At)[keyof typeof At];

/**
 * Push-based: `write` every piece of the archive in order, then `end`. Visitor calls happen synchronously
 * inside `write`. Throws ArchiveFormatError on anything that is not a well-formed archive of a known version.
 * The state is a few mutable fields rather than an object per step: an uncompressed archive has one chunk
 * per row, millions of steps.
 */
export class CustomArchiveReader {
  #visitor: ArchiveVisitor;
  #at: At = At.Prefix;
  /** Block type (BLK_DATA or BLK_BLOBS), its dumpId, and the bytes left of the current chunk. */
  #type = 0;
  #dumpId = 0;
  #left = 0;
  /** The header and TOC, gathered until they parse whole. */
  #prefix: Buffer[] = [];
  #prefixBytes = 0;
  #prefixNeed = 0;
  #intSize = 4;
  /** An int being read across piece boundaries: bytes so far. */
  #int: number[] = [];
  /** The int just read by #readInt. */
  #value = 0;
  /** Archive bytes seen so far, for the offsets in error messages. */
  #bytes = 0;

  constructor(visitor: ArchiveVisitor) {
    this.#visitor = visitor;
  }

  write(piece: Buffer): void {
    this.#bytes += piece.length;
    let pos = 0;
    if (this.#at === At.Prefix) {
      pos = this.#readPrefix(piece);
      if (pos < 0) return;
    }
    const v = this.#visitor;
    while (pos < piece.length) {
      switch (this.#at) {
        case At.BlockType: {
          const type = piece[pos++]!;
          if (type !== BLK_DATA && type !== BLK_BLOBS) {
            throw new ArchiveFormatError(`unknown data block type ${type} at byte ${this.#bytes - piece.length + pos - 1}`);
          }
          this.#type = type;
          this.#at = At.BlockId;
          break;
        }
        case At.BlockId:
          pos = this.#readInt(piece, pos);
          if (pos < 0) return;
          this.#dumpId = this.#value;
          if (this.#type === BLK_DATA) {
            v.blockStart?.(this.#dumpId);
            this.#at = At.ChunkLength;
          } else this.#at = At.BlobOid;
          break;
        case At.BlobOid:
          pos = this.#readInt(piece, pos);
          if (pos < 0) return;
          this.#at = this.#value === 0 ? At.BlockType : At.ChunkLength;
          break;
        case At.ChunkLength:
          pos = this.#readInt(piece, pos);
          if (pos < 0) return;
          if (this.#value < 0) throw new ArchiveFormatError(`negative chunk length ${this.#value} in block ${this.#dumpId}`);
          if (this.#value > 0) {
            this.#left = this.#value;
            this.#at = At.Chunk;
          } else if (this.#type === BLK_DATA) {
            v.blockEnd?.(this.#dumpId);
            this.#at = At.BlockType;
          } else this.#at = At.BlobOid;
          break;
        case At.Chunk: {
          const n = Math.min(this.#left, piece.length - pos);
          if (this.#type === BLK_DATA) v.blockData?.(this.#dumpId, piece.subarray(pos, pos + n));
          pos += n;
          this.#left -= n;
          if (this.#left === 0) this.#at = At.ChunkLength;
          break;
        }
        default:
          throw new ArchiveFormatError('bytes after the end of the archive');
      }
    }
  }

  /** The archive ended: only between two data blocks is that a complete archive. */
  end(): void {
    if (this.#at === At.BlockType) {
      this.#at = At.Done;
      return;
    }
    throw new ArchiveFormatError(
      this.#at === At.Prefix
        ? 'the archive ended inside its header or table of contents'
        : this.#at === At.BlockId
          ? 'the archive ended inside a data block header'
          : `the archive ended inside the data of block ${this.#dumpId}`,
    );
  }

  /** Gathers the header and TOC; returns the offset in `piece` where the data blocks start, or -1 for "more". */
  #readPrefix(piece: Buffer): number {
    this.#prefix.push(piece);
    this.#prefixBytes += piece.length;
    if (this.#prefixBytes < this.#prefixNeed) return -1;
    const all = this.#prefix.length === 1 ? piece : Buffer.concat(this.#prefix);
    this.#prefix = [all];
    const c = new Cursor(all);
    try {
      const { header, version: v, offSize } = readHeader(c);
      this.#intSize = c.intSize;
      const entries = readToc(c, v, offSize);
      this.#visitor.header?.(header);
      this.#visitor.toc?.(entries);
    } catch (e) {
      if (!(e instanceof NeedMore)) throw e;
      // A big TOC arrives in many pieces: parse again only once the missing bytes are here.
      this.#prefixNeed = e.need;
      return -1;
    }
    this.#prefix = [];
    this.#at = At.BlockType;
    return piece.length - (all.length - c.pos);
  }

  /** Reads one archive int into #value, possibly across pieces: the next offset, or -1 when the piece ended first. */
  #readInt(piece: Buffer, pos: number): number {
    const need = 1 + this.#intSize;
    let bytes: ArrayLike<number>;
    let at: number;
    if (this.#int.length === 0 && pos + need <= piece.length) {
      bytes = piece;
      at = pos;
      pos += need;
    } else {
      while (this.#int.length < need && pos < piece.length) this.#int.push(piece[pos++]!);
      if (this.#int.length < need) return -1;
      bytes = this.#int;
      at = 0;
      this.#int = [];
    }
    let value = 0;
    for (let i = need - 1; i >= 1; i--) value = value * 256 + bytes[at + i]!;
    this.#value = bytes[at] !== 0 ? -value : value;
    return pos;
  }
}
