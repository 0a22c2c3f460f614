import { createHash } from 'node:crypto';
import { z } from 'zod';
import { compactUtc } from '../protection/backup/index.ts';
import { BUNDLE_KIND, EvidenceBundle } from './bundle.ts';
import { markdownTrailer, renderBundleBody, type PageSource } from './render.ts';
import type { ChainReport, ChainProblem } from './report.ts';
import { retentionCutoff } from './retention.ts';

/**
 * The canonical form, the hash and the verification of evidence bundles. Everything here is a pure
 * function of bytes, so a test can flip every byte of a stored bundle and see each flip named.
 *
 * Canonical form: keys sorted recursively (code-point order), `JSON.stringify(value, null, 2)` and one
 * trailing newline. Chosen over RFC 8785 (JCS) because the stored file must be both the hashed form and
 * readable by an auditor in a text editor, and one form for both removes the question "which bytes were
 * hashed". Sorting keys makes the bytes independent of the order code happened to build the object in;
 * JSON.stringify is deterministic for the strings, integers and ISO dates a bundle holds. The hash covers
 * the parsed JSON as stored (minus `sha256`), not what the schema keeps of it, so a field this version
 * does not know is still covered.
 */

/** Sorted keys, `undefined` members dropped (as JSON.stringify drops them), non-finite numbers refused. */
export function canonicalize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => (v === undefined ? null : canonicalize(v)));
  if (value && typeof value === 'object') {
    // Object.fromEntries defines own properties, so a "__proto__" key stays data and never sets a prototype.
    return Object.fromEntries(
      Object.keys(value)
        .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
        .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
        .map((k) => [k, canonicalize((value as Record<string, unknown>)[k])]),
    );
  }
  if (typeof value === 'number' && !Number.isFinite(value)) throw new Error(`canonical JSON cannot hold ${value}`);
  return value;
}

export const serialize = (value: unknown): string => `${JSON.stringify(canonicalize(value), null, 2)}\n`;

export const sha256Hex = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

/** The hash a bundle (as stored, parsed) must carry: over every field but `sha256`. */
export function bundleHash(value: Record<string, unknown>): string {
  const { sha256: _ignored, ...rest } = value;
  return sha256Hex(serialize(rest));
}

/** Seals a bundle: the hash of its page body first (the page is part of the record), then its own hash over everything. */
export function sealBundle(unsealed: PageSource): EvidenceBundle {
  const withPage = { ...unsealed, markdownSha256: sha256Hex(renderBundleBody(unsealed)) };
  return { ...withPage, sha256: bundleHash(withPage as Record<string, unknown>) };
}

/** `000042-20260421T083000Z-deploy` (without extension). */
export const bundleStem = (b: Pick<EvidenceBundle, 'sequence' | 'createdAt' | 'kind'>): string =>
  `${String(b.sequence).padStart(6, '0')}-${compactUtc(new Date(b.createdAt))}-${b.kind}`;

const NAME = new RegExp(`^(\\d{6,})-(\\d{8}T\\d{6}Z)-(${BUNDLE_KIND.join('|')})\\.(json|md)$`);

export function parseBundleName(name: string): { sequence: number; stem: string; ext: 'json' | 'md' } | undefined {
  const m = NAME.exec(name);
  if (!m) return undefined;
  return { sequence: Number(m[1]), stem: name.slice(0, -(m[4]!.length + 1)), ext: m[4] as 'json' | 'md' };
}

/** Files in an environment's folder that are not bundles and not part of the chain. */
export const INFLIGHT_FILE = 'inflight.json';
export const CHECKPOINT_FILE = 'checkpoint.json';

/** Written by `dbops evidence prune` before it deletes anything: what the removed prefix of the chain ended with. */
export const EvidenceCheckpoint = z.object({
  formatVersion: z.literal(1),
  environment: z.string(),
  /** Every bundle up to and including this sequence was removed by retention. */
  throughSequence: z.number().int().positive(),
  /** SHA-256 of bundle `throughSequence`: the `previous` link of the first bundle kept. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** createdAt of bundle `throughSequence`. */
  createdAt: z.string(),
  prunedAt: z.string(),
  retention: z.string(),
});
export type EvidenceCheckpoint = z.output<typeof EvidenceCheckpoint>;

export type { ChainProblem };

/** `line 3, column 7` of a byte offset. */
export function lineColumn(bytes: Buffer, offset: number): string {
  const before = bytes.subarray(0, Math.min(offset, bytes.length));
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < before.length; i++) {
    if (before[i] === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  return `line ${line}, column ${offset - lineStart + 1}`;
}

const firstDifference = (a: Buffer, b: Buffer): number => {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
};

/** Text of bytes that must be UTF-8, or the offset of the first byte that is not. */
function decodeUtf8(bytes: Buffer): { text: string } | { badByte: number } {
  const text = bytes.toString('utf8');
  // Invalid sequences decode to U+FFFD; re-encoding shows where the bytes and the text part ways.
  const back = Buffer.from(text, 'utf8');
  if (back.equals(bytes)) return { text };
  return { badByte: firstDifference(bytes, back) };
}

function parseJson(bytes: Buffer): { value: unknown } | { message: string } {
  const decoded = decodeUtf8(bytes);
  if ('badByte' in decoded) return { message: `byte ${decoded.badByte} (${lineColumn(bytes, decoded.badByte)}) is not valid UTF-8` };
  try {
    return { value: JSON.parse(decoded.text) as unknown };
  } catch (e) {
    const message = (e as Error).message;
    const at = /at position (\d+)/.exec(message);
    // V8 positions are UTF-16 indexes; convert to a byte offset so the message matches a hex editor.
    const offset = at ? Buffer.byteLength(decoded.text.slice(0, Number(at[1])), 'utf8') : bytes.length;
    return { message: `not valid JSON at byte ${offset} (${lineColumn(bytes, offset)}): ${message.replace(/ in JSON at position \d+.*$/, '')}` };
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface BundleCheck {
  /** The parsed JSON object as stored (when it parsed). */
  raw: Record<string, unknown> | undefined;
  /** The schema-valid bundle (when it is one). */
  bundle: EvidenceBundle | undefined;
  /** SHA-256 recomputed over the stored content (when it parsed): what the next bundle must link to. */
  hash: string | undefined;
  /** parse, schema, canonical and hash all passed. */
  intact: boolean;
  problems: ChainProblem[];
}

/**
 * Why a stored page is not the one sealed with its bundle, or undefined. The body is judged by the hash the
 * bundle recorded (never by re-rendering, which a newer dbops may do differently); the trailer must name the
 * bundle's hash in its frozen format.
 */
function markdownProblem(bundle: EvidenceBundle, page: Buffer): string | undefined {
  const trailer = Buffer.from(markdownTrailer(bundle.sha256), 'utf8');
  const start = Math.max(0, page.length - trailer.length);
  const tail = page.subarray(start);
  if (!tail.equals(trailer)) {
    const at = start + firstDifference(tail, trailer);
    return `its last lines must name the bundle's SHA-256 ${bundle.sha256} (differs from byte ${at} on): the Markdown was edited.`;
  }
  const body = page.subarray(0, page.length - trailer.length);
  const found = sha256Hex(body);
  if (found === bundle.markdownSha256) return undefined;
  // Where it differs, when this dbops still renders the page the way it was sealed (a hint, not the judgement).
  const rendered = Buffer.from(renderBundleBody(bundle), 'utf8');
  const at = sha256Hex(rendered) === bundle.markdownSha256 ? firstDifference(body, rendered) : undefined;
  return `its body hashes to ${found}, but the bundle recorded ${bundle.markdownSha256}${at !== undefined ? ` (it differs from byte ${at}, ${lineColumn(body, at)}, on)` : ''}: the Markdown was edited.`;
}

/**
 * Checks one stored bundle: JSON syntax, schema, canonical bytes, its own hash, its key (sequence, time and
 * kind in the name; environment folder) and, when the JSON is intact, its Markdown twin. The first
 * integrity failure is reported (a later check of a broken file only repeats it); the name, folder and
 * Markdown checks are reported in addition.
 */
export function checkBundle(args: {
  environment: string;
  key: string;
  name: string;
  json: Buffer;
  markdown: Buffer | undefined;
  markdownKey: string;
}): BundleCheck {
  const { environment, key, name, json, markdown } = args;
  const fromName = parseBundleName(name);
  const seqGuess = fromName?.sequence ?? null;
  const problems: ChainProblem[] = [];
  const fail = (check: string, message: string, extra: Partial<ChainProblem> = {}): BundleCheck => {
    problems.push({ sequence: seqGuess, key, check, message, ...extra });
    return { raw, bundle: undefined, hash, intact: false, problems };
  };
  let raw: Record<string, unknown> | undefined;
  let hash: string | undefined;

  const parsed = parseJson(json);
  if ('message' in parsed) return fail('parse', `${key}: ${parsed.message}.`);
  if (!isRecord(parsed.value)) return fail('parse', `${key}: the JSON is not an object.`);
  raw = parsed.value;
  hash = bundleHash(raw);
  const schema = EvidenceBundle.safeParse(raw);
  if (!schema.success) {
    const issue = schema.error.issues[0];
    const where = issue ? `${issue.path.map(String).join('.') || '<root>'}: ${issue.message}` : 'invalid';
    return fail('schema', `${key}: not an evidence bundle (${where}).`);
  }
  const expectedBytes = Buffer.from(serialize(raw), 'utf8');
  if (!expectedBytes.equals(json)) {
    const at = firstDifference(json, expectedBytes);
    return fail('canonical', `${key}: not in canonical form from byte ${at} (${lineColumn(json, at)}) on: the file was edited after it was written.`);
  }
  const bundle = schema.data;
  // The key is derived from createdAt; a date that does not parse cannot name a key (nor sort a chain).
  if (Number.isNaN(Date.parse(bundle.createdAt))) return fail('schema', `${key}: createdAt "${bundle.createdAt}" is not a date.`);
  if (hash !== bundle.sha256) {
    return fail('hash', `${key}: its content hashes to ${hash} but it records sha256 ${bundle.sha256}: the bundle was edited after it was sealed.`, {
      // The content was edited, its sequence included: the file name is what orders the chain.
      sequence: seqGuess ?? bundle.sequence,
      expected: hash,
      found: bundle.sha256,
    });
  }
  const stem = bundleStem(bundle);
  if (fromName?.stem !== stem) {
    problems.push({
      sequence: seqGuess ?? bundle.sequence,
      key,
      check: 'key',
      message: `${key}: bundle ${bundle.sequence} (${bundle.kind}, created ${bundle.createdAt}) must be stored as ${stem}.json: it was renamed or moved.`,
    });
  }
  if (bundle.environment !== environment) {
    problems.push({
      sequence: bundle.sequence,
      key,
      check: 'environment',
      message: `${key}: the bundle belongs to environment "${bundle.environment}" but is stored in the folder of "${environment}".`,
    });
  }
  if (markdown === undefined) {
    problems.push({
      sequence: bundle.sequence,
      key: args.markdownKey,
      check: 'markdown',
      message: `${args.markdownKey}: the Markdown twin of bundle ${bundle.sequence} is missing.`,
    });
  } else {
    const problem = markdownProblem(bundle, markdown);
    if (problem) problems.push({ sequence: bundle.sequence, key: args.markdownKey, check: 'markdown', message: `${args.markdownKey}: ${problem}` });
  }
  return { raw, bundle, hash, intact: true, problems };
}

/** Checks a stored checkpoint's syntax, schema, canonical form and environment. */
export function checkCheckpoint(environment: string, key: string, bytes: Buffer): { checkpoint: EvidenceCheckpoint | undefined; problems: ChainProblem[] } {
  const problem = (message: string): { checkpoint: undefined; problems: ChainProblem[] } => ({
    checkpoint: undefined,
    problems: [{ sequence: null, key, check: 'checkpoint', message: `${key}: ${message}` }],
  });
  const parsed = parseJson(bytes);
  if ('message' in parsed) return problem(`${parsed.message}.`);
  const schema = EvidenceCheckpoint.safeParse(parsed.value);
  if (!schema.success)
    return problem(`not a retention checkpoint (${schema.error.issues[0]?.path.join('.') ?? ''}: ${schema.error.issues[0]?.message ?? 'invalid'}).`);
  const expected = Buffer.from(serialize(parsed.value), 'utf8');
  if (!expected.equals(bytes)) {
    const at = firstDifference(bytes, expected);
    return problem(`not in canonical form from byte ${at} (${lineColumn(bytes, at)}) on: the file was edited after it was written.`);
  }
  const cp = schema.data;
  if (cp.environment !== environment) return problem(`belongs to environment "${cp.environment}", not "${environment}".`);
  // Retention only ever removes bundles older than the policy's limit at the time of pruning; a checkpoint
  // claiming younger ones were removed was not written by prune.
  let cutoff: Date | undefined;
  try {
    cutoff = retentionCutoff(cp.retention, new Date(cp.prunedAt));
  } catch {
    return problem(`retention "${cp.retention}" is not a retention such as 12mo, 400d or 7y.`);
  }
  if (!(Date.parse(cp.createdAt) < cutoff.getTime())) {
    return problem(
      `claims bundles through ${cp.throughSequence} (created ${cp.createdAt}) were removed at ${cp.prunedAt}, but under retention ${cp.retention} they were not yet expired.`,
    );
  }
  return { checkpoint: cp, problems: [] };
}

export interface ChainInput {
  environment: string;
  /** Prepended to file names in problem keys: `evidence/production/` (storage) or `production/` (a folder). */
  folder: string;
  /** Every file of the environment's folder by name, except the in-flight marker. */
  files: ReadonlyMap<string, Buffer>;
  /**
   * A folder such as a workflow artifact holds only its run's bundles: a chain that starts above 1 without a
   * checkpoint is then reported as anchored outside (its first link shown, not checked) instead of missing.
   */
  partial?: boolean;
}

const CHECK_ORDER = ['missing', 'parse', 'schema', 'canonical', 'hash', 'key', 'environment', 'sequence', 'link', 'checkpoint', 'markdown'];
const rank = (p: ChainProblem) => {
  const i = CHECK_ORDER.indexOf(p.check);
  return i < 0 ? CHECK_ORDER.length : i;
};

/**
 * Verifies the chain of one environment: every bundle (checkBundle), sequences from 1 (or from the
 * checkpoint) with no gap and no duplicate, each `previous` equal to the sequence and recomputed hash of the
 * bundle before it. Problems come sorted by sequence, so the first one is the first broken link.
 */
export function verifyChain(input: ChainInput): ChainReport {
  const { environment, folder, files } = input;
  const problems: ChainProblem[] = [];
  const keyOf = (name: string) => `${folder}${name}`;

  let checkpoint: EvidenceCheckpoint | undefined;
  const cpBytes = files.get(CHECKPOINT_FILE);
  if (cpBytes) {
    const c = checkCheckpoint(environment, keyOf(CHECKPOINT_FILE), cpBytes);
    checkpoint = c.checkpoint;
    problems.push(...c.problems);
  }
  const covered = (seq: number) => checkpoint !== undefined && seq <= checkpoint.throughSequence;

  const jsonBySeq = new Map<number, string[]>();
  const markdown = new Map<string, Buffer>();
  for (const [name, bytes] of files) {
    if (name === CHECKPOINT_FILE || name === INFLIGHT_FILE) continue;
    const parsed = parseBundleName(name);
    if (!parsed) {
      problems.push({
        sequence: null,
        key: keyOf(name),
        check: 'key',
        message: `${keyOf(name)}: not a bundle name (<sequence>-<UTC time>-<kind>.json/.md); a file that does not belong in the evidence folder.`,
      });
      continue;
    }
    if (parsed.ext === 'md') markdown.set(parsed.stem, bytes);
    else jsonBySeq.set(parsed.sequence, [...(jsonBySeq.get(parsed.sequence) ?? []), name]);
  }
  for (const stem of markdown.keys()) {
    const seq = parseBundleName(`${stem}.md`)!.sequence;
    // A Markdown twin left by a prune interrupted between its two deletions is covered by the checkpoint.
    if (!files.has(`${stem}.json`) && !covered(seq)) {
      problems.push({
        sequence: seq,
        key: keyOf(`${stem}.md`),
        check: 'missing',
        message: `${keyOf(`${stem}.json`)}: bundle ${seq} is missing; only its Markdown twin ${stem}.md is there.`,
      });
    }
  }

  const sequences = [...jsonBySeq.keys()].sort((a, b) => a - b);
  let prev: { sequence: number; hash: string | undefined } | undefined;
  let anchor: ChainReport['anchor'] = null;
  let head: string | null = null;
  for (const seq of sequences) {
    const names = jsonBySeq.get(seq)!.sort();
    if (names.length > 1) {
      problems.push({
        sequence: seq,
        key: keyOf(names[1]!),
        check: 'sequence',
        message: `${names.length} bundles carry sequence ${seq}: ${names.map(keyOf).join(', ')}; a chain has one bundle per sequence.`,
      });
    }
    const name = names[0]!;
    const stem = name.slice(0, -'.json'.length);
    const key = keyOf(name);
    const check = checkBundle({ environment, key, name, json: files.get(name)!, markdown: markdown.get(stem), markdownKey: keyOf(`${stem}.md`) });
    // A JSON bundle without its twin that the checkpoint covers is what a prune cut off between its two deletions left.
    problems.push(...check.problems.filter((p) => !(covered(seq) && p.check === 'markdown' && !markdown.has(stem))));
    head = check.hash ?? null;
    // The link is read from the stored JSON even when the bundle failed a check, so one edited bundle is
    // not also reported as a broken link of its successor unless the link itself is wrong.
    const link = readLink(check.raw);
    const linkText = (l: { sequence: number; sha256: string } | null | undefined) =>
      l === undefined ? 'unreadable' : l === null ? 'null' : `${l.sequence}:${l.sha256}`;

    if (prev === undefined) {
      if (seq === 1) {
        if (link !== undefined && link !== null) {
          problems.push({
            sequence: seq,
            key,
            check: 'link',
            message: `${key}: bundle 1 must start the chain (previous null) but links to ${linkText(link)}.`,
            expected: null,
            found: link.sha256,
          });
        }
      } else if (checkpoint && checkpoint.throughSequence >= seq - 1) {
        if (checkpoint.throughSequence === seq - 1) {
          anchor = { sequence: checkpoint.throughSequence, sha256: checkpoint.sha256, via: 'checkpoint' };
          if (link !== undefined && (link === null || link.sequence !== checkpoint.throughSequence || link.sha256 !== checkpoint.sha256)) {
            problems.push({
              sequence: seq,
              key,
              check: 'checkpoint',
              message: `${key}: bundle ${seq} links to ${linkText(link)}, but the retention checkpoint ${keyOf(CHECKPOINT_FILE)} says bundle ${checkpoint.throughSequence} hashed to ${checkpoint.sha256}.`,
              expected: checkpoint.sha256,
              found: link?.sha256 ?? null,
            });
          }
        }
        // Else a prune was interrupted after writing the checkpoint: bundles it covers are still here and
        // bundle throughSequence is compared with the checkpoint below.
      } else if (input.partial && !checkpoint) {
        if (link) anchor = { sequence: link.sequence, sha256: link.sha256, via: 'outside' };
      } else {
        const from = checkpoint ? checkpoint.throughSequence + 1 : 1;
        problems.push({
          sequence: from,
          key: keyOf(`${String(from).padStart(6, '0')}-*.json`),
          check: 'missing',
          message: `${environment}: the chain starts at bundle ${seq}; bundle${seq - from > 1 ? `s ${from}–${seq - 1} are` : ` ${from} is`} missing and no retention checkpoint covers ${seq - from > 1 ? 'them' : 'it'}${checkpoint ? ` (${keyOf(CHECKPOINT_FILE)} ends at ${checkpoint.throughSequence})` : ''}.`,
        });
      }
    } else if (seq > prev.sequence + 1) {
      problems.push({
        sequence: prev.sequence + 1,
        key: keyOf(`${String(prev.sequence + 1).padStart(6, '0')}-*.json`),
        check: 'missing',
        message: `${environment}: bundle${seq - prev.sequence > 2 ? `s ${prev.sequence + 1}–${seq - 1} are` : ` ${prev.sequence + 1} is`} missing between ${prev.sequence} and ${seq} (deleted from the middle of the chain); ${key} links to ${linkText(link)}.`,
        ...(link ? { found: link.sha256 } : {}),
      });
    } else if (link !== undefined) {
      if (link === null || link.sequence !== prev.sequence || (prev.hash !== undefined && link.sha256 !== prev.hash)) {
        problems.push({
          sequence: seq,
          key,
          check: 'link',
          message: `${key}: bundle ${seq} links to ${linkText(link)}, but bundle ${prev.sequence} hashes to ${prev.hash ?? '(unreadable)'}: the bundle before it was changed or replaced.`,
          expected: prev.hash ?? null,
          found: link?.sha256 ?? null,
        });
      }
    }
    if (checkpoint && seq === checkpoint.throughSequence && check.hash !== undefined && check.hash !== checkpoint.sha256) {
      problems.push({
        sequence: seq,
        key,
        check: 'checkpoint',
        message: `${key}: hashes to ${check.hash} but the retention checkpoint records ${checkpoint.sha256} for bundle ${seq}.`,
        expected: checkpoint.sha256,
        found: check.hash,
      });
    }
    prev = { sequence: seq, hash: check.hash };
  }
  if (sequences.length === 0 && checkpoint) {
    problems.push({
      sequence: checkpoint.throughSequence + 1,
      key: keyOf(CHECKPOINT_FILE),
      check: 'missing',
      message: `${environment}: a retention checkpoint exists (through ${checkpoint.throughSequence}) but no bundle follows it; prune always keeps the newest bundle.`,
    });
  }

  problems.sort((a, b) => (a.sequence ?? Infinity) - (b.sequence ?? Infinity) || rank(a) - rank(b));
  return {
    environment,
    bundles: sequences.length,
    firstSequence: sequences[0] ?? null,
    lastSequence: sequences.at(-1) ?? null,
    head,
    anchor,
    ok: problems.length === 0,
    problems,
  };
}

function readLink(raw: Record<string, unknown> | undefined): { sequence: number; sha256: string } | null | undefined {
  if (!raw || !('previous' in raw)) return undefined;
  const p = raw['previous'];
  if (p === null) return null;
  if (isRecord(p) && typeof p['sequence'] === 'number' && typeof p['sha256'] === 'string') return { sequence: p['sequence'], sha256: p['sha256'] };
  return undefined;
}
