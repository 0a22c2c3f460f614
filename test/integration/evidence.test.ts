import { mkdir, mkdtemp, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, RefusedError, UsageError } from '../../pipeline/core/errors.ts';
import { DBOPS_VERSION } from '../../pipeline/core/version.ts';
import type { InflightMarker } from '../../pipeline/evidence/bundle.ts';
import { CHECKPOINT_FILE, serialize, verifyChain } from '../../pipeline/evidence/chain.ts';
import { appendBundle, clearInflight, openEvidence, readFolder, readInflight, writeInflight, type EvidenceStore } from '../../pipeline/evidence/store.ts';
import { BackupsPolicy } from '../../pipeline/policy/backups.ts';
import { EnvironmentsPolicy } from '../../pipeline/policy/environments.ts';
import { bundleDraft, executionData } from '../helpers/evidence.ts';
import { s3Env, s3Target, startS3rver, type S3Server } from '../helpers/s3.ts';

const BUILD = { version: DBOPS_VERSION, commit: null };
const at = (minute: number) => new Date(Date.UTC(2026, 3, 21, 9, minute, 7, 123));

let root: string;
let serverDir: string;
let otherDir: string;
const logLines: Array<{ level: number; msg: string }> = [];
const log = pino({ level: 'debug' }, { write: (l: string) => logLines.push(JSON.parse(l) as { level: number; msg: string }) });

const policies = (evidence: Record<string, unknown> = {}) => ({
  backups: BackupsPolicy.parse({
    version: 1,
    targets: { server: { type: 'directory', path: serverDir, primary: true }, archive: { type: 'directory', path: otherDir } },
  }),
  environments: EnvironmentsPolicy.parse({ version: 1, environments: {}, evidence }),
});

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'dbops-evidence-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
let n = 0;
beforeEach(async () => {
  n++;
  serverDir = join(root, `server-${n}`);
  otherDir = join(root, `archive-${n}`);
  await Promise.all([mkdir(serverDir), mkdir(otherDir)]);
});

const folderOf = (store: EvidenceStore) => join(serverDir, ...store.folder.split('/'));
const verifyStore = async (store: EvidenceStore) => verifyChain({ environment: store.environment, folder: store.folder, files: await readFolder(store) });

describe('evidence store on a folder target', () => {
  it('opens <prefix>/<environment>/ on the primary target, or on evidence.target', () => {
    const store = openEvidence(policies(), 'production', {}, log);
    expect(store).toMatchObject({ folder: 'evidence/production/', environment: 'production' });
    expect(store.storage.name).toBe('server');
    expect(openEvidence(policies({ target: 'archive', prefix: 'audit' }), 'staging', {}, log)).toMatchObject({
      folder: 'audit/staging/',
      storage: { name: 'archive' },
    });
    expect(() => openEvidence(policies({ target: 'nope' }), 'production', {}, log)).toThrow(ConfigError);
    expect(() => openEvidence(policies({ target: 'nope' }), 'production', {}, log)).toThrow(/evidence.target "nope".*"server", "archive"/);
    expect(() => openEvidence(policies(), '../prod', {}, log)).toThrow(UsageError);
  });

  it('appends sealed, chained bundles as JSON + Markdown under sequence-time-kind keys', async () => {
    const store = openEvidence(policies(), 'production', {}, log);
    const first = await appendBundle(store, bundleDraft(), at(0), BUILD);
    const second = await appendBundle(store, bundleDraft({ kind: 'rollback', breakGlass: true }), at(5), BUILD);
    expect(first.key).toBe('evidence/production/000001-20260421T090007Z-deploy.json');
    expect(second.key).toBe('evidence/production/000002-20260421T090507Z-rollback.json');
    expect(second.markdownKey).toBe('evidence/production/000002-20260421T090507Z-rollback.md');
    expect(first.bundle).toMatchObject({ sequence: 1, previous: null, createdAt: '2026-04-21T09:00:07.123Z', environment: 'production', dbops: BUILD });
    expect(second.bundle.previous).toEqual({ sequence: 1, sha256: first.bundle.sha256 });
    expect(await readdir(folderOf(store))).toEqual([
      '000001-20260421T090007Z-deploy.json',
      '000001-20260421T090007Z-deploy.md',
      '000002-20260421T090507Z-rollback.json',
      '000002-20260421T090507Z-rollback.md',
    ]);
    expect(await readFile(join(folderOf(store), '000002-20260421T090507Z-rollback.json'), 'utf8')).toBe(second.json);
    expect(second.json).toBe(serialize(second.bundle));
    expect(second.markdown).toContain('BREAK-GLASS');
    const report = await verifyStore(store);
    expect(report).toMatchObject({ ok: true, bundles: 2, head: second.bundle.sha256 });
  });

  it('records the dbops version and the git commit when no build is given', async () => {
    const store = openEvidence(policies(), 'production', {}, log);
    const stored = await appendBundle(store, bundleDraft(), at(0));
    expect(stored.bundle.dbops.version).toBe(DBOPS_VERSION);
    expect(stored.bundle.dbops.commit === null || /^[0-9a-f]{40}$/.test(stored.bundle.dbops.commit)).toBe(true);
  });

  it('masks a password that reached the draft before sealing, and the sealed bundle still verifies', async () => {
    const store = openEvidence(policies(), 'production', {}, log);
    const execution = executionData({ outcome: 'failed' });
    execution.steps[1] = {
      ...execution.steps[1]!,
      outcome: 'failed',
      error: 'connection to postgresql://deployer:Hunter2-secret@db.internal:5432/astro failed',
    };
    const stored = await appendBundle(store, bundleDraft({ execution }), at(0), BUILD);
    const onDisk = (await readdir(folderOf(store))).map((f) => join(folderOf(store), f));
    for (const f of onDisk) expect(await readFile(f, 'utf8')).not.toContain('Hunter2-secret');
    expect(stored.json).toContain('postgresql://deployer:***@db.internal');
    expect((await verifyStore(store)).ok).toBe(true);
  });

  it('refuses to extend a chain whose newest bundle was edited, naming it, and writes nothing', async () => {
    const store = openEvidence(policies(), 'production', {}, log);
    await appendBundle(store, bundleDraft(), at(0), BUILD);
    const newest = await appendBundle(store, bundleDraft(), at(1), BUILD);
    const path = join(serverDir, ...newest.key.split('/'));
    await writeFile(path, newest.json.replace('"outcome": "succeeded"', '"outcome": "failed"'));
    const before = await readdir(folderOf(store));
    const err = await appendBundle(store, bundleDraft(), at(2), BUILD).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RefusedError);
    expect((err as Error).message).toContain(newest.key);
    expect((err as Error).message).toMatch(/hashes to [0-9a-f]{64} but it records sha256/);
    expect(await readdir(folderOf(store))).toEqual(before);

    // An edited Markdown twin blocks the chain as well.
    await writeFile(path, newest.json);
    await writeFile(join(serverDir, ...newest.markdownKey.split('/')), `${newest.markdown}edited\n`);
    await expect(appendBundle(store, bundleDraft(), at(2), BUILD)).rejects.toThrow(/does not verify.*the Markdown was edited/);
  });

  it('restores a Markdown twin a crash cut off after the JSON (the commit point) and goes on', async () => {
    const store = openEvidence(policies(), 'production', {}, log);
    const first = await appendBundle(store, bundleDraft(), at(0), BUILD);
    await unlink(join(serverDir, ...first.markdownKey.split('/')));
    expect((await verifyStore(store)).problems[0]).toMatchObject({ check: 'markdown', sequence: 1 });
    const second = await appendBundle(store, bundleDraft(), at(1), BUILD);
    expect(second.bundle.previous).toEqual({ sequence: 1, sha256: first.bundle.sha256 });
    expect(await readFile(join(serverDir, ...first.markdownKey.split('/')), 'utf8')).toBe(first.markdown);
    expect((await verifyStore(store)).ok).toBe(true);
  });

  it('never overwrites an existing key', async () => {
    const store = openEvidence(policies(), 'production', {}, log);
    await appendBundle(store, bundleDraft(), at(0), BUILD);
    const squatter = join(folderOf(store), '000002-20260421T090107Z-deploy.md');
    await writeFile(squatter, 'not ours\n');
    await expect(appendBundle(store, bundleDraft(), at(1), BUILD)).rejects.toThrow(
      /Refusing to overwrite evidence\/production\/000002-20260421T090107Z-deploy\.md/,
    );
    expect(await readFile(squatter, 'utf8')).toBe('not ours\n');
  });

  it('continues after a retention checkpoint when no bundle is left', async () => {
    const store = openEvidence(policies(), 'production', {}, log);
    const first = await appendBundle(store, bundleDraft(), at(0), BUILD);
    await writeFile(
      join(folderOf(store), CHECKPOINT_FILE),
      serialize({
        formatVersion: 1,
        environment: 'production',
        throughSequence: 1,
        sha256: first.bundle.sha256,
        createdAt: first.bundle.createdAt,
        prunedAt: '2027-06-01T00:00:00.000Z',
        retention: '12mo',
      }),
    );
    await unlink(join(serverDir, ...first.key.split('/')));
    await unlink(join(serverDir, ...first.markdownKey.split('/')));
    const next = await appendBundle(store, bundleDraft(), at(1), BUILD);
    expect(next.bundle).toMatchObject({ sequence: 2, previous: { sequence: 1, sha256: first.bundle.sha256 } });
    expect(await verifyStore(store)).toMatchObject({ ok: true, anchor: { via: 'checkpoint', sequence: 1 } });
  });

  it('keeps an in-flight marker beside the chain, outside it', async () => {
    const store = openEvidence(policies(), 'production', {}, log);
    await appendBundle(store, bundleDraft(), at(0), BUILD);
    expect(await readInflight(store)).toBeUndefined();
    const marker: InflightMarker = {
      formatVersion: 1,
      environment: 'production',
      action: 'deploy',
      startedAt: at(1).toISOString(),
      run: null,
      by: 'release-manager',
      database: { name: 'astro', systemIdentifier: '7361234567890123456' },
      planned: ['20260421083000_invoices_due_date'],
      pid: 4242,
      host: 'runner-1',
    };
    await writeInflight(store, marker);
    expect(await readInflight(store)).toEqual(marker);
    expect((await verifyStore(store)).ok).toBe(true);

    await writeFile(join(folderOf(store), 'inflight.json'), '{"formatVersion": 1, "environment": ');
    logLines.length = 0;
    expect(await readInflight(store)).toBeUndefined();
    expect(logLines.some((l) => l.level === 40 && l.msg.includes('evidence/production/inflight.json') && l.msg.includes('not valid JSON'))).toBe(true);
    await writeFile(join(folderOf(store), 'inflight.json'), '{"formatVersion": 1}');
    expect(await readInflight(store)).toBeUndefined();

    await clearInflight(store);
    await clearInflight(store);
    expect(await readInflight(store)).toBeUndefined();
    expect(await readdir(folderOf(store))).not.toContain('inflight.json');
  });
});

describe('evidence store on an S3 target', () => {
  let server: S3Server;
  beforeAll(async () => {
    server = await startS3rver({ bucket: 'dbops-evidence' });
  });
  afterAll(async () => {
    await server.stop();
  });

  it('appends, reads back and verifies through the S3 client, and the secret never shows', async () => {
    const p = {
      backups: BackupsPolicy.parse({ version: 1, targets: { offsite: { ...s3Target(server), primary: true } } }),
      environments: EnvironmentsPolicy.parse({ version: 1, environments: {} }),
    };
    const store = openEvidence(p, 'production', s3Env(server), log);
    const a = await appendBundle(store, bundleDraft(), at(0), BUILD);
    const b = await appendBundle(store, bundleDraft({ kind: 'rollback' }), at(1), BUILD);
    expect(b.bundle.previous).toEqual({ sequence: 1, sha256: a.bundle.sha256 });
    await writeInflight(store, {
      formatVersion: 1,
      environment: 'production',
      action: 'rollback',
      startedAt: at(2).toISOString(),
      run: null,
      by: 'x',
      database: { name: 'astro', systemIdentifier: '1' },
      planned: [],
      pid: 1,
      host: 'h',
    });
    expect((await readInflight(store))?.action).toBe('rollback');
    const report = await verifyStore(store);
    expect(report).toMatchObject({ ok: true, bundles: 2, head: b.bundle.sha256 });
    await clearInflight(store);
    expect(await readInflight(store)).toBeUndefined();
    expect(JSON.stringify(logLines)).not.toContain(server.secretAccessKey);
  });
});
