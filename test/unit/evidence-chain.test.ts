import { describe, expect, it } from 'vitest';
import type { EvidenceBundle } from '../../pipeline/evidence/bundle.ts';
import type { GateData } from '../../pipeline/evidence/records.ts';
import {
  bundleHash,
  bundleStem,
  CHECKPOINT_FILE,
  sealBundle,
  serialize,
  sha256Hex,
  verifyChain,
  type EvidenceCheckpoint,
} from '../../pipeline/evidence/chain.ts';
import { markdownTrailer, renderBundleMarkdown } from '../../pipeline/evidence/render.ts';
import { expiredPrefix, retentionCutoff } from '../../pipeline/evidence/retention.ts';
import { bundleDraft } from '../helpers/evidence.ts';

const FOLDER = 'evidence/production/';

/** A sealed chain of `n` bundles of production, one minute apart, and its files as stored. */
function chain(n: number, first = 1, previous: EvidenceBundle['previous'] = null): { bundles: EvidenceBundle[]; files: Map<string, Buffer> } {
  const bundles: EvidenceBundle[] = [];
  let prev = previous;
  for (let i = 0; i < n; i++) {
    const seq = first + i;
    const b = sealBundle({
      ...bundleDraft({ breakGlass: seq === 2 ? true : null }),
      formatVersion: 1,
      environment: 'production',
      sequence: seq,
      createdAt: new Date(Date.UTC(2026, 3, 21, 8, seq)).toISOString(),
      previous: prev,
      dbops: { version: '0.1.0', commit: 'f'.repeat(40) },
    });
    bundles.push(b);
    prev = { sequence: seq, sha256: b.sha256 };
  }
  const files = new Map<string, Buffer>();
  for (const b of bundles) {
    files.set(`${bundleStem(b)}.json`, Buffer.from(serialize(b)));
    files.set(`${bundleStem(b)}.md`, Buffer.from(renderBundleMarkdown(b)));
  }
  return { bundles, files };
}

const verify = (files: Map<string, Buffer>, partial = false) => verifyChain({ environment: 'production', folder: FOLDER, files, partial });
const nameOf = (b: EvidenceBundle, ext = 'json') => `${bundleStem(b)}.${ext}`;

/** Re-seals an edited bundle consistently (new hash, new Markdown) under its old name: what a careful forger does. */
function reseal(files: Map<string, Buffer>, old: EvidenceBundle, edit: (b: EvidenceBundle) => Omit<EvidenceBundle, 'sha256'>): EvidenceBundle {
  const forged = sealBundle(edit(old));
  files.delete(nameOf(old));
  files.delete(nameOf(old, 'md'));
  files.set(nameOf(forged), Buffer.from(serialize(forged)));
  files.set(nameOf(forged, 'md'), Buffer.from(renderBundleMarkdown(forged)));
  return forged;
}

describe('evidence chain', () => {
  it('a page sealed by an older dbops that rendered it differently still verifies by its recorded hash; an edit of it does not', () => {
    const { bundles, files } = chain(2);
    const old = bundles[1]!;
    // What an earlier renderer produced: another body, its hash recorded in the bundle at sealing time.
    const body = `# Evidence (an earlier page layout)\n\nMigrations: ${old.execution?.gate?.migrations.map((m) => m.name).join(', ')}\n`;
    const { sha256: _s, markdownSha256: _m, ...rest } = old;
    const withPage = { ...rest, markdownSha256: sha256Hex(body) };
    const sealed = { ...withPage, sha256: bundleHash(withPage as Record<string, unknown>) } as EvidenceBundle;
    files.set(nameOf(sealed), Buffer.from(serialize(sealed)));
    files.set(nameOf(sealed, 'md'), Buffer.from(`${body}${markdownTrailer(sealed.sha256)}`));
    expect(verify(files).problems).toEqual([]);

    files.set(nameOf(sealed, 'md'), Buffer.from(`${body.replace('Migrations', 'Migrationz')}${markdownTrailer(sealed.sha256)}`));
    expect(verify(files).problems).toEqual([
      expect.objectContaining({ check: 'markdown', sequence: 2, message: expect.stringContaining(`the bundle recorded ${sealed.markdownSha256}`) }),
    ]);
  });

  it('a sealed chain verifies, and its head is the hash of the newest bundle', () => {
    const { bundles, files } = chain(3);
    const r = verify(files);
    expect(r.problems).toEqual([]);
    expect(r).toMatchObject({ ok: true, bundles: 3, firstSequence: 1, lastSequence: 3, head: bundles[2]!.sha256 });
    expect(bundles[1]!.previous).toEqual({ sequence: 1, sha256: bundles[0]!.sha256 });
  });

  it('the canonical form does not depend on key order, and the hash covers everything but sha256', () => {
    const { bundles } = chain(1);
    const b = bundles[0]!;
    const shuffled = Object.fromEntries(Object.entries(b).reverse());
    expect(serialize(shuffled)).toBe(serialize(b));
    expect(bundleHash(b as unknown as Record<string, unknown>)).toBe(b.sha256);
    expect(bundleHash({ ...b, sha256: '0'.repeat(64) } as unknown as Record<string, unknown>)).toBe(b.sha256);
    expect(serialize(b).endsWith('}\n')).toBe(true);
  });

  // Two bundles: the edited one is checked on its own and as a link of the chain.
  it('editing any byte of a stored bundle (JSON) is detected and named', { timeout: 120_000 }, () => {
    const { bundles, files } = chain(2);
    const target = nameOf(bundles[1]!);
    const original = files.get(target)!;
    const masks = [0x01, 0x02, 0x20, 0x40, 0x80];
    const checks = new Set<string>();
    for (let i = 0; i < original.length; i++) {
      const edited = Buffer.from(original);
      edited[i] = edited[i]! ^ masks[i % masks.length]!;
      files.set(target, edited);
      const r = verify(files);
      if (r.ok || r.problems[0]?.key !== FOLDER + target || r.problems[0]?.sequence !== 2) {
        throw new Error(`byte ${i} flipped (${original[i]} → ${edited[i]}) was not named first: ${JSON.stringify(r.problems[0] ?? null)}`);
      }
      checks.add(r.problems[0].check);
    }
    files.set(target, original);
    expect(verify(files).ok).toBe(true);
    // Every kind of integrity check fired somewhere along the file.
    expect([...checks].sort()).toEqual(expect.arrayContaining(['canonical', 'hash', 'parse', 'schema']));
  });

  it('editing any byte of a stored Markdown twin is detected and named', { timeout: 120_000 }, () => {
    const { bundles, files } = chain(2);
    const target = nameOf(bundles[0]!, 'md');
    const original = files.get(target)!;
    for (let i = 0; i < original.length; i++) {
      const edited = Buffer.from(original);
      edited[i] = edited[i]! ^ (i % 2 === 0 ? 0x01 : 0x80);
      files.set(target, edited);
      const r = verify(files);
      if (r.ok || r.problems[0]?.key !== FOLDER + target || r.problems[0]?.check !== 'markdown' || r.problems.length !== 1) {
        throw new Error(`Markdown byte ${i} flipped was not named: ${JSON.stringify(r.problems[0] ?? null)}`);
      }
    }
  });

  it('a JSON syntax error names the byte, line and column', () => {
    const { bundles, files } = chain(1);
    const name = nameOf(bundles[0]!);
    const text = files.get(name)!.toString();
    const at = text.indexOf('"kind"');
    files.set(name, Buffer.from(`${text.slice(0, at - 1)}#${text.slice(at)}`));
    const line = text.slice(0, at).split('\n').length;
    const p = verify(files).problems[0]!;
    expect(p.check).toBe('parse');
    expect(p.message).toContain(`at byte ${at - 1} (line ${line}, column`);
  });

  it('a deleted middle bundle is named as missing, before anything else', () => {
    const { bundles, files } = chain(4);
    files.delete(nameOf(bundles[1]!));
    files.delete(nameOf(bundles[1]!, 'md'));
    const r = verify(files);
    expect(r.ok).toBe(false);
    expect(r.problems[0]).toMatchObject({ check: 'missing', sequence: 2 });
    expect(r.problems[0]!.message).toContain('bundle 2 is missing between 1 and 3');
    expect(r.problems).toHaveLength(1);
  });

  it('swapped bundle files are named by their key', () => {
    const { bundles, files } = chain(3);
    const [a, b] = [bundles[1]!, bundles[2]!];
    const [ja, jb] = [files.get(nameOf(a))!, files.get(nameOf(b))!];
    // Bundle 3's content under bundle 2's name and the other way round.
    files.set(nameOf(a), jb);
    files.set(nameOf(b), ja);
    const r = verify(files);
    expect(r.problems[0]).toMatchObject({ sequence: 2, key: FOLDER + nameOf(a), check: 'key' });
    expect(r.problems[0]!.message).toContain(`must be stored as ${bundleStem(b)}.json`);
  });

  it("a bundle edited and re-sealed consistently is still caught by the next bundle's link, which names it", () => {
    const { bundles, files } = chain(3);
    const forged = reseal(files, bundles[1]!, (b) => {
      const { sha256: _s, ...rest } = b;
      return { ...rest, execution: { ...b.execution!, outcome: 'succeeded', steps: [] } };
    });
    const r = verify(files);
    expect(r.ok).toBe(false);
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toMatchObject({ sequence: 3, check: 'link', expected: forged.sha256, found: bundles[1]!.sha256 });
    expect(r.problems[0]!.message).toContain('bundle 2 hashes to');
  });

  it('renumbering after a deletion (bundle 3 re-sealed as 2) still leaves a broken link at the next bundle', () => {
    const { bundles, files } = chain(4);
    for (const b of [bundles[1]!, bundles[2]!]) {
      files.delete(nameOf(b));
      files.delete(nameOf(b, 'md'));
    }
    const moved = sealBundle({ ...bundles[2]!, sequence: 2, previous: { sequence: 1, sha256: bundles[0]!.sha256 } });
    files.set(nameOf(moved), Buffer.from(serialize(moved)));
    files.set(nameOf(moved, 'md'), Buffer.from(renderBundleMarkdown(moved)));
    const r = verify(files);
    expect(r.ok).toBe(false);
    expect(r.problems[0]).toMatchObject({ check: 'missing', sequence: 3 });
  });

  it('a chain starting above 1 needs a checkpoint whose hash the first bundle links to', () => {
    const prior = chain(2);
    const last = prior.bundles[1]!;
    const { files } = chain(2, 3, { sequence: 2, sha256: last.sha256 });
    expect(verify(files).problems[0]).toMatchObject({ check: 'missing', sequence: 1 });

    const checkpoint: EvidenceCheckpoint = {
      formatVersion: 1,
      environment: 'production',
      throughSequence: 2,
      sha256: last.sha256,
      createdAt: last.createdAt,
      prunedAt: '2027-06-01T00:00:00.000Z',
      retention: '12mo',
    };
    files.set(CHECKPOINT_FILE, Buffer.from(serialize(checkpoint)));
    const ok = verify(files);
    expect(ok.problems).toEqual([]);
    expect(ok.anchor).toEqual({ sequence: 2, sha256: last.sha256, via: 'checkpoint' });

    files.set(CHECKPOINT_FILE, Buffer.from(serialize({ ...checkpoint, sha256: 'a'.repeat(64) })));
    expect(verify(files).problems[0]).toMatchObject({ check: 'checkpoint', sequence: 3, expected: 'a'.repeat(64), found: last.sha256 });

    // A checkpoint claiming bundles younger than retention were pruned was not written by prune.
    files.set(CHECKPOINT_FILE, Buffer.from(serialize({ ...checkpoint, prunedAt: '2026-06-01T00:00:00.000Z' })));
    expect(verify(files).problems.some((p) => p.check === 'checkpoint' && p.message.includes('not yet expired'))).toBe(true);
  });

  it('a prune cut off after its checkpoint still verifies', () => {
    const { bundles, files } = chain(4);
    const through = bundles[1]!;
    files.set(
      CHECKPOINT_FILE,
      Buffer.from(
        serialize({
          formatVersion: 1,
          environment: 'production',
          throughSequence: 2,
          sha256: through.sha256,
          createdAt: through.createdAt,
          prunedAt: '2027-06-01T00:00:00.000Z',
          retention: '12mo',
        }),
      ),
    );
    expect(verify(files).problems).toEqual([]);
    files.delete(nameOf(bundles[0]!, 'md'));
    files.delete(nameOf(bundles[0]!));
    files.delete(nameOf(bundles[1]!, 'md'));
    expect(verify(files).problems).toEqual([]);
  });

  it('a folder holding only some bundles (a workflow artifact) reports where it is anchored', () => {
    const { bundles, files } = chain(3);
    files.delete(nameOf(bundles[0]!));
    files.delete(nameOf(bundles[0]!, 'md'));
    const r = verify(files, true);
    expect(r.problems).toEqual([]);
    expect(r.anchor).toEqual({ sequence: 1, sha256: bundles[0]!.sha256, via: 'outside' });
  });

  it('the first bundle must not link anywhere, and a stray file is named', () => {
    const { bundles, files } = chain(1);
    reseal(files, bundles[0]!, (b) => {
      const { sha256: _s, ...rest } = b;
      return { ...rest, previous: { sequence: 7, sha256: 'b'.repeat(64) } };
    });
    files.set('notes.txt', Buffer.from('hello'));
    const r = verify(files);
    expect(r.problems.map((p) => p.check)).toEqual(['link', 'key']);
    expect(r.problems[1]!.key).toBe(`${FOLDER}notes.txt`);
  });

  it('a re-sealed bundle with a createdAt that is no date is a schema problem, not a crash', () => {
    const { bundles, files } = chain(1);
    const name = nameOf(bundles[0]!);
    const forged = sealBundle({ ...bundles[0]!, createdAt: 'yesterday' });
    files.set(name, Buffer.from(serialize(forged)));
    expect(verify(files).problems[0]).toMatchObject({ check: 'schema', sequence: 1 });
    expect(verify(files).problems[0]!.message).toContain('createdAt "yesterday" is not a date');
  });

  it("a bundle stored in another environment's folder is named", () => {
    const { files } = chain(1);
    const r = verifyChain({ environment: 'staging', folder: 'evidence/staging/', files });
    expect(r.problems[0]).toMatchObject({ check: 'environment' });
  });
});

describe('evidence Markdown', () => {
  const { bundles } = chain(2);
  const md = renderBundleMarkdown(bundles[1]!);

  it('opens with a loud break-glass banner when the change was break-glass', () => {
    const firstSection = md.indexOf('\n| |');
    expect(md.indexOf('🚨 **BREAK-GLASS CHANGE**')).toBeGreaterThan(0);
    expect(md.indexOf('🚨 **BREAK-GLASS CHANGE**')).toBeLessThan(firstSection);
    expect(md).toContain('requires after-the-fact review');
    expect(md).toContain('incident INC-7: ledger writes failing');
    expect(renderBundleMarkdown(bundles[0]!)).not.toContain('BREAK-GLASS');
  });

  it('escapes pipes, newlines and HTML from the data, so every table row keeps its columns', () => {
    expect(md).not.toContain('<script>');
    expect(md).toContain('&lt;script&gt;');
    for (const block of md.split('\n\n')) {
      const rows = block.split('\n').filter((l) => l.startsWith('| '));
      if (rows.length === 0) continue;
      const cells = (l: string) => l.replace(/\\\|/g, '').split('|').length;
      expect(new Set(rows.map(cells)).size, block).toBe(1);
    }
  });

  it('mentions from the data notify nobody: a zero-width space follows every @', () => {
    expect(md).toContain('cc @\u200bastrofinance/dba');
    expect(md).not.toMatch(/@[\w-]/);
  });

  it('names every part an auditor samples', () => {
    const plain = renderBundleMarkdown(bundles[0]!);
    for (const heading of [
      '## Change',
      '## Pull requests and reviews',
      '## Environment approvals and four-eyes',
      '## Testing',
      '## Backup',
      '## Gate',
      '## Execution',
      '## Final state',
      '## Chain',
      '## Controls',
    ]) {
      expect(plain).toContain(heading);
    }
    expect(plain).toContain('| dev-author | pr-author | dev-author wrote PR \\#42 |');
    expect(plain).toContain(bundles[0]!.sha256);
  });

  it('names the snapshot the change was rehearsed on, the masked snapshot with its backup, time and policy hash; a bundle without it still verifies', () => {
    const rehearsedOn = (snapshot: NonNullable<GateData['testing']['rehearsal']>['snapshot']) => {
      const draft = bundleDraft();
      draft.execution!.gate!.testing.rehearsal!.snapshot = snapshot;
      const b = sealBundle({
        ...draft,
        formatVersion: 1,
        environment: 'production',
        sequence: 1,
        createdAt: '2026-12-07T06:00:00.000Z',
        previous: null,
        dbops: { version: '0.1.0', commit: null },
      });
      const files = new Map([
        [`${bundleStem(b)}.json`, Buffer.from(serialize(b))],
        [`${bundleStem(b)}.md`, Buffer.from(renderBundleMarkdown(b))],
      ]);
      expect(verify(files).ok).toBe(true);
      return renderBundleMarkdown(b);
    };
    const masked = rehearsedOn({
      source: 'masked',
      label: 'masked snapshot dbops_masked: backup 20261207T020000Z-daily-3f9a of astro, masked 2026-12-07T05:41:02Z (masking policy sha256 abababababab)',
      masked: { database: 'dbops_masked', backupId: '20261207T020000Z-daily-3f9a', policySha256: 'ab'.repeat(32), maskedAt: '2026-12-07T05:41:02Z' },
    });
    expect(masked).toContain(
      `Rehearsed on: the masked snapshot <code>dbops\\_masked</code> (backup <code>20261207T020000Z-daily-3f9a</code>, masked at 2026-12-07T05:41:02Z, masking policy sha256 <code>${'ab'.repeat(32)}</code>).`,
    );
    expect(rehearsedOn({ source: 'synthetic', label: 'synthetic AstroFinance dataset (scale 0.2, seed 42)' })).toContain(
      'Rehearsed on: synthetic AstroFinance dataset \\(scale 0.2, seed 42\\) (synthetic; not a masked snapshot).',
    );
    expect(rehearsedOn(undefined)).not.toContain('Rehearsed on:');
  });
});

describe('evidence retention', () => {
  it('counts calendar months and years in UTC, clamping to the end of a shorter month', () => {
    expect(retentionCutoff('12mo', new Date('2026-03-31T10:00:00Z')).toISOString()).toBe('2025-03-31T10:00:00.000Z');
    expect(retentionCutoff('1mo', new Date('2026-03-31T10:00:00Z')).toISOString()).toBe('2026-02-28T10:00:00.000Z');
    expect(retentionCutoff('7y', new Date('2028-02-29T00:00:00Z')).toISOString()).toBe('2021-02-28T00:00:00.000Z');
    expect(retentionCutoff('400d', new Date('2026-03-31T00:00:00Z')).toISOString()).toBe('2025-02-24T00:00:00.000Z');
    expect(() => retentionCutoff('1w', new Date())).toThrow(/evidence.retention/);
  });

  it('removes only an expired prefix and never the newest bundle', () => {
    const at = (d: string) => ({ sequence: 0, createdAt: d });
    const cutoff = new Date('2026-01-01T00:00:00Z');
    expect(expiredPrefix([at('2025-01-01T00:00:00Z'), at('2025-02-01T00:00:00Z'), at('2026-02-01T00:00:00Z')], cutoff)).toBe(2);
    expect(expiredPrefix([at('2025-01-01T00:00:00Z'), at('2026-02-01T00:00:00Z'), at('2025-03-01T00:00:00Z'), at('2026-03-01T00:00:00Z')], cutoff)).toBe(1);
    expect(expiredPrefix([at('2025-01-01T00:00:00Z'), at('2025-02-01T00:00:00Z')], cutoff)).toBe(1);
  });
});
