import { access, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { DBOPS_VERSION } from '../../pipeline/core/version.ts';
import { appendBundle, saveLocalCopy, type EvidenceStore, type StoredBundle } from '../../pipeline/evidence/store.ts';
import { DirectoryStorage } from '../../pipeline/infra/storage/directory.ts';
import { dbops, type CliRun } from '../helpers/cli.ts';
import { deployFixture, type DeployFixture } from '../helpers/environments.ts';
import { bundleDraft, executionData } from '../helpers/evidence.ts';
import { tempDir } from '../helpers/migrations.ts';

const PASSWORD = 'Pr0d-db-passw0rd';
const BUILD = { version: DBOPS_VERSION, commit: null };
const log = pino({ level: 'silent' });
const DAY = 86_400_000;

let fx: DeployFixture;
let runs: CliRun[];

const storeOf = (environment: string): EvidenceStore => ({
  storage: new DirectoryStorage({ name: 'server', path: fx.storageDir }),
  folder: `evidence/${environment}/`,
  environment,
  log,
});
const pathOf = (key: string) => join(fx.storageDir, ...key.split('/'));

async function evidence(...args: string[]): Promise<CliRun> {
  const policyFlags = ['--policies-dir', fx.policiesDir];
  const reportFlags = args[0] === 'list' ? [] : ['--reports-dir', fx.reportsDir];
  const r = await dbops(['evidence', ...args, ...policyFlags, ...reportFlags], fx.env);
  runs.push(r);
  return r;
}

/** Bundles for production at the given ages (days before now; the second one break-glass) and one for staging. */
async function seed(agesDays: number[] = [3, 2, 1]): Promise<StoredBundle[]> {
  const now = Date.now();
  const out: StoredBundle[] = [];
  for (const [i, days] of agesDays.entries()) {
    const execution = executionData();
    execution.steps[0] = { ...execution.steps[0]!, error: `retried after: connection to postgresql://app:${PASSWORD}@db:5432/astro reset` };
    out.push(await appendBundle(storeOf('production'), bundleDraft({ breakGlass: i === 1 ? true : null, execution }), new Date(now - days * DAY), BUILD));
  }
  await appendBundle(storeOf('staging'), bundleDraft({ environment: 'staging' }), new Date(now - DAY), BUILD);
  return out;
}

beforeEach(async () => {
  runs = [];
  fx = await deployFixture({
    urls: { staging: `postgresql://app:${PASSWORD}@127.0.0.1:1/staging`, production: `postgresql://app:${PASSWORD}@127.0.0.1:1/astro` },
  });
  return async () => {
    // No password, age identity or other secret in anything a command printed or wrote as a report.
    const reports = await readdir(fx.reportsDir).catch(() => []);
    const written = await Promise.all(reports.filter((f) => f.endsWith('.json')).map((f) => readFile(join(fx.reportsDir, f), 'utf8')));
    for (const text of [...runs.map((r) => r.all), ...written]) {
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain(fx.identity);
    }
    await rm(fx.root, { recursive: true, force: true });
  };
});

describe('dbops evidence verify', () => {
  it('passes on intact chains, prints each head hash and writes reports/evidence-verify.json', async () => {
    const empty = await evidence('verify');
    expect(empty.code).toBe(0);
    expect(empty.stdout).toContain('No evidence bundles found');

    const stored = await seed();
    const r = await evidence('verify');
    expect(r.code, r.all).toBe(0);
    expect(r.stdout).toContain('production: ok — 3 bundles (1–3)');
    expect(r.stdout).toContain(`head: ${stored[2]!.bundle.sha256}`);
    expect(r.stdout).toMatch(/staging: ok — 1 bundle \(1–1\)/);
    const report = JSON.parse(await readFile(join(fx.reportsDir, 'evidence-verify.json'), 'utf8')) as {
      data: { chains: Array<{ environment: string; ok: boolean; head: string }> };
    };
    expect(report.data.chains.map((c) => [c.environment, c.ok, c.head])).toEqual([
      ['production', true, stored[2]!.bundle.sha256],
      ['staging', true, expect.stringMatching(/^[0-9a-f]{64}$/)],
    ]);
  });

  it('fails with exit 1 on an edited byte and names the bundle, the check and both hashes', async () => {
    const stored = await seed();
    const target = stored[1]!;
    const bytes = Buffer.from(target.json);
    const at = target.json.indexOf('"durationMs": 820') + '"durationMs": '.length;
    bytes[at] = '9'.charCodeAt(0);
    await writeFile(pathOf(target.key), bytes);

    const r = await evidence('verify');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`production: BROKEN`);
    expect(r.stdout).toContain(`FIRST BROKEN LINK: bundle 2, ${target.key} — hash`);
    expect(r.stdout).toContain(`found    ${target.bundle.sha256}`);
    // The successor's link is the further problem: it points at the original hash.
    expect(r.stdout).toMatch(/1 further problem:\n\s+- \[link\] evidence\/production\/000003-/);
    expect(r.stdout).toContain('Verification FAILED for production');

    expect((await evidence('verify', '--environment', 'staging')).code).toBe(0);
    const json = await evidence('verify', '--environment', 'production', '--json');
    expect(json.code).toBe(1);
    const parsed = JSON.parse(json.stdout) as { verdict: string; findings: Array<{ rule: string; file: string }> };
    expect(parsed.verdict).toBe('fail');
    expect(parsed.findings[0]).toMatchObject({ rule: 'evidence/hash', file: target.key });
  });

  it('names a deleted middle bundle', async () => {
    const stored = await seed();
    await unlink(pathOf(stored[1]!.key));
    await unlink(pathOf(stored[1]!.markdownKey));
    const r = await evidence('verify', '--environment', 'production');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('FIRST BROKEN LINK: bundle 2, evidence/production/000002-*.json — missing');
    expect(r.stdout).toContain('bundle 2 is missing between 1 and 3');
  });

  it('verifies a local copy (the workflow artifact layout) with --dir', async () => {
    const stored = await seed();
    const dir = await tempDir('dbops-artifact-');
    // An artifact holds the bundles of its run only: here the newest one.
    await saveLocalCopy(dir, stored[2]!);
    expect(await readdir(join(dir, 'production'))).toEqual([stored[2]!.key.split('/').pop(), stored[2]!.markdownKey.split('/').pop()]);
    const ok = await evidence('verify', '--dir', dir);
    expect(ok.code, ok.all).toBe(0);
    expect(ok.stdout).toContain(`starts after bundle 2 (not in this folder), which must hash to ${stored[1]!.bundle.sha256}`);
    expect(ok.stdout).toContain(`head: ${stored[2]!.bundle.sha256}`);

    const md = join(dir, 'production', stored[2]!.markdownKey.split('/').pop()!);
    await writeFile(md, (await readFile(md, 'utf8')).replace('✅ succeeded', '✅ succeeded!'));
    const bad = await evidence('verify', '--dir', dir);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/FIRST BROKEN LINK: bundle 3, production\/000003-\S+\.md — markdown/);

    expect((await evidence('verify', '--dir', join(dir, 'nope'))).code).toBe(2);
    expect((await evidence('verify', '--environment', 'Prod/../x')).code).toBe(2);
  });
});

describe('dbops evidence list', () => {
  it('tables sequence, time, kind, outcome, commit, approvers and break-glass; --json gives the data', async () => {
    await seed();
    const r = await evidence('list', '--environment', 'production');
    expect(r.code, r.all).toBe(0);
    expect(r.stdout).toMatch(/SEQ\s+CREATED \(UTC\)\s+KIND\s+OUTCOME\s+COMMIT\s+APPROVERS\s+BREAK-GLASS/);
    const rows = r.stdout.split('\n').filter((l) => /^\s+\d+\s/.test(l));
    expect(rows).toHaveLength(3);
    expect(rows[0]).toMatch(/^\s+1\s+\d{4}-\d\d-\d\d \d\d:\d\dZ\s+deploy\s+succeeded\s+bbbbbbb\s+reviewer-1$/);
    expect(rows[1]).toMatch(/🚨 yes$/);
    const json = JSON.parse((await evidence('list', '--json')).stdout) as {
      data: { environments: Array<{ environment: string; bundles: Array<{ sequence: number; breakGlass: boolean; commit: string | null }> }> };
    };
    expect(json.data.environments.map((e) => [e.environment, e.bundles.length])).toEqual([
      ['production', 3],
      ['staging', 1],
    ]);
    expect(json.data.environments[0]!.bundles.map((b) => b.breakGlass)).toEqual([false, true, false]);
  });
});

describe('dbops evidence prune', () => {
  it('removes an expired prefix after writing its checkpoint; the chain still verifies, and not without the checkpoint', async () => {
    const stored = await seed([800, 500, 400, 10]);
    const dry = await evidence('prune', '--dry-run');
    expect(dry.code, dry.all).toBe(0);
    expect(dry.stdout).toContain('production: would remove 3 bundles (through sequence 3, recorded in checkpoint.json); 1 kept.');
    expect(dry.stdout).toContain('staging: nothing expired; 1 bundle kept.');
    await access(pathOf(stored[0]!.key));

    const r = await evidence('prune');
    expect(r.code, r.all).toBe(0);
    expect(r.stdout).toContain('production: removed 3 bundles');
    const folder = join(fx.storageDir, 'evidence', 'production');
    expect((await readdir(folder)).sort()).toEqual(['checkpoint.json', stored[3]!.key.split('/').pop(), stored[3]!.markdownKey.split('/').pop()].sort());
    const checkpoint = JSON.parse(await readFile(join(folder, 'checkpoint.json'), 'utf8')) as Record<string, unknown>;
    expect(checkpoint).toMatchObject({ throughSequence: 3, sha256: stored[2]!.bundle.sha256, createdAt: stored[2]!.bundle.createdAt, retention: '12mo' });
    const report = JSON.parse(await readFile(join(fx.reportsDir, 'evidence-prune.json'), 'utf8')) as {
      data: { environments: Array<{ environment: string; deleted: string[]; checkpointThrough: number | null }> };
    };
    expect(report.data.environments[0]).toMatchObject({ environment: 'production', checkpointThrough: 3 });
    expect(report.data.environments[0]!.deleted).toContain(stored[0]!.key);

    const ok = await evidence('verify', '--environment', 'production');
    expect(ok.code, ok.all).toBe(0);
    expect(ok.stdout).toContain(`starts after the retention checkpoint: bundle 3 hashed to ${stored[2]!.bundle.sha256}`);

    // The next deploy links to the kept head.
    const next = await appendBundle(storeOf('production'), bundleDraft(), new Date(), BUILD);
    expect(next.bundle.previous).toEqual({ sequence: 4, sha256: stored[3]!.bundle.sha256 });

    await unlink(join(folder, 'checkpoint.json'));
    const broken = await evidence('verify', '--environment', 'production');
    expect(broken.code).toBe(1);
    expect(broken.stdout).toContain('the chain starts at bundle 4; bundles 1–3 are missing and no retention checkpoint covers them');
  });

  it('refuses to prune a chain that does not verify and removes nothing', async () => {
    const stored = await seed([800, 500, 10]);
    await writeFile(pathOf(stored[0]!.markdownKey), 'tampered\n');
    const r = await evidence('prune');
    expect(r.code).toBe(1);
    expect(r.all).toMatch(
      /Refusing to prune: the evidence chain of "production" does not verify: evidence\/production\/000001-\S+\.md: .*the Markdown was edited/,
    );
    await access(pathOf(stored[0]!.key));
    await expect(access(join(fx.storageDir, 'evidence', 'production', 'checkpoint.json'))).rejects.toThrow();
  });
});
