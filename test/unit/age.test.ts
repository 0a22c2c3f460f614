// The age streams against the format: round trips at the chunk-size edges, the npm library as an oracle in
// both directions, and every check the decryption makes (header, identity, chunk tags, truncation, trailing
// data), including that no plaintext of a failing chunk is emitted and that identities never reach a message.
import { createCipheriv, createHash, hkdfSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { armor } from 'age-encryption';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, ExitCode } from '../../pipeline/core/errors.ts';
import { redact } from '../../pipeline/core/redact.ts';
import {
  AgeError,
  createDecryptStream,
  createEncryptStream,
  generateX25519Identity,
  identityToRecipient,
  LibraryDecrypter,
  LibraryEncrypter,
  loadIdentities,
  parseIdentities,
  recipientFingerprint,
  type DecryptOptions,
} from '../../pipeline/infra/crypto/age.ts';
import { pseudoRandomBytes } from '../helpers/bytes.ts';

const CHUNK = 65536;
const SEALED = CHUNK + 16;

const bytes = pseudoRandomBytes;

/** The buffer cut into writes of awkward sizes, so no write lines up with a chunk. */
function* oddWrites(data: Buffer, sizes = [1, 7, 65535, 100_003, 13, 65537, 4096]): Generator<Buffer> {
  let at = 0;
  for (let i = 0; at < data.length; i++) {
    const n = sizes[i % sizes.length]!;
    yield data.subarray(at, at + n);
    at += n;
  }
}

async function collect(source: Iterable<Buffer>, transform: NodeJS.ReadWriteStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  await pipeline(Readable.from(source), transform, new Writable({ write: (c: Buffer, _e, done) => (parts.push(c), done()) }));
  return Buffer.concat(parts);
}

const encrypt = async (data: Buffer, recipients: readonly string[]) => collect(oddWrites(data), await createEncryptStream(recipients));

interface Decrypted {
  plaintext: Buffer;
  error?: AgeError;
}

/** Decrypts, keeping what was emitted before an error (which is what a consumer would already have written). */
async function decrypt(file: Buffer, identities: readonly string[], options: DecryptOptions = {}, writes?: number[]): Promise<Decrypted> {
  const parts: Buffer[] = [];
  try {
    await pipeline(
      Readable.from(writes ? oddWrites(file, writes) : oddWrites(file)),
      createDecryptStream(identities, options),
      new Writable({ write: (c: Buffer, _e, done) => (parts.push(c), done()) }),
    );
    return { plaintext: Buffer.concat(parts) };
  } catch (e) {
    if (!(e instanceof AgeError)) throw e;
    messages.push(e.message, e.hint ?? '');
    return { plaintext: Buffer.concat(parts), error: e };
  }
}

/** Every AgeError message seen, checked at the end: no identity ever appears in one. */
const messages: string[] = [];

const headerLength = (file: Buffer) => file.indexOf('\n', file.indexOf('\n--- ') + 1) + 1;
const flip = (file: Buffer, at: number) => {
  const copy = Buffer.from(file);
  copy[at]! ^= 0x01;
  return copy;
};

let alice: string;
let bob: string;
let carol: string;
let aliceR: string;
let bobR: string;
let carolR: string;
let stranger: string;

beforeAll(async () => {
  [alice, bob, carol, stranger] = await Promise.all([generateX25519Identity(), generateX25519Identity(), generateX25519Identity(), generateX25519Identity()]);
  [aliceR, bobR, carolR] = await Promise.all([identityToRecipient(alice), identityToRecipient(bob), identityToRecipient(carol)]);
});

afterAll(() => {
  for (const id of [alice, bob, carol, stranger]) for (const m of messages) expect(m).not.toContain(id);
});

describe('round trips', () => {
  const SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 5_000_003];

  it.each(SIZES)('%i bytes: our streams, the library and the format agree', async (size) => {
    const data = bytes(size, size + 1);
    const file = await encrypt(data, [aliceR]);
    const header = headerLength(file);
    // header || nonce || one 16-byte tag per 64 KiB chunk, and one chunk even for an empty plaintext
    expect(file.length).toBe(header + 16 + size + 16 * Math.max(1, Math.ceil(size / CHUNK)));
    expect(file.subarray(0, 22).toString()).toBe('age-encryption.org/v1\n');

    expect((await decrypt(file, [alice])).plaintext.equals(data)).toBe(true);

    const oracle = new LibraryDecrypter();
    oracle.addIdentity(alice);
    expect(Buffer.from(await oracle.decrypt(file, 'uint8array')).equals(data)).toBe(true);
    // one write: whole chunks go straight from the input, the last one still held back until the end
    const oneWrite = await collect([data], await createEncryptStream([aliceR]));
    expect(oneWrite.length).toBe(file.length);
    expect(Buffer.from(await oracle.decrypt(oneWrite, 'uint8array')).equals(data)).toBe(true);

    const library = new LibraryEncrypter();
    library.addRecipient(aliceR);
    const theirs = Buffer.from(await library.encrypt(data));
    const ours = await decrypt(theirs, [alice], { expectedBytes: theirs.length });
    expect(ours.error).toBeUndefined();
    expect(ours.plaintext.equals(data)).toBe(true);
  });

  it('decrypts a file fed one byte at a time and in one piece', async () => {
    const data = bytes(CHUNK + 300, 9);
    const file = await encrypt(data, [aliceR]);
    expect((await decrypt(file, [alice], {}, [1])).plaintext.equals(data)).toBe(true);
    expect((await decrypt(file, [alice], {}, [file.length])).plaintext.equals(data)).toBe(true);
  });

  it('encrypts to several recipients; any one identity decrypts, and each file has a fresh key and nonce', async () => {
    const data = bytes(200_000, 3);
    const file = await encrypt(data, [aliceR, bobR, carolR]);
    const header = file.subarray(0, headerLength(file)).toString();
    expect(header.match(/^-> X25519 /gm)).toHaveLength(3);
    for (const id of [alice, bob, carol]) expect((await decrypt(file, [id])).plaintext.equals(data)).toBe(true);
    // several identities: the one that matches is found whatever the order
    expect((await decrypt(file, [stranger, carol])).plaintext.equals(data)).toBe(true);
    const again = await encrypt(data, [aliceR, bobR, carolR]);
    expect(again.subarray(headerLength(again)).equals(file.subarray(headerLength(file)))).toBe(false);
  });

  it('refuses to encrypt to nobody or to something that is not a recipient', async () => {
    await expect(createEncryptStream([])).rejects.toThrow(ConfigError);
    await expect(createEncryptStream([aliceR, 'age1notarecipient'])).rejects.toThrow(/recipient 2 \(age1notarecipient\)/);
    await expect(createEncryptStream(['ssh-ed25519 AAAAC3Nza'])).rejects.toBeInstanceOf(ConfigError);
  });
});

describe('damage is detected and named', () => {
  const data = bytes(4 * CHUNK + 1000, 42); // chunks 0–3 full, chunk 4 holds 1000 bytes and is final
  let file: Buffer;
  let payload: number; // first byte of chunk 0
  beforeAll(async () => {
    file = await encrypt(data, [aliceR, bobR]);
    payload = headerLength(file) + 16;
  });

  it('a modified header MAC', async () => {
    const macLine = file.indexOf('\n--- ') + 5;
    const copy = Buffer.from(file);
    copy[macLine + 3] = copy[macLine + 3] === 0x41 ? 0x42 : 0x41; // another base64 letter
    const r = await decrypt(copy, [alice]);
    expect(r.error?.kind).toBe('header');
    expect(r.error?.message).toMatch(/header MAC does not match .*: the header was modified/);
    expect(r.error?.exitCode).toBe(ExitCode.Failed);
    expect(r.plaintext.length).toBe(0);
  });

  it('a modified byte in a middle chunk: the chunks before it come out, that chunk never does', async () => {
    const r = await decrypt(flip(file, payload + 2 * SEALED + 500), [alice]);
    expect(r.error?.kind).toBe('chunk');
    expect(r.error?.message).toBe(
      `age: payload chunk 2 (file bytes ${payload + 2 * SEALED}–${payload + 3 * SEALED - 1}, plaintext from byte ${2 * CHUNK}) failed authentication: the backup was modified`,
    );
    expect(r.plaintext.equals(data.subarray(0, 2 * CHUNK))).toBe(true);
  });

  it('a modified tag of a full chunk', async () => {
    const r = await decrypt(flip(file, payload + SEALED - 1), [alice]);
    expect(r.error?.message).toMatch(/^age: payload chunk 0 .* failed authentication: the backup was modified$/);
    expect(r.plaintext.length).toBe(0);
  });

  it('a modified byte in the short last chunk', async () => {
    const damaged = flip(file, file.length - 20);
    const r = await decrypt(damaged, [alice]);
    expect(r.error?.kind).toBe('chunk');
    // without the recorded size a cut inside the chunk looks the same; the message says both
    expect(r.error?.message).toMatch(
      /payload chunk 4 .* failed authentication as the final chunk: the backup was modified, or it was truncated inside this chunk/,
    );
    expect(r.plaintext.equals(data.subarray(0, 4 * CHUNK))).toBe(true);
    const sized = await decrypt(damaged, [alice], { expectedBytes: file.length });
    expect(sized.error?.kind).toBe('chunk');
    expect(sized.error?.message).toMatch(/payload chunk 4 .* failed authentication: the backup was modified$/);
  });

  it('a modified byte in a full-size last chunk', async () => {
    const exact = await encrypt(bytes(3 * CHUNK, 5), [aliceR]);
    const r = await decrypt(flip(exact, exact.length - 100), [alice]);
    expect(r.error?.kind).toBe('chunk');
    expect(r.error?.message).toMatch(/^age: payload chunk 2 .* failed authentication: the backup was modified$/);
    expect(r.plaintext.length).toBe(2 * CHUNK);
  });

  it('a modified byte in the payload nonce fails the first chunk', async () => {
    const r = await decrypt(flip(file, payload - 3), [alice]);
    expect(r.error?.kind).toBe('chunk');
    expect(r.error?.message).toMatch(/payload chunk 0/);
  });

  it('swapped chunks fail (each chunk is bound to its position)', async () => {
    const copy = Buffer.from(file);
    file.copy(copy, payload, payload + SEALED, payload + 2 * SEALED);
    file.copy(copy, payload + SEALED, payload, payload + SEALED);
    const r = await decrypt(copy, [alice]);
    expect(r.error?.message).toMatch(/payload chunk 0 .* failed authentication/);
  });

  it('truncated at a chunk boundary: the last chunk is not marked final', async () => {
    const cut = file.subarray(0, payload + 3 * SEALED);
    const r = await decrypt(cut, [alice]);
    expect(r.error?.kind).toBe('truncated');
    expect(r.error?.message).toBe(`age: the file ends after payload chunk 2, which is not the final chunk (at byte ${cut.length}): truncated`);
    expect(r.plaintext.equals(data.subarray(0, 3 * CHUNK))).toBe(true);
  });

  it('truncated inside a chunk', async () => {
    const cut = file.subarray(0, payload + 3 * SEALED + 3000);
    const r = await decrypt(cut, [alice], { expectedBytes: file.length });
    expect(r.error?.kind).toBe('truncated');
    expect(r.error?.message).toMatch(
      /^age: payload chunk 3 .* failed authentication: the file ends at byte \d+, inside this chunk, while \d+ bytes were written: truncated$/,
    );
    expect(r.plaintext.equals(data.subarray(0, 3 * CHUNK))).toBe(true);
    // shorter than a tag can hold: truncated even without the recorded size
    const tiny = await decrypt(file.subarray(0, payload + 2 * SEALED + 9), [alice]);
    expect(tiny.error?.kind).toBe('truncated');
    expect(tiny.error?.message).toMatch(/^age: the file ends inside payload chunk 2 .*: truncated$/);
    // a bare tag's worth of bytes after full chunks: no chunk after the first can be that short
    const bare = await decrypt(file.subarray(0, payload + 2 * SEALED + 16), [alice]);
    expect(bare.error?.kind).toBe('truncated');
  });

  it('truncated inside the header, the nonce, right after it, or to nothing', async () => {
    for (const [cut, pattern] of [
      [40, /ends inside its header \(after 40 bytes\)/],
      [payload - 5, /ends inside the payload nonce/],
      [payload, /ends before its first payload chunk/],
      [0, /the file is empty/],
    ] as const) {
      const r = await decrypt(file.subarray(0, cut), [alice]);
      expect(r.error?.kind).toBe('truncated');
      expect(r.error?.message).toMatch(pattern);
    }
  });

  it('trailing data after the final chunk', async () => {
    // a full-size final chunk is recognised as final, so anything after it is trailing data
    const exact = await encrypt(bytes(2 * CHUNK, 6), [aliceR]);
    for (const extra of [Buffer.from('x'), bytes(70_000, 8)]) {
      const r = await decrypt(Buffer.concat([exact, extra]), [alice]);
      expect(r.error?.kind).toBe('chunk');
      expect(r.error?.message).toBe(`age: data follows the final chunk (from file byte ${exact.length}): trailing data, the backup was modified`);
      // the final chunk authenticated, but the stream failed: the consumer must not keep the output
      expect(r.plaintext.length).toBe(2 * CHUNK);
    }
    // after a short final chunk, trailing bytes land inside it; the recorded size tells what happened
    const r = await decrypt(Buffer.concat([file, Buffer.from('appended')]), [alice], { expectedBytes: file.length });
    expect(r.error?.kind).toBe('chunk');
    expect(r.error?.message).toMatch(/payload chunk 4 .* failed authentication: the file is longer than the \d+ bytes recorded when it was written/);
    const unsized = await decrypt(Buffer.concat([file, bytes(SEALED, 2)]), [alice]);
    expect(unsized.error?.kind).toBe('chunk');
  });

  it('an empty final chunk after full ones is refused even when it authenticates', async () => {
    // Built by hand with the real file key: 64 KiB sealed as not final, then an empty final chunk.
    const good = await encrypt(bytes(CHUNK, 10), [aliceR]);
    const decrypter = new LibraryDecrypter();
    decrypter.addIdentity(alice);
    const hl = headerLength(good);
    const fileKey = await decrypter.decryptHeader(good.subarray(0, hl));
    const nonce = good.subarray(hl, hl + 16);
    const key = Buffer.from(hkdfSync('sha256', fileKey, nonce, 'payload', 32));
    const seal = (pt: Buffer, counter: number, last: boolean) => {
      const n = Buffer.alloc(12);
      n[10] = counter;
      n[11] = last ? 1 : 0;
      const c = createCipheriv('chacha20-poly1305', key, n, { authTagLength: 16 });
      return Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]);
    };
    const crafted = Buffer.concat([good.subarray(0, hl + 16), seal(bytes(CHUNK, 10), 0, false), seal(Buffer.alloc(0), 1, true)]);
    const r = await decrypt(crafted, [alice]);
    expect(r.error?.kind).toBe('chunk');
    expect(r.error?.message).toMatch(/payload chunk 1 .* is an empty final chunk after non-empty ones/);
    // and the same bytes with a final non-empty chunk decrypt: the crafting itself is right
    const fine = Buffer.concat([good.subarray(0, hl + 16), seal(bytes(CHUNK, 10), 0, false), seal(Buffer.from('tail'), 1, true)]);
    expect((await decrypt(fine, [alice])).plaintext.toString('latin1').endsWith('tail')).toBe(true);
  });
});

describe('headers and identities', () => {
  let file: Buffer;
  beforeAll(async () => {
    file = await encrypt(bytes(1000, 4), [aliceR, bobR]);
  });

  it('no matching identity: names the fingerprints, never the identity', async () => {
    const r = await decrypt(file, [stranger, carol]);
    expect(r.error?.kind).toBe('no-identity');
    expect(r.error?.exitCode).toBe(ExitCode.Usage);
    const mine = [recipientFingerprint(await identityToRecipient(stranger)), recipientFingerprint(carolR)];
    expect(r.error?.message).toBe(
      `age: no identity matches any recipient stanza of the header (2 X25519 stanzas; the identities given belong to ${mine.join(', ')})`,
    );
    const recorded = [
      { name: 'ops', fingerprint: recipientFingerprint(aliceR) },
      { name: 'escrow', fingerprint: recipientFingerprint(bobR) },
    ];
    const named = await decrypt(file, [carol], { recipients: recorded });
    expect(named.error?.message).toBe(
      `age: no identity matches any recipient stanza of the header (the backup was encrypted to ops ${recorded[0]!.fingerprint}, escrow ${recorded[1]!.fingerprint}; the identities given belong to ${mine[1]})`,
    );
    expect(r.plaintext.length + named.plaintext.length).toBe(0);
  });

  it('a modified stanza is a modified header when the identity is one the backup was encrypted to', async () => {
    const stanzaBody = file.indexOf('\n', file.indexOf('-> X25519 ')) + 1;
    const copy = Buffer.from(file);
    copy[stanzaBody + 5] = copy[stanzaBody + 5] === 0x41 ? 0x42 : 0x41;
    const r = await decrypt(copy, [alice], { recipients: [{ name: 'ops', fingerprint: recipientFingerprint(aliceR) }] });
    expect(r.error?.kind).toBe('header');
    expect(r.error?.message).toMatch(/recipient stanzas do not open with the identity of a recipient the backup was encrypted to .*: the header was modified/);
  });

  it('recognises what is not a binary age v1 file', async () => {
    const cases = [
      [bytes(5000, 77), /not an age file/],
      [Buffer.from(armor.encode(new Uint8Array(file))), /ASCII-armored/],
      [Buffer.from('-----BEGIN'), /not an age file/],
      [Buffer.from('hello\n'), /not an age file/],
      [Buffer.concat([Buffer.from('age-encryption.org/v2\n'), file.subarray(22)]), /unsupported format version "age-encryption.org\/v2"/],
      [Buffer.from(`age-encryption.org/v1\n-> X25519 abc\n${'A'.repeat(2_000_000)}`), /no header end .* within the first/],
      [Buffer.concat([Buffer.from('age-encryption.org/v1\n--- '), file.subarray(file.indexOf('\n--- ') + 5)]), /no recipient stanza/],
      [
        Buffer.concat([file.subarray(0, 22), Buffer.from('-> X25519 short\n\n'), file.subarray(file.indexOf('\n--- ') + 1)]),
        /header \(bytes 0–\d+\) is malformed/,
      ],
    ] as const;
    for (const [input, pattern] of cases) {
      const r = await decrypt(input, [alice]);
      expect(r.error?.kind).toBe('header');
      expect(r.error?.message).toMatch(pattern);
    }
  });

  it('refuses an invalid identity without quoting it', () => {
    const bad = alice.slice(0, -1) + (alice.endsWith('Q') ? 'P' : 'Q');
    expect(() => createDecryptStream([alice, bad])).toThrow(/identity 2 of 2 is not a valid age identity \(not shown: it is secret\)/);
    try {
      createDecryptStream([bad]);
    } catch (e) {
      messages.push((e as Error).message);
      expect((e as Error).message).not.toContain(bad);
    }
    expect(() => createDecryptStream([])).toThrow(ConfigError);
  });

  it('recipientFingerprint is the first 16 hex digits of SHA-256 of the recipient', () => {
    expect(recipientFingerprint(aliceR)).toBe(createHash('sha256').update(aliceR).digest('hex').slice(0, 16));
    expect(recipientFingerprint(aliceR)).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe('parseIdentities and loadIdentities', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dbops-age-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const expectSecretFree = (fn: () => unknown, pattern: RegExp, ...secrets: string[]) => {
    let error: unknown;
    try {
      fn();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const { message, hint } = error as ConfigError;
    messages.push(message, hint ?? '');
    expect(message).toMatch(pattern);
    for (const s of secrets) expect(`${message} ${hint}`).not.toContain(s);
  };

  it('reads identity lines, skipping comments and blank lines (age-keygen output, CRLF)', () => {
    const text = `# created: 2026-01-01T00:00:00Z\r\n# public key: ${aliceR}\r\n${alice}\r\n\r\n  ${bob}  \n# ${carol} is commented out\n`;
    expect(parseIdentities(text, 'key.txt')).toEqual([alice, bob]);
  });

  it('names the source and the line of a malformed line, never the line', () => {
    const typo = `${alice.slice(0, 30)}b${alice.slice(31)}`;
    expectSecretFree(
      () => parseIdentities(`# ok\n${bob}\n${typo}\n`, 'identity file /keys/backup.txt'),
      /^age: line 3 of identity file \/keys\/backup.txt is not an age identity; the line is not shown/,
      typo,
      bob,
    );
    expectSecretFree(
      () => parseIdentities(aliceR, 'DBOPS_BACKUP_IDENTITY'),
      /line 1 of DBOPS_BACKUP_IDENTITY is not an age identity \(it is a recipient, the public half/,
    );
    expectSecretFree(() => parseIdentities('# only a comment\n\n', 'key.txt'), /^age: key.txt holds no age identity$/);
  });

  it('the file wins over the variable; the variable may hold several identities; each becomes a secret', async () => {
    const file = join(dir, 'key.txt');
    await writeFile(file, `# public key: ${aliceR}\n${alice}\n`);
    expect(await loadIdentities({ identityFile: file, env: { DBOPS_BACKUP_IDENTITY: bob }, envName: 'DBOPS_BACKUP_IDENTITY' })).toEqual([alice]);
    expect(await loadIdentities({ env: { KEYS: `${bob}\n${carol}\n` }, envName: 'KEYS' })).toEqual([bob, carol]);
    for (const id of [alice, bob, carol]) expect(redact(`key ${id} here`)).toBe('key *** here');
  });

  it('says what to set when there is neither a file nor the variable', async () => {
    const e = await loadIdentities({ identityFile: undefined, env: { DBOPS_BACKUP_IDENTITY: '  ' }, envName: 'DBOPS_BACKUP_IDENTITY' }).catch(
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).exitCode).toBe(2);
    expect((e as ConfigError).message).toMatch(/neither --identity-file nor the environment variable DBOPS_BACKUP_IDENTITY is set/);
    expect((e as ConfigError).hint).toMatch(/Set DBOPS_BACKUP_IDENTITY .* or pass --identity-file/);
  });

  it('a missing file and a bad checksum are ConfigErrors without the identity', async () => {
    await expect(loadIdentities({ identityFile: join(dir, 'missing.txt'), env: {}, envName: 'X' })).rejects.toThrow(
      /cannot read identity file .*missing\.txt \(ENOENT\)/,
    );
    const bad = alice.slice(0, -1) + (alice.endsWith('Q') ? 'P' : 'Q');
    const e = (await loadIdentities({ env: { X: `${bob}\n${bad}` }, envName: 'X' }).catch((x: unknown) => x)) as ConfigError;
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message).toMatch(/^age: line 2 of environment variable X is not a valid age identity \(its checksum does not match\)/);
    expect(`${e.message} ${e.hint}`).not.toContain(bad);
    messages.push(e.message);
  });
});
