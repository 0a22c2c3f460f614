import { spawn } from 'node:child_process';
import { inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArchiveFormatError, CustomArchiveReader, type ArchiveEntry, type ArchiveHeader } from '../../pipeline/protection/backup/archive.ts';
import { ArchiveManifestBuilder, loadH64 } from '../../pipeline/protection/backup/archive-manifest.ts';
import { findPgBinaries, pgTool } from '../../pipeline/infra/pg/binaries.ts';
import { createDatabase, type TestDb } from '../helpers/db.ts';
import { encodeArchive, parseArchive } from '../helpers/pg-archive.ts';
import { libpq } from '../helpers/backup-fixture.ts';

async function pgDump(url: string, args: string[]): Promise<Buffer> {
  const bin = await pgTool(await findPgBinaries(), 'pg_dump');
  const child = spawn(bin, args, { env: libpq(url), stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0) throw new Error(`pg_dump ${args.join(' ')} exited ${code}: ${stderr}`);
  return Buffer.concat(out);
}

// Every table kind the reader must get right: many rows of mixed types with tabs, newlines and backslashes in
// text, a value that is the COPY end marker itself, an empty table, a one-column table of empty strings (its
// rows are empty lines, like the ones after the end marker), a schema and table whose names need quoting; and a
// large object, whose block (type 3) the reader walks through without reporting it as table data.
const DDL = `
  CREATE SCHEMA "odd schema";
  CREATE TABLE public.mixed (id int PRIMARY KEY, big bigint, amount numeric, label text, note text, flag boolean,
    at timestamptz, doc jsonb, raw bytea, f float8, tags text[]);
  INSERT INTO public.mixed
    SELECT g, g::bigint * 1000003, g / 7.0, 'row ' || g,
      CASE g % 6 WHEN 0 THEN E'tab\\there' WHEN 1 THEN E'new\\nline\\r\\nand more' WHEN 2 THEN E'back\\\\slash \\\\N'
        WHEN 3 THEN NULL WHEN 4 THEN E'\\\\.' ELSE '' END,
      g % 2 = 0, '2026-03-29 01:30+00'::timestamptz + g * interval '1 min', jsonb_build_object('g', g, 's', E'a\\tb\\nc'),
      decode(md5(g::text), 'hex'), g * 0.1, ARRAY['x', g::text, E'q"\\\\']
    FROM generate_series(1, 5000) g;
  CREATE TABLE public.empty_one (id int, v text);
  CREATE TABLE public.blanks (t text);
  INSERT INTO public.blanks SELECT '' FROM generate_series(1, 7);
  CREATE TABLE public.dots (t text);
  INSERT INTO public.dots VALUES (E'\\\\.'), ('.'), (E'\\\\'), ('');
  CREATE TABLE "odd schema"."we""ird table" ("a col" int, "b""col" text);
  INSERT INTO "odd schema"."we""ird table" SELECT g, 'v ' || g FROM generate_series(1, 10) g;
  SELECT lo_from_bytea(0, convert_to(repeat('a large object, not a table; ', 500), 'UTF8'));`;

const TABLES: Array<[schema: string, name: string]> = [
  ['odd schema', 'we"ird table'],
  ['public', 'blanks'],
  ['public', 'dots'],
  ['public', 'empty_one'],
  ['public', 'mixed'],
];

const quote = (id: string) => `"${id.replace(/"/g, '""')}"`;

let db: TestDb;
let z1: Buffer;
let z0: Buffer;
const counts = new Map<string, string>();

beforeAll(async () => {
  db = await createDatabase('backup_archive');
  await db.query(DDL);
  for (const [schema, name] of TABLES) {
    const [row] = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${quote(schema)}.${quote(name)}`);
    counts.set(`${schema}.${name}`, row!.n);
  }
  z1 = await pgDump(db.url, ['-Fc', '-Z1']);
  z0 = await pgDump(db.url, ['-Fc', '-Z0']);
});

afterAll(async () => {
  await db?.drop();
});

/** Feeds the pieces to a builder the way dumpManifest does (waiting when asked) and returns its result. */
async function manifestOf(pieces: Iterable<Buffer>) {
  const builder = await ArchiveManifestBuilder.create();
  for (const piece of pieces) {
    const wait = builder.write(piece);
    if (wait) await wait;
  }
  return builder.result();
}

function* fixed(buf: Buffer, size: number): Generator<Buffer> {
  for (let pos = 0; pos < buf.length; pos += size) yield buf.subarray(pos, pos + size);
}

function* bytesThenRest(buf: Buffer, bytes: number): Generator<Buffer> {
  const n = Math.min(bytes, buf.length);
  for (let pos = 0; pos < n; pos++) yield buf.subarray(pos, pos + 1);
  if (n < buf.length) yield buf.subarray(n);
}

/** mulberry32: a small seeded generator, so a failing cut can be reproduced. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function* randomPieces(buf: Buffer, seed: number): Generator<Buffer> {
  const next = seeded(seed);
  let pos = 0;
  while (pos < buf.length) {
    // Mostly small pieces (inside ints and chunk headers), sometimes large ones.
    const r = next();
    const size = r < 0.6 ? 1 + Math.floor(next() * 16) : r < 0.9 ? 1 + Math.floor(next() * 2000) : 1 + Math.floor(next() * 40000);
    yield buf.subarray(pos, pos + size);
    pos += size;
  }
}

interface Seen {
  header: ArchiveHeader | undefined;
  toc: ArchiveEntry[];
  events: string[];
  /** Concatenated blockData per dumpId. */
  data: Map<number, Buffer[]>;
}

function visit(pieces: Iterable<Buffer>): Seen {
  const seen: Seen = { header: undefined, toc: [], events: [], data: new Map() };
  const reader = new CustomArchiveReader({
    header: (h) => {
      seen.header = h;
      seen.events.push('header');
    },
    toc: (entries) => {
      seen.toc = [...entries];
      seen.events.push('toc');
    },
    blockStart: (id) => {
      seen.events.push(`start ${id}`);
      seen.data.set(id, []);
    },
    blockData: (id, bytes) => {
      seen.data.get(id)!.push(Buffer.from(bytes));
    },
    blockEnd: (id) => seen.events.push(`end ${id}`),
  });
  for (const piece of pieces) reader.write(piece);
  reader.end();
  return seen;
}

const key = (t: { schema: string; name: string }) => `${t.schema}.${t.name}`;

describe('pg_dump custom-format archive: manifest', () => {
  it('gives the same tables whatever the cutting, compressed or not, with the database counts', async () => {
    const whole = await manifestOf([z1]);
    const tables = whole.tables;
    expect(tables.map((t) => [t.schema, t.name])).toEqual(TABLES);

    expect((await manifestOf(bytesThenRest(z1, 64 * 1024))).tables).toEqual(tables);
    for (const seed of [1, 2, 3]) expect((await manifestOf(randomPieces(z1, seed))).tables).toEqual(tables);
    expect((await manifestOf(fixed(z1, 4096))).tables).toEqual(tables);

    const plain = await manifestOf([z0]);
    expect(plain.tables).toEqual(tables);
    expect((await manifestOf(randomPieces(z0, 4))).tables).toEqual(tables);
    expect((await manifestOf(bytesThenRest(z0, 64 * 1024))).tables).toEqual(tables);

    // Counts from the database: the "\." end marker and the empty lines after it are not rows.
    for (const t of tables) expect({ table: key(t), rows: t.rows }).toEqual({ table: key(t), rows: counts.get(key(t)) });
    expect(counts.get('public.mixed')).toBe('5000');
    const empty = tables.find((t) => key(t) === 'public.empty_one');
    expect(empty).toEqual({ schema: 'public', name: 'empty_one', rows: '0', hash: '0' });

    // Seven empty lines are seven rows of "" (not the blank lines that follow the end marker).
    const h64 = await loadH64();
    const blanks = tables.find((t) => key(t) === 'public.blanks');
    expect(blanks?.rows).toBe('7');
    expect(blanks?.hash).toBe(BigInt.asUintN(64, 7n * h64(new Uint8Array(0))).toString(16));
    // dots: COPY writes the value "\." as "\\." (not the end marker), "\" as "\\".
    const dots = tables.find((t) => key(t) === 'public.dots');
    const dotLines = ['\\\\.', '.', '\\\\', ''].map((l) => h64(Buffer.from(l)));
    expect(dots?.hash).toBe(
      BigInt.asUintN(
        64,
        dotLines.reduce((a, b) => a + b, 0n),
      ).toString(16),
    );

    // Different tables hash differently (the hash is not a constant).
    expect(new Set(tables.filter((t) => t.rows !== '0').map((t) => t.hash)).size).toBe(4);

    expect(whole.facts.encoding).toBe('UTF8');
    expect(whole.facts.header.compression).toBe('gzip');
    expect(plain.facts.header.compression).toBe('none');
  });

  it('lets the visitor see the header, the TOC and every table data block', async () => {
    for (const [archive, compression] of [
      [z1, 'gzip'],
      [z0, 'none'],
    ] as const) {
      const seen = visit(randomPieces(archive, 7));
      expect(seen.header).toMatchObject({ version: '1.14', compression });
      expect(seen.header?.dumpVersion).toContain('15.');
      expect(seen.header?.serverVersion).toMatch(/^\d/);
      expect(seen.events.slice(0, 2)).toEqual(['header', 'toc']);

      const data = seen.toc.filter((e) => e.desc === 'TABLE DATA');
      expect(data.map((e) => [e.namespace, e.tag]).sort()).toEqual(TABLES);
      for (const e of data) {
        expect(e.copyStmt).toMatch(/^COPY /);
        // Each table's block starts and ends, in that order, once.
        const start = seen.events.indexOf(`start ${e.dumpId}`);
        const end = seen.events.indexOf(`end ${e.dumpId}`);
        expect(start).toBeGreaterThan(1);
        expect(end).toBeGreaterThan(start);
        expect(seen.events.filter((x) => x === `start ${e.dumpId}`)).toHaveLength(1);
      }
      expect(seen.toc.find((e) => e.desc === 'ENCODING')?.defn).toContain('UTF8');
      // The large object's block is in the archive but is not table data.
      expect(seen.toc.some((e) => e.desc === 'BLOBS')).toBe(true);
      expect(seen.events.filter((x) => x.startsWith('start ')).sort()).toEqual(data.map((e) => `start ${e.dumpId}`).sort());

      // The bytes handed over are the block as stored: the same COPY text once inflated, whatever the cutting.
      const whole = visit([archive]);
      const mixed = data.find((e) => e.tag === 'mixed')!;
      const text = (s: Seen) => {
        const raw = Buffer.concat(s.data.get(mixed.dumpId)!);
        return (compression === 'gzip' ? inflateSync(raw) : raw).toString('utf8');
      };
      expect(text(seen)).toBe(text(whole));
      expect(text(whole)).toMatch(/^1\t1000003\t/);
      expect(text(whole).endsWith('\\.\n\n\n')).toBe(true);
    }
  });
});

describe('pg_dump custom-format archive: newer layouts', () => {
  it('the converter reproduces the original byte for byte when it writes 1.14', () => {
    for (const archive of [z1, z0]) {
      const parsed = parseArchive(archive);
      expect(parsed.minor).toBe(14);
      expect(parsed.entries.filter((e) => e.desc === 'TABLE DATA')).toHaveLength(TABLES.length);
      expect(encodeArchive(parsed, { minor: 14 }).equals(archive)).toBe(true);
      // And its 1.16 output parses back to the same entries, with a relkind each.
      const again = parseArchive(encodeArchive(parsed, { minor: 16 }));
      expect(again.minor).toBe(16);
      expect(again.entries.map((e) => e.desc)).toEqual(parsed.entries.map((e) => e.desc));
      expect(again.entries.every((e) => e.relkind === 'r'.charCodeAt(0))).toBe(true);
      expect(again.data.equals(parsed.data)).toBe(true);
    }
  });

  it('reads the 1.15 layout (algorithm byte) and the 1.16 layout (relkind) alike', async () => {
    const original = (await manifestOf([z1])).tables;
    for (const [archive, compression] of [
      [z1, 'gzip'],
      [z0, 'none'],
    ] as const) {
      const parsed = parseArchive(archive);
      for (const minor of [15, 16]) {
        const converted = encodeArchive(parsed, { minor });
        expect(converted.length).toBe(archive.length - (minor === 15 ? 4 : 4 - 5 * parsed.entries.length));
        const whole = await manifestOf([converted]);
        expect(whole.facts.header).toMatchObject({ version: `1.${minor}`, compression });
        expect(whole.tables).toEqual(original);
        expect((await manifestOf(randomPieces(converted, minor))).tables).toEqual(original);
        const seen = visit(fixed(converted, 4096));
        expect(seen.toc.map((e) => [e.desc, e.tag, e.namespace])).toEqual(visit([archive]).toc.map((e) => [e.desc, e.tag, e.namespace]));
      }
    }
  });
});

describe('pg_dump custom-format archive: refusals', () => {
  const refusal = async (archive: Buffer, pieces: (b: Buffer) => Iterable<Buffer> = (b) => [b]) => {
    const error = await manifestOf(pieces(archive)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ArchiveFormatError);
    return (error as Error).message;
  };
  const withVersion = (archive: Buffer, minor: number) => {
    const copy = Buffer.from(archive);
    expect(copy.subarray(0, 8)).toEqual(Buffer.from([...Buffer.from('PGDMP'), 1, 14, 0]));
    copy[6] = minor;
    return copy;
  };

  it('refuses versions 1.11 and 1.17', async () => {
    expect(await refusal(withVersion(z1, 11))).toMatch(/version 1\.11/);
    expect(await refusal(withVersion(z1, 17))).toMatch(/version 1\.17/);
    expect(await refusal(withVersion(z0, 17), (b) => fixed(b, 1))).toMatch(/version 1\.17/);
    expect(() => visit([withVersion(z1, 11)])).toThrow(ArchiveFormatError);
  });

  it('refuses lz4-compressed data in a 1.15 archive (the reader reads its header, the builder refuses)', async () => {
    const lz4 = encodeArchive(parseArchive(z1), { minor: 15, algorithm: 2 });
    const header = visit([lz4]).header; // the reader itself does not look inside the blocks
    expect(header).toMatchObject({ version: '1.15', compression: 'lz4' });
    expect(await refusal(lz4)).toMatch(/lz4/);
    expect(await refusal(lz4, (b) => fixed(b, 7))).toMatch(/lz4/);
    const zstd = encodeArchive(parseArchive(z1), { minor: 16, algorithm: 3 });
    expect(await refusal(zstd)).toMatch(/zstd/);
    expect(await refusal(encodeArchive(parseArchive(z1), { minor: 15, algorithm: 9 }))).toMatch(/algorithm 9/);
  });

  it('refuses what is not an archive', async () => {
    const notArchive = Buffer.concat([Buffer.from('PGDMX'), z1.subarray(5)]);
    expect(await refusal(notArchive)).toMatch(/not a pg_dump custom-format archive/);
    expect(await refusal(Buffer.from('PGD'))).toMatch(/ended inside its header/);
    expect(await refusal(z1.subarray(0, z1.length - parseArchive(z1).data.length - 3))).toMatch(/ended inside its header or table of contents/);
  });

  it('refuses an archive cut in the middle of a data block', async () => {
    for (const archive of [z1, z0]) {
      const parsed = parseArchive(archive);
      const dataStart = archive.length - parsed.data.length;
      // The mixed table's block is by far the largest: the middle of the data section is inside it.
      const cut = archive.subarray(0, dataStart + Math.floor(parsed.data.length / 2));
      expect(await refusal(cut)).toMatch(/ended inside the data/);
      expect(await refusal(cut, (b) => randomPieces(b, 11))).toMatch(/ended inside the data/);
      // Only the last block's 0 chunk length missing.
      expect(await refusal(archive.subarray(0, archive.length - 5))).toMatch(/ended inside the data/);
    }
  });

  it('refuses trailing garbage after the last block', async () => {
    for (const archive of [z1, z0]) {
      expect(await refusal(Buffer.concat([archive, Buffer.from('garbage\n')]))).toMatch(/data block type/);
      expect(await refusal(Buffer.concat([archive, Buffer.from([0])]), (b) => fixed(b, 4096))).toMatch(/data block type 0/);
      // A lone byte that looks like the start of a block is a cut block header.
      expect(await refusal(Buffer.concat([archive, Buffer.from([1])]))).toMatch(/ended inside a data block header/);
    }
  });

  it('refuses an archive cut between two blocks: the TOC says which tables have data', async () => {
    for (const archive of [z1, z0]) {
      const dataStart = archive.length - parseArchive(archive).data.length;
      // Right after the TOC: every table's block is missing, and none may pass as an empty table.
      expect(await refusal(archive.subarray(0, dataStart))).toMatch(/ended before the data of /);
    }
  });

  it('refuses a second data block for the same table', async () => {
    for (const archive of [z1, z0]) {
      expect(await refusal(Buffer.concat([archive, parseArchive(archive).data]))).toMatch(/a second data block for /);
    }
  });
});
