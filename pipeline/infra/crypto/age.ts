/**
 * Streaming age v1 (https://c2sp.org/age) encryption and decryption of backups.
 *
 * Why the payload is hand-written: the npm `age-encryption` library (FiloSottile/typage) encrypts the payload
 * with pure-JavaScript ChaCha20-Poly1305 at about 60–90 MiB/s, while `pg_dump -Fc -Z1` produces about
 * 150 MiB/s, so a backup would run at the speed of the encryption. OpenSSL's ChaCha20-Poly1305 through
 * node:crypto is 6–13× faster, in the range of the Go `age` CLI (test/bench/age.ts). The split:
 *
 * - everything about keys stays in the library: recipient parsing, the X25519 (or hybrid) stanzas, the header
 *   MAC and its verification, identity parsing and file-key unwrapping. Encryption asks the library's
 *   `Encrypter` for a complete file of empty plaintext, keeps its header and learns the file key through an
 *   extra `Recipient` that wraps nothing (it only observes the key the library draws); decryption hands the
 *   header to `Decrypter.decryptHeader`, which returns the file key after checking the MAC.
 * - only the STREAM payload is implemented here: 16-byte random nonce, payload key = HKDF-SHA-256(file key,
 *   salt = nonce, info "payload"), 64 KiB chunks sealed with ChaCha20-Poly1305 under the 12-byte nonce
 *   (11-byte big-endian chunk counter || 0x01 on the final chunk, 0x00 before). It is small, fully specified,
 *   and checked in the tests against the library and the `age` CLI in both directions.
 *
 * The output is a standard binary age file: `age -d -i key.txt` decrypts it.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';
import { Decrypter, Encrypter, identityToRecipient, type Recipient } from 'age-encryption';
import { ConfigError, DbopsError, ExitCode } from '../../core/errors.ts';
import { registerSecret } from '../../core/redact.ts';
import { noun } from '../../core/format.ts';

// Tests and the benchmark use the library as the reference implementation; everything else uses the streams below.
export { generateX25519Identity, identityToRecipient } from 'age-encryption';
export { Decrypter as LibraryDecrypter, Encrypter as LibraryEncrypter } from 'age-encryption';

const VERSION_LINE = 'age-encryption.org/v1\n';
const ARMOR_LINE = '-----BEGIN AGE ENCRYPTED FILE-----';
const CHUNK = 64 * 1024;
const TAG = 16;
const SEALED = CHUNK + TAG;
const NONCE = 16;
/** A header is ~100 bytes per X25519 stanza; a file that has not ended its header by here is not an age file. */
const MAX_HEADER = 1024 * 1024;
/** 6 counter bytes are written; 2^48 chunks of 64 KiB is 16 EiB. */
const MAX_CHUNKS = 2 ** 48;

export type AgeErrorKind = 'header' | 'no-identity' | 'chunk' | 'truncated';

const HINTS: Record<AgeErrorKind, string> = {
  header: 'The file is not an intact age file: restore it from another copy (dbops backup replicate copies verified backups between targets).',
  'no-identity':
    'Pass the identity of one of the recipients the backup was encrypted to (--identity-file, or the variable named by encryption.identity_env in policies/backups.yaml).',
  chunk: 'The ciphertext was modified after it was written: restore this backup from another copy and find out what changed the stored file.',
  truncated: 'The file is shorter than what was encrypted (an interrupted upload or copy): use another copy of this backup.',
};

/**
 * A check of the age format failed. Damage (header, chunk, truncated) exits 1 like any failed verification;
 * `no-identity` exits 2 because the fix is a different identity, not a different file.
 */
export class AgeError extends DbopsError {
  override readonly exitCode: ExitCode;
  readonly kind: AgeErrorKind;
  constructor(kind: AgeErrorKind, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, { hint: options.hint ?? HINTS[kind], cause: options.cause });
    this.kind = kind;
    this.exitCode = kind === 'no-identity' ? ExitCode.Usage : ExitCode.Failed;
  }
}

/** First 16 hex digits of SHA-256 of the recipient string: short, public, stable (recorded in manifests). */
export function recipientFingerprint(recipient: string): string {
  return createHash('sha256').update(recipient).digest('hex').slice(0, 16);
}

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e)).slice(0, 200);

const payloadKey = (fileKey: Uint8Array, nonce: Uint8Array): Buffer => Buffer.from(hkdfSync('sha256', fileKey, nonce, 'payload', 32));

function chunkNonce(counter: number, last: boolean): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeUIntBE(counter, 5, 6);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

// ---------------------------------------------------------------------------------------------------------
// Encryption

/**
 * The header for `recipients` and the file key it wraps. The library draws the key, builds every stanza and
 * the MAC; the observer recipient adds no stanza, so the header is exactly what the library would write.
 */
async function makeHeader(recipients: readonly string[]): Promise<{ header: Buffer; fileKey: Buffer }> {
  const encrypter = new Encrypter();
  recipients.forEach((recipient, i) => {
    try {
      encrypter.addRecipient(recipient);
    } catch (e) {
      throw new ConfigError(`age: recipient ${i + 1} (${recipient}) is not an age recipient the encryption supports: ${errorText(e)}`, {
        hint: 'Use an X25519 recipient (age1…, 62 characters) as printed by `age-keygen -y key.txt`.',
      });
    }
  });
  let fileKey: Buffer | undefined;
  const observer: Recipient = {
    wrapFileKey(key) {
      fileKey = Buffer.from(key);
      return [];
    },
  };
  encrypter.addRecipient(observer);
  const file = Buffer.from(await encrypter.encrypt(new Uint8Array(0)));
  // An empty plaintext is one empty final chunk: the file is header || 16-byte nonce || 16-byte tag.
  const header = file.subarray(0, file.length - NONCE - TAG);
  const macLine = header.lastIndexOf('\n---', header.length - 2);
  if (
    !fileKey ||
    fileKey.length !== 16 ||
    header.at(-1) !== 0x0a ||
    macLine < 0 ||
    !header.subarray(0, VERSION_LINE.length).equals(Buffer.from(VERSION_LINE))
  ) {
    throw new Error('age: the age-encryption library produced a file of an unexpected shape; its version may have changed');
  }
  // A backup nobody can decrypt is the worst outcome: prove the observed key is the one the header MAC uses.
  const hmacKey = Buffer.from(hkdfSync('sha256', fileKey, Buffer.alloc(0), 'header', 32));
  const mac = createHmac('sha256', hmacKey)
    .update(header.subarray(0, macLine + 4))
    .digest('base64')
    .replace(/=+$/, '');
  if (header.subarray(macLine + 5, header.length - 1).toString('latin1') !== mac) {
    throw new Error('age: the file key seen by the observer recipient does not match the header MAC; the age-encryption library changed');
  }
  return { header: Buffer.from(header), fileKey };
}

class EncryptStream extends Transform {
  readonly #key: Buffer;
  /** Plaintext waiting for a chunk to fill. A full chunk stays here until more input shows it is not the last. */
  readonly #stage = Buffer.allocUnsafe(CHUNK);
  #fill = 0;
  #counter = 0;

  constructor(prefix: Buffer, key: Buffer) {
    super();
    this.#key = key;
    this.push(prefix);
  }

  /** Pushes one sealed chunk. Ciphertext and tag go out as two buffers: joining them halved the throughput. */
  #seal(plaintext: Buffer, last: boolean): void {
    if (this.#counter >= MAX_CHUNKS) throw new Error('age: too many chunks for one file');
    const cipher = createCipheriv('chacha20-poly1305', this.#key, chunkNonce(this.#counter++, last), { authTagLength: TAG });
    this.push(cipher.update(plaintext));
    cipher.final();
    this.push(cipher.getAuthTag());
  }

  override _transform(data: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    try {
      let at = 0;
      while (at < data.length) {
        if (this.#fill === CHUNK) {
          this.#seal(this.#stage, false);
          this.#fill = 0;
        }
        // Whole chunks straight from the input, without copying, as long as one more byte follows them.
        if (this.#fill === 0 && data.length - at > CHUNK) {
          this.#seal(data.subarray(at, at + CHUNK), false);
          at += CHUNK;
          continue;
        }
        const n = Math.min(CHUNK - this.#fill, data.length - at);
        data.copy(this.#stage, this.#fill, at, at + n);
        this.#fill += n;
        at += n;
      }
      done();
    } catch (e) {
      done(e as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      // Empty only when the whole plaintext is empty: every non-final seal above left at least one byte behind.
      this.#seal(this.#stage.subarray(0, this.#fill), true);
      this.#key.fill(0);
      done();
    } catch (e) {
      done(e as Error);
    }
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    this.#key.fill(0);
    done(error);
  }
}

/**
 * Plaintext in, a standard binary age v1 file out, encrypted to every recipient (any one identity decrypts).
 * The header is written as soon as the stream is read; memory stays at one 64 KiB chunk.
 */
export async function createEncryptStream(recipients: readonly string[]): Promise<Transform> {
  if (recipients.length === 0) {
    throw new ConfigError('age: no recipients to encrypt the backup to', {
      hint: 'Add at least one age X25519 recipient (age1…) under encryption.recipients in policies/backups.yaml.',
    });
  }
  const { header, fileKey } = await makeHeader(recipients);
  const nonce = randomBytes(NONCE);
  const key = payloadKey(fileKey, nonce);
  fileKey.fill(0);
  return new EncryptStream(Buffer.concat([header, nonce]), key);
}

// ---------------------------------------------------------------------------------------------------------
// Decryption

export interface DecryptOptions {
  /**
   * Size of the whole file as recorded when it was written (the manifest's ciphertextBytes). Without it a short
   * final chunk that fails authentication could be a modified chunk or a file cut inside a chunk; with it the
   * error says which.
   */
  expectedBytes?: number | undefined;
  /** Recipients the file was encrypted to (the manifest's records), named when no identity matches. */
  recipients?: readonly { name?: string | undefined; fingerprint: string }[] | undefined;
}

/** What the header says about its stanzas, for messages: "2 X25519 stanzas". */
function describeStanzas(header: string): { count: number; text: string } {
  const types = new Map<string, number>();
  for (const line of header.split('\n')) {
    if (line.startsWith('-> ')) {
      const type = line.split(' ')[1] ?? '?';
      types.set(type, (types.get(type) ?? 0) + 1);
    }
  }
  const count = [...types.values()].reduce((a, b) => a + b, 0);
  return { count, text: [...types].map(([type, n]) => `${n} ${type} ${noun(n, 'stanza')}`).join(', ') };
}

class DecryptStream extends Transform {
  readonly #decrypter: Decrypter;
  readonly #identities: readonly string[];
  readonly #options: DecryptOptions;
  #state: 'header' | 'payload' | 'done' = 'header';
  /** Bytes before the payload chunks (header and nonce) while they are collected. */
  #head: Buffer = Buffer.alloc(0);
  #headerBytes = 0;
  #key: Buffer | undefined;
  readonly #stage = Buffer.allocUnsafe(SEALED);
  #fill = 0;
  #counter = 0;
  /** Input bytes seen so far. */
  #seen = 0;

  constructor(decrypter: Decrypter, identities: readonly string[], options: DecryptOptions) {
    super();
    this.#decrypter = decrypter;
    this.#identities = identities;
    this.#options = options;
  }

  override _transform(data: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.#seen += data.length;
    if (this.#state !== 'header') {
      try {
        this.#payload(data);
        done();
      } catch (e) {
        done(e as Error);
      }
      return;
    }
    this.#header(data).then(
      () => done(),
      (e: unknown) => done(e as Error),
    );
  }

  override _flush(done: TransformCallback): void {
    try {
      this.#end();
      done();
    } catch (e) {
      done(e as Error);
    }
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    this.#key?.fill(0);
    done(error);
  }

  async #header(data: Buffer): Promise<void> {
    this.#head = this.#head.length === 0 ? data : Buffer.concat([this.#head, data]);
    const head = this.#head;
    const version = this.#versionCheck(head, false);
    if (version === 'wait') return;
    if (version) throw version;
    const macLine = head.indexOf('\n--- ');
    const end = macLine < 0 ? -1 : head.indexOf(0x0a, macLine + 5);
    if (end < 0) {
      if (head.length > MAX_HEADER)
        throw new AgeError('header', `age: no header end (a "--- " MAC line) within the first ${MAX_HEADER} bytes: not an age file`);
      return;
    }
    this.#headerBytes = end + 1;
    if (head.length < this.#headerBytes + NONCE) return;
    const header = head.subarray(0, this.#headerBytes);
    const fileKey = await this.#fileKey(header);
    this.#key = payloadKey(fileKey, head.subarray(this.#headerBytes, this.#headerBytes + NONCE));
    fileKey.fill(0);
    this.#state = 'payload';
    const rest = head.subarray(this.#headerBytes + NONCE);
    this.#head = Buffer.alloc(0);
    this.#payload(rest);
  }

  /**
   * undefined while the input can still be age v1; 'wait' while a few more bytes would tell an armored file or
   * another version apart from garbage; otherwise the error to report.
   */
  #versionCheck(head: Buffer, ended: boolean): AgeError | 'wait' | undefined {
    const n = Math.min(head.length, VERSION_LINE.length);
    if (head.subarray(0, n).equals(Buffer.from(VERSION_LINE, 'latin1').subarray(0, n))) return undefined;
    if (!ended) {
      const text = head.subarray(0, 128).toString('latin1');
      if (head.length < ARMOR_LINE.length && ARMOR_LINE.startsWith(text)) return 'wait';
      if (head.length < 128 && /^age-encryption\.org\/[\x21-\x7e]*$/.test(text)) return 'wait';
    }
    const firstLine = head.subarray(0, Math.max(0, head.indexOf(0x0a))).toString('latin1');
    if (head.subarray(0, ARMOR_LINE.length).toString('latin1') === ARMOR_LINE) {
      return new AgeError('header', 'age: the file is ASCII-armored (-----BEGIN AGE ENCRYPTED FILE-----); backups are binary age files', {
        hint: 'Decrypt it with `age -d`, or store backups as written by dbops (binary).',
      });
    }
    if (/^age-encryption\.org\/[\x21-\x7e]+$/.test(firstLine)) {
      return new AgeError('header', `age: unsupported format version "${firstLine}" (only age-encryption.org/v1 is known)`);
    }
    return new AgeError('header', 'age: the file is not an age file (it does not start with "age-encryption.org/v1")');
  }

  async #fileKey(header: Buffer): Promise<Uint8Array> {
    const text = header.toString('latin1');
    const stanzas = describeStanzas(text);
    if (stanzas.count === 0) throw new AgeError('header', 'age: the header has no recipient stanza: not a valid age v1 file');
    try {
      return await this.#decrypter.decryptHeader(Uint8Array.from(header));
    } catch (e) {
      const message = errorText(e);
      if (/invalid header HMAC/i.test(message)) {
        throw new AgeError('header', `age: the header MAC does not match the header (bytes 0–${header.length - 1}): the header was modified`, { cause: e });
      }
      if (/no identity matched/i.test(message)) throw await this.#noIdentity(stanzas.text, e);
      throw new AgeError('header', `age: the header (bytes 0–${header.length - 1}) is malformed: ${message}`, { cause: e });
    }
  }

  async #noIdentity(stanzas: string, cause: unknown): Promise<AgeError> {
    const mine = await Promise.all(this.#identities.map(async (identity) => recipientFingerprint(await identityToRecipient(identity))));
    const recorded = this.#options.recipients;
    const tried = `the identities given belong to ${mine.join(', ')}`;
    if (recorded && recorded.length > 0) {
      const named = recorded.map((r) => (r.name ? `${r.name} ${r.fingerprint}` : r.fingerprint)).join(', ');
      // An identity of a recorded recipient must open one stanza; when it does not, the stanzas were changed.
      if (recorded.some((r) => mine.includes(r.fingerprint))) {
        return new AgeError(
          'header',
          `age: the header's recipient stanzas do not open with the identity of a recipient the backup was encrypted to (${named}; ${tried}): the header was modified`,
          { cause },
        );
      }
      return new AgeError('no-identity', `age: no identity matches any recipient stanza of the header (the backup was encrypted to ${named}; ${tried})`, {
        cause,
      });
    }
    return new AgeError('no-identity', `age: no identity matches any recipient stanza of the header (${stanzas}; ${tried})`, { cause });
  }

  #open(sealed: Buffer, last: boolean): Buffer | undefined {
    const decipher = createDecipheriv('chacha20-poly1305', this.#key!, chunkNonce(this.#counter, last), { authTagLength: TAG });
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG));
    const plaintext = decipher.update(sealed.subarray(0, sealed.length - TAG));
    try {
      decipher.final();
    } catch {
      return undefined;
    }
    return plaintext;
  }

  #chunkStart(counter = this.#counter): number {
    return this.#headerBytes + NONCE + counter * SEALED;
  }

  #where(length: number): string {
    const start = this.#chunkStart();
    return `payload chunk ${this.#counter} (file bytes ${start}–${start + length - 1}, plaintext from byte ${this.#counter * CHUNK})`;
  }

  /** A chunk failed authentication; with the recorded size, tell a modified file from a cut or extended one. */
  #failed(length: number, atEnd: boolean): AgeError {
    const expected = this.#options.expectedBytes;
    const what = `age: ${this.#where(length)} failed authentication`;
    if (expected !== undefined && this.#seen > expected && this.#chunkStart() + length > expected) {
      return new AgeError(
        'chunk',
        `${what}: the file is longer than the ${expected} bytes recorded when it was written, so data was added after the final chunk or the backup was modified`,
      );
    }
    if (expected !== undefined && atEnd && this.#seen < expected) {
      return new AgeError('truncated', `${what}: the file ends at byte ${this.#seen}, inside this chunk, while ${expected} bytes were written: truncated`);
    }
    if (expected === undefined && atEnd && length < SEALED) {
      return new AgeError('chunk', `${what} as the final chunk: the backup was modified, or it was truncated inside this chunk`);
    }
    return new AgeError('chunk', `${what}: the backup was modified`);
  }

  #payload(data: Buffer): void {
    let at = 0;
    while (at < data.length) {
      if (this.#state === 'done') {
        throw new AgeError('chunk', `age: data follows the final chunk (from file byte ${this.#chunkStart()}): trailing data, the backup was modified`);
      }
      if (this.#fill === 0 && data.length - at >= SEALED) {
        this.#full(data.subarray(at, at + SEALED));
        at += SEALED;
        continue;
      }
      const n = Math.min(SEALED - this.#fill, data.length - at);
      data.copy(this.#stage, this.#fill, at, at + n);
      this.#fill += n;
      at += n;
      if (this.#fill === SEALED) {
        this.#full(this.#stage);
        this.#fill = 0;
      }
    }
  }

  /** A full-size chunk is final or not: try the likely case first, as age does, instead of waiting for more input. */
  #full(sealed: Buffer): void {
    let plaintext = this.#open(sealed, false);
    if (!plaintext) {
      plaintext = this.#open(sealed, true);
      if (!plaintext) throw this.#failed(SEALED, false);
      this.#state = 'done';
    }
    this.push(plaintext);
    this.#counter++;
  }

  #end(): void {
    if (this.#state === 'done') return;
    if (this.#state === 'header') {
      if (this.#seen === 0) throw new AgeError('truncated', 'age: the file is empty: truncated');
      const version = this.#versionCheck(this.#head, true);
      if (version instanceof AgeError) throw version;
      const where = this.#headerBytes === 0 ? 'inside its header' : 'inside the payload nonce that follows the header';
      throw new AgeError('truncated', `age: the file ends ${where} (after ${this.#seen} bytes): truncated`);
    }
    const length = this.#fill;
    if (length === 0) {
      const after = this.#counter === 0 ? 'before its first payload chunk' : `after payload chunk ${this.#counter - 1}, which is not the final chunk`;
      throw new AgeError('truncated', `age: the file ends ${after} (at byte ${this.#seen}): truncated`);
    }
    const plaintext = length < TAG ? undefined : this.#open(this.#stage.subarray(0, length), true);
    // Shorter than a tag, or a bare tag after other chunks: no chunk can be that short; the file was cut.
    if (!plaintext && (length < TAG || (length === TAG && this.#counter > 0))) {
      throw new AgeError('truncated', `age: the file ends inside ${this.#where(length)}, before its final chunk: truncated`);
    }
    if (!plaintext) throw this.#failed(length, true);
    if (plaintext.length === 0 && this.#counter > 0) {
      throw new AgeError(
        'chunk',
        `age: ${this.#where(length)} is an empty final chunk after non-empty ones, which age does not allow: the backup was modified`,
      );
    }
    this.push(plaintext);
    this.#counter++;
    this.#state = 'done';
  }
}

/**
 * An age file in, its plaintext out. Every chunk is pushed only after its tag verified, but a file damaged
 * later still fails after earlier chunks went out: write the output somewhere that becomes real only once the
 * stream finished without error. Errors are AgeError naming the failed check.
 */
export function createDecryptStream(identities: readonly string[], options: DecryptOptions = {}): Transform {
  if (identities.length === 0) {
    throw new ConfigError('age: no identity to decrypt with', {
      hint: 'Pass --identity-file, or set the variable named by encryption.identity_env in policies/backups.yaml.',
    });
  }
  const decrypter = new Decrypter();
  identities.forEach((identity, i) => {
    try {
      decrypter.addIdentity(identity);
    } catch {
      // The library's message can quote the identity; it is a secret.
      throw new ConfigError(`age: identity ${i + 1} of ${identities.length} is not a valid age identity (not shown: it is secret)`, {
        hint: 'An identity is one AGE-SECRET-KEY-1… line as written by age-keygen.',
      });
    }
  });
  return new DecryptStream(decrypter, identities, options);
}

// ---------------------------------------------------------------------------------------------------------
// Identities

const IDENTITY = /^AGE-SECRET-KEY-(PQ-)?1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}$/;

function identityLines(text: string, source: string): { line: number; identity: string }[] {
  const found: { line: number; identity: string }[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    if (!IDENTITY.test(line)) {
      // Never quote the line: a mistyped identity is still a secret.
      const looksLike = line.startsWith('age1')
        ? ' (it is a recipient, the public half; the identity is the AGE-SECRET-KEY-1… line)'
        : line.startsWith('-----BEGIN')
          ? ' (it looks like an SSH or PEM key; dbops uses age X25519 identities)'
          : '';
      throw new ConfigError(`age: line ${i + 1} of ${source} is not an age identity${looksLike}; the line is not shown because it may be secret`, {
        hint: 'An identity file holds AGE-SECRET-KEY-1… lines (as written by age-keygen); blank lines and # comments are allowed.',
      });
    }
    found.push({ line: i + 1, identity: line });
  });
  if (found.length === 0) {
    throw new ConfigError(`age: ${source} holds no age identity`, {
      hint: 'An identity file holds AGE-SECRET-KEY-1… lines (as written by age-keygen); blank lines and # comments are allowed.',
    });
  }
  return found;
}

/** The identities in an identity file's text (AGE-SECRET-KEY-1… lines; blank lines and # comments ignored). */
export function parseIdentities(text: string, source: string): string[] {
  return identityLines(text, source).map((l) => l.identity);
}

/**
 * The identities to decrypt backups with: `identityFile` when given, else the environment variable (which may
 * hold several lines). Each one is registered as a secret, so it is masked wherever it might be printed.
 */
export async function loadIdentities({
  identityFile,
  env,
  envName,
}: {
  identityFile?: string | undefined;
  env: NodeJS.ProcessEnv;
  envName: string;
}): Promise<string[]> {
  let text: string;
  let source: string;
  if (identityFile !== undefined) {
    source = `identity file ${identityFile}`;
    try {
      text = await readFile(identityFile, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new ConfigError(`age: cannot read ${source}${code ? ` (${code})` : ''}`, {
        hint: `Pass --identity-file with the path of an age identity file, or leave it out and set ${envName}.`,
        cause: e,
      });
    }
  } else {
    const value = env[envName];
    if (value === undefined || value.trim() === '') {
      throw new ConfigError(`age: no identity to decrypt backups with: neither --identity-file nor the environment variable ${envName} is set`, {
        hint: `Set ${envName} to the contents of an age identity file (AGE-SECRET-KEY-1…), or pass --identity-file <path>.`,
      });
    }
    text = value;
    source = `environment variable ${envName}`;
  }
  const lines = identityLines(text, source);
  for (const { identity } of lines) registerSecret(identity);
  for (const { line, identity } of lines) {
    try {
      await identityToRecipient(identity);
    } catch {
      throw new ConfigError(
        `age: line ${line} of ${source} is not a valid age identity (its checksum does not match); the line is not shown because it is secret`,
        {
          hint: 'Copy the AGE-SECRET-KEY-1… line again from the identity file written by age-keygen.',
        },
      );
    }
  }
  return lines.map((l) => l.identity);
}
