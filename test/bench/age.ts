// What age encryption costs a backup: 256 MiB through dbops's streams (library header + node:crypto payload),
// through the npm library's own streaming API (pure-JavaScript ChaCha20-Poly1305) and through the `age` CLI,
// each way. The JavaScript paths read plaintext from memory in 64 KiB pieces (what pg_dump's pipe delivers;
// the bytes are in the process anyway for SHA-256 and upload) and the CLI reads a page-cached file and writes
// /dev/null, so each figure is the cost of the encryption layer itself; one extra line shows our encryption
// fed by a file read, next to the file read alone. Goal: at least 4× the library (the reason the payload is
// ours) and at least half the CLI's throughput, both ways; pg_dump -Fc -Z1 produces about 150 MiB/s.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  createDecryptStream,
  createEncryptStream,
  generateX25519Identity,
  identityToRecipient,
  LibraryDecrypter,
  LibraryEncrypter,
} from '../../pipeline/infra/crypto/age.ts';
import type { BenchResult } from './run.ts';

const MIB = 1024 * 1024;
const SIZE_MIB = Number(process.env['BENCH_AGE_MIB'] ?? 256);
const RUNS = 3;
const GOAL_LIBRARY = 4;
const GOAL_CLI = 0.5;
const PIECE = 64 * 1024;

const discard = () => new Writable({ write: (_c, _e, done) => done(), writev: (_c, done) => done() });

/** Wall-clock and CPU time of one run (CPU: this process, or the child for the CLI). */
interface Run {
  wallMs: number;
  cpuMs: number;
}

/** Median of `runs` by wall clock; CPU time is what the shared machine's other load cannot inflate much. */
async function timed(runs: number, fn: () => Promise<number | void>): Promise<Run> {
  const all: Run[] = [];
  for (let i = 0; i < runs; i++) {
    const cpu = process.cpuUsage();
    const started = performance.now();
    const childCpu = await fn();
    const wallMs = performance.now() - started;
    const used = process.cpuUsage(cpu);
    all.push({ wallMs, cpuMs: typeof childCpu === 'number' ? childCpu : (used.user + used.system) / 1000 });
  }
  return all.sort((a, b) => a.wallMs - b.wallMs)[Math.floor(all.length / 2)]!;
}

/** Runs the age CLI under bash and returns its CPU time (user + system) in ms, from bash's `times`. */
function cli(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', 'age "$@" || exit $?; times', 'age', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`age ${args.join(' ')} exited ${code}: ${stderr}`));
      // second line: the children's user and system time, e.g. "0m0.412s 0m0.051s"
      const times = [...(stdout.trim().split('\n')[1] ?? '').matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60_000 + Number(m[2]) * 1000);
      resolve(times.reduce((a, b) => a + b, 0));
    });
  });
}

/** `total` bytes of `buffer` (repeated) in 64 KiB pieces, as a pipe from pg_dump delivers them. */
function pieces(buffer: Buffer, total: number): Readable {
  return Readable.from(
    (function* () {
      for (let at = 0; at < total; at += PIECE) {
        const offset = at % buffer.length;
        yield buffer.subarray(offset, offset + Math.min(PIECE, total - at, buffer.length - offset));
      }
    })(),
  );
}

export async function bench(): Promise<BenchResult> {
  const dir = await mkdtemp(join(tmpdir(), 'dbops-bench-age-'));
  try {
    const identity = await generateX25519Identity();
    const recipient = await identityToRecipient(identity);
    const key = join(dir, 'key.txt');
    await writeFile(key, `${identity}\n`, { mode: 0o600 });
    const size = SIZE_MIB * MIB;
    const block = randomBytes(MIB);
    const plain = join(dir, 'plain.bin');
    await pipeline(pieces(block, size), createWriteStream(plain));
    const parts: Buffer[] = [];
    await pipeline(pieces(block, size), await createEncryptStream([recipient]), new Writable({ write: (c: Buffer, _e, done) => (parts.push(c), done()) }));
    const ciphertext = Buffer.concat(parts);
    parts.length = 0;
    const sealed = join(dir, 'plain.bin.age');
    await writeFile(sealed, ciphertext);

    const copy = await timed(RUNS, () => pipeline(pieces(block, size), discard()));
    const oursEnc = await timed(RUNS, async () => pipeline(pieces(block, size), await createEncryptStream([recipient]), discard()));
    const oursDec = await timed(RUNS, () => pipeline(pieces(ciphertext, ciphertext.length), createDecryptStream([identity]), discard()));
    const oursFile = await timed(RUNS, async () => pipeline(createReadStream(plain), await createEncryptStream([recipient]), discard()));
    const fileRead = await timed(RUNS, () => pipeline(createReadStream(plain), discard()));
    const cliEnc = await timed(RUNS, () => cli(['-r', recipient, '-o', '/dev/null', plain]));
    const cliDec = await timed(RUNS, () => cli(['-d', '-i', key, '-o', '/dev/null', sealed]));
    const libEnc = await timed(1, async () => {
      const e = new LibraryEncrypter();
      e.addRecipient(recipient);
      await (await e.encrypt(Readable.toWeb(pieces(block, size)) as ReadableStream<Uint8Array>)).pipeTo(Writable.toWeb(discard()));
    });
    const libDec = await timed(1, async () => {
      const d = new LibraryDecrypter();
      d.addIdentity(identity);
      await (await d.decrypt(Readable.toWeb(pieces(ciphertext, ciphertext.length)) as ReadableStream<Uint8Array>)).pipeTo(Writable.toWeb(discard()));
    });

    const rate = (r: Run) => Number((SIZE_MIB / (r.wallMs / 1000)).toFixed(0));
    const cpuRate = (r: Run) => Number((SIZE_MIB / (r.cpuMs / 1000)).toFixed(0));
    const ratio = (a: Run, b: Run) => Number((b.wallMs / a.wallMs).toFixed(2));
    const cpuRatio = (a: Run, b: Run) => Number((b.cpuMs / a.cpuMs).toFixed(2));
    const overLibrary = Math.min(ratio(oursEnc, libEnc), ratio(oursDec, libDec));
    const overCli = Math.min(ratio(oursEnc, cliEnc), ratio(oursDec, cliDec));
    return {
      name: `age: ${SIZE_MIB} MiB encrypted and decrypted, dbops streams vs the npm library vs the age CLI (median of ${RUNS}; library once)`,
      metrics: {
        'stream without encryption, memory → discard (MiB/s)': rate(copy),
        'dbops encrypt (MiB/s; per CPU-second)': `${rate(oursEnc)}; ${cpuRate(oursEnc)}`,
        'dbops decrypt (MiB/s; per CPU-second)': `${rate(oursDec)}; ${cpuRate(oursDec)}`,
        'age CLI encrypt (MiB/s; per CPU-second)': `${rate(cliEnc)}; ${cpuRate(cliEnc)}`,
        'age CLI decrypt (MiB/s; per CPU-second)': `${rate(cliDec)}; ${cpuRate(cliDec)}`,
        'npm library encrypt (MiB/s; per CPU-second)': `${rate(libEnc)}; ${cpuRate(libEnc)}`,
        'npm library decrypt (MiB/s; per CPU-second)': `${rate(libDec)}; ${cpuRate(libDec)}`,
        'dbops encrypt, file → discard (MiB/s; per CPU-second)': `${rate(oursFile)}; ${cpuRate(oursFile)}`,
        'file read alone (MiB/s; per CPU-second)': `${rate(fileRead)}; ${cpuRate(fileRead)}`,
        'dbops / npm library, encrypt (× wall; × CPU)': `${ratio(oursEnc, libEnc)}; ${cpuRatio(oursEnc, libEnc)}`,
        'dbops / npm library, decrypt (× wall; × CPU)': `${ratio(oursDec, libDec)}; ${cpuRatio(oursDec, libDec)}`,
        'dbops / age CLI, encrypt (× wall; × CPU)': `${ratio(oursEnc, cliEnc)}; ${cpuRatio(oursEnc, cliEnc)}`,
        'dbops / age CLI, decrypt (× wall; × CPU)': `${ratio(oursDec, cliDec)}; ${cpuRatio(oursDec, cliDec)}`,
      },
      goal: {
        description: `dbops streams ≥ ${GOAL_LIBRARY}× the npm library's throughput and ≥ ${GOAL_CLI}× the age CLI's, both ways (wall clock)`,
        met: overLibrary >= GOAL_LIBRARY && overCli >= GOAL_CLI,
      },
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
