import { createInflate, type Inflate, type ZlibOptions } from 'node:zlib';
import xxhash from 'xxhash-wasm';
import { ArchiveFormatError, CustomArchiveReader, type ArchiveEntry, type ArchiveHeader } from './archive.ts';
import { startPgDump } from './dump.ts';
import type { TableHash, TableManifest } from './manifest.ts';
import type { Logger } from '../../core/logger.ts';
import type { DbTarget } from '../../infra/db/url.ts';

/**
 * The table manifest read from the archive itself (manifest method `copy-xxh64`): for every table's data
 * block, the number of COPY rows and the sum modulo 2^64 of the xxHash64 of every row's COPY text line. A
 * sum does not depend on row order, and the rows are exactly the ones pg_dump wrote, in the dump's own
 * snapshot, so the manifest is snapshot-consistent by construction and the database is read once.
 *
 * The restore test computes the same from the restored database by dumping its data the same way (pg_dump,
 * data only, uncompressed, same session settings) through the same reader; so both sides see the bytes pg_dump
 * writes for the rows, and enum OIDs, physical order or dropped columns never matter.
 *
 * Who pays: the database server only formats the rows once, for pg_dump; the runner inflates the data blocks
 * (zlib, on libuv's thread pool) and hashes the lines (xxHash64 in WebAssembly).
 */

export const COPY_MANIFEST = 'copy-xxh64' as const;

type H64 = (bytes: Uint8Array) => bigint;

/** xxHash64 (seed 0) of a byte string, compiled to WebAssembly once per process. */
let h64: Promise<H64> | undefined;
export const loadH64 = (): Promise<H64> => (h64 ??= xxhash().then((api) => api.h64Raw));

/** Rows and the order-independent hash of one table's COPY text, fed in pieces of any size. */
export class CopyDigest {
  #h64: H64;
  #sum = 0n;
  #rows = 0;
  /** A line cut by the end of the previous piece. */
  #tail: Buffer | undefined;
  /** The end-of-data marker was seen. */
  #ended = false;

  constructor(h64: H64) {
    this.#h64 = h64;
  }

  update(piece: Buffer): void {
    let pos = 0;
    const n = piece.length;
    if (this.#tail) {
      const nl = piece.indexOf(10);
      if (nl < 0) {
        this.#tail = Buffer.concat([this.#tail, piece]);
        return;
      }
      this.#line(Buffer.concat([this.#tail, piece.subarray(0, nl)]));
      this.#tail = undefined;
      pos = nl + 1;
    }
    // COPY text escapes newlines inside values (\n), so every 0x0A ends a row.
    for (let nl = piece.indexOf(10, pos); nl >= 0; nl = piece.indexOf(10, pos)) {
      this.#line(piece.subarray(pos, nl));
      pos = nl + 1;
    }
    if (pos < n) this.#tail = Buffer.from(piece.subarray(pos));
  }

  #line(line: Uint8Array): void {
    if (this.#ended) {
      // pg_dump ends the data with "\\.", then two empty lines.
      if (line.length !== 0) throw new ArchiveFormatError('a table data block has rows after its end marker');
      return;
    }
    // A row's text never is a lone "\\." (a backslash in a value is written as two).
    if (line.length === 2 && line[0] === 0x5c && line[1] === 0x2e) {
      this.#ended = true;
      return;
    }
    this.#sum += this.#h64(line);
    this.#rows++;
  }

  /** Rows and hash (hexadecimal, 0 for no rows); a row without its newline means the data was cut. */
  finish(): { rows: number; hash: string } {
    if (this.#tail) throw new ArchiveFormatError('a table data block ends inside a row');
    return { rows: this.#rows, hash: BigInt.asUintN(64, this.#sum).toString(16) };
  }
}

/** What the manifest needs from an archive besides the tables: how to reproduce its COPY text. */
export interface ArchiveFacts {
  header: ArchiveHeader;
  /** The archive's client encoding (its ENCODING entry), e.g. UTF8: the restore side dumps in the same. */
  encoding: string;
}

interface Block {
  entry: ArchiveEntry;
  digest: CopyDigest;
  /** Compressed bytes of this block not yet handed to zlib (see #flush). */
  pending: Buffer[];
  pendingBytes: number;
  /** Only for compressed archives; then `done` settles when it has inflated the whole block. */
  inflate?: Inflate;
  done?: Promise<TableManifest>;
}

/** `COPY public."User" (id, …) FROM stdin;` → schema and table from the TOC entry (tag and namespace are exact). */
const tableOf = (e: ArchiveEntry) => ({ schema: e.namespace ?? '', name: e.tag });

/**
 * Feeds a custom-format archive, piece by piece, into CopyDigests per table. `write` returns a promise when
 * the inflater is behind (the caller waits on it before passing more), so memory stays bounded by zlib's
 * buffers whatever the relative speeds. The first problem is kept and ends the reading; `result` rethrows it.
 */
export class ArchiveManifestBuilder {
  #reader: CustomArchiveReader;
  #header: ArchiveHeader | undefined;
  #entries = new Map<number, ArchiveEntry>();
  #encoding = '';
  /** dumpIds whose data block has started. */
  #seen = new Set<number>();
  #block: Block | undefined;
  #finished: Array<Promise<TableManifest>> = [];
  #failure: unknown;
  #h64: H64;
  #waiting: Promise<void> | undefined;

  private constructor(h64: H64) {
    this.#h64 = h64;
    this.#reader = new CustomArchiveReader({
      header: (h) => {
        if (h.compression !== 'none' && h.compression !== 'gzip') {
          throw new ArchiveFormatError(`the archive's data is compressed with ${h.compression}, which dbops cannot read (gzip or none)`);
        }
        this.#header = h;
      },
      toc: (entries) => {
        for (const e of entries) {
          if (e.desc === 'TABLE DATA') this.#entries.set(e.dumpId, e);
          if (e.desc === 'ENCODING') this.#encoding = /'([^']+)'/.exec(e.defn ?? '')?.[1] ?? '';
        }
      },
      blockStart: (id) => this.#start(id),
      blockData: (_id, bytes) => this.#data(bytes),
      blockEnd: () => this.#end(),
    });
  }

  static async create(): Promise<ArchiveManifestBuilder> {
    return new ArchiveManifestBuilder(await loadH64());
  }

  /** Whether reading stopped on a problem (the rest of the archive is then ignored). */
  get failed(): boolean {
    return this.#failure !== undefined;
  }

  /** The next piece of the archive; a promise means "wait for it before the next piece". */
  write(piece: Buffer): Promise<void> | undefined {
    if (this.#failure !== undefined) return undefined;
    try {
      this.#reader.write(piece);
      if (this.#block && this.#block.pendingBytes >= FLUSH_AT) this.#flush(this.#block);
    } catch (e) {
      this.#fail(e);
    }
    return this.#waiting;
  }

  /** The archive ended: the tables in schema, name order (as tables.ts lists them) and the archive's facts. */
  async result(): Promise<{ tables: TableManifest[]; facts: ArchiveFacts }> {
    if (this.#failure === undefined) {
      try {
        this.#reader.end();
      } catch (e) {
        this.#fail(e);
      }
    }
    const tables = await Promise.all(this.#finished).catch((e: unknown): TableManifest[] => {
      this.#fail(e);
      return [];
    });
    if (this.#failure !== undefined) throw this.#failure;
    // pg_dump writes a data block for every TABLE DATA entry whose offset flag says so, empty tables
    // included: one that never came means the archive was cut between two blocks.
    for (const e of this.#entries.values()) {
      if (this.#seen.has(e.dumpId)) continue;
      if (e.hasData) throw new ArchiveFormatError(`the archive ended before the data of ${e.namespace}.${e.tag}`);
      tables.push({ ...tableOf(e), rows: '0', hash: '0' });
    }
    tables.sort((a, b) => (a.schema === b.schema ? compare(a.name, b.name) : compare(a.schema, b.schema)));
    return { tables, facts: { header: this.#header!, encoding: this.#encoding } };
  }

  #fail(e: unknown): void {
    this.#failure ??= e;
    this.#block?.inflate?.destroy();
    this.#block = undefined;
  }

  #start(dumpId: number): void {
    const entry = this.#entries.get(dumpId);
    if (!entry) return; // large-object data and the like: not a table
    if (this.#seen.has(dumpId)) throw new ArchiveFormatError(`a second data block for ${entry.namespace}.${entry.tag}`);
    this.#seen.add(dumpId);
    const digest = new CopyDigest(this.#h64);
    if (this.#header!.compression === 'none') {
      this.#block = { entry, digest, pending: [], pendingBytes: 0 };
      return;
    }
    // The inflater may lag behind by LAG: pg_dump (and the server's COPY behind it) must not wait for every
    // burst of hashing, or neither core is busy while the other catches up.
    const options: ZlibOptions & { writableHighWaterMark: number } = { chunkSize: 1 << 20, writableHighWaterMark: LAG };
    const inflate = createInflate(options);
    inflate.on('data', (out: Buffer) => {
      try {
        digest.update(out);
      } catch (e) {
        inflate.destroy(e as Error);
      }
    });
    const done = new Promise<TableManifest>((resolve, reject) => {
      inflate.once('error', (e) => reject(new ArchiveFormatError(`the data of ${entry.namespace}.${entry.tag} does not inflate: ${e.message}`)));
      inflate.once('end', () => {
        try {
          resolve({ ...tableOf(entry), ...stringRows(digest.finish()) });
        } catch (e) {
          reject(e);
        }
      });
    });
    done.catch(() => undefined);
    this.#block = { entry, digest, pending: [], pendingBytes: 0, inflate, done };
  }

  #data(bytes: Buffer): void {
    const block = this.#block;
    if (!block) return;
    if (block.inflate) {
      block.pending.push(bytes);
      block.pendingBytes += bytes.length;
    } else block.digest.update(bytes);
  }

  /**
   * pg_dump writes compressed data in chunks of 4 KiB; one zlib write each would be one trip to the thread pool
   * each (measured: 5 s for 170 MiB instead of 0.3 s), so a block's chunks go to zlib a MiB at a time.
   */
  #flush(block: Block): void {
    if (!block.inflate || block.pending.length === 0) return;
    const bytes = block.pending.length === 1 ? block.pending[0]! : Buffer.concat(block.pending);
    block.pending = [];
    block.pendingBytes = 0;
    if (!block.inflate.write(bytes) && !this.#waiting) {
      const inflate = block.inflate;
      this.#waiting = new Promise<void>((resolve) => {
        const go = () => {
          inflate.off('drain', go).off('close', go);
          this.#waiting = undefined;
          resolve();
        };
        inflate.on('drain', go).on('close', go);
      });
    }
  }

  #end(): void {
    const block = this.#block;
    if (!block) return;
    this.#block = undefined;
    if (block.inflate) {
      this.#flush(block);
      block.inflate.end();
      this.#finished.push(block.done!);
    } else {
      this.#finished.push(Promise.resolve({ ...tableOf(block.entry), ...stringRows(block.digest.finish()) }));
    }
  }
}

/** Compressed bytes gathered before one write to zlib. */
const FLUSH_AT = 1 << 20;
/** How far (compressed bytes) the inflater may fall behind the archive before the caller waits. */
const LAG = 32 << 20;

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const stringRows = (d: { rows: number; hash: string }) => ({ rows: String(d.rows), hash: d.hash });

export interface DumpManifestOptions {
  /** pg_dump at least as new as the server. */
  pgDump: string;
  target: DbTarget;
  /** From pgEnv(). */
  env: NodeJS.ProcessEnv;
  /** The backup's: the restore side writes its COPY text in the same encoding and session settings. */
  tableHash: Extract<TableHash, { method: typeof COPY_MANIFEST }>;
  log: Logger;
  signal: AbortSignal;
}

/**
 * The `copy-xxh64` manifest of a database as it is now (a restored copy): its rows dumped by pg_dump (data
 * only, uncompressed, in the backup's encoding and settings) and read by the same reader as at backup time.
 */
export async function dumpManifest(o: DumpManifestOptions): Promise<TableManifest[]> {
  const builder = await ArchiveManifestBuilder.create();
  const abort = new AbortController();
  const stop = () => abort.abort(o.signal.reason);
  o.signal.addEventListener('abort', stop, { once: true });
  try {
    const dump = startPgDump({
      pgDump: o.pgDump,
      target: o.target,
      env: o.env,
      compressionLevel: 0,
      dataOnly: true,
      encoding: o.tableHash.encoding,
      settings: o.tableHash.settings,
      log: o.log,
      signal: abort.signal,
    });
    for await (const piece of dump.output as AsyncIterable<Buffer>) {
      const wait = builder.write(piece);
      if (wait) await wait;
      if (builder.failed) break;
    }
    if (builder.failed) abort.abort();
    await dump.done.catch((e: unknown) => {
      if (!builder.failed) throw e;
    });
    return (await builder.result()).tables;
  } finally {
    o.signal.removeEventListener('abort', stop);
  }
}
