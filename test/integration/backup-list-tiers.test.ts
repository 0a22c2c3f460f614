// `dbops backup list` with both tiers: the logical backups of the storage target and, when pitr: is
// configured, the physical backups of the embedded cluster's pgBackRest repository beside them. The
// physical tier never costs the logical list: not set up, failing or with the server down, it is a line.
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ageKey } from '../helpers/age.ts';
import { dbops, testEnv, type CliRun } from '../helpers/cli.ts';
import { tempDir } from '../helpers/migrations.ts';

/** Ages move between two runs and change the width of their column: compared without them. */
const withoutAges = (text: string) => text.replace(/\d+ (s|min|h|d)( \d+ (min|h))?/g, 'AGE').replace(/ +/g, ' ');

describe('dbops backup list: the logical and the physical tier side by side', async () => {
  const home = await tempDir('dbops-list-tiers-');
  // The server's OS user reaches the cluster, the repository and the fake pgBackRest below.
  await chmod(home, 0o755);
  const localDir = join(home, 'local');
  const env = testEnv({ DBOPS_LOCAL_DIR: localDir });
  const storage = join(home, 'backup-server');
  const logicalOnly = join(home, 'policies');
  const bothTiers = join(home, 'policies-pitr');
  const reports = join(home, 'reports');
  const runs: CliRun[] = [];
  const run = async (args: string[], e: NodeJS.ProcessEnv = env) => {
    const r = await dbops(args, e);
    runs.push(r);
    return r;
  };
  const list = (policies: string, ...extra: string[]) => run(['backup', 'list', '--policies-dir', policies, ...extra]);
  const listJson = async (policies: string, e: NodeJS.ProcessEnv = env) => {
    const r = await run(['backup', 'list', '--policies-dir', policies, '--json'], e);
    expect(r.code, r.all).toBe(0);
    return JSON.parse(r.stdout).data;
  };
  let password = '';
  let port = 0;
  let logicalId = '';

  beforeAll(async () => {
    await Promise.all([mkdir(storage), mkdir(logicalOnly), mkdir(bothTiers), mkdir(reports)]);
    const { recipient } = await ageKey();
    const backups = {
      version: 1,
      encryption: { recipients: [{ name: 'test', key: recipient }] },
      targets: { server: { type: 'directory', path: storage, primary: true } },
    };
    await writeFile(join(logicalOnly, 'backups.yaml'), JSON.stringify(backups));
    await writeFile(join(bothTiers, 'backups.yaml'), JSON.stringify({ ...backups, pitr: {} }));
    expect((await run(['local', 'up'])).code).toBe(0);
    const state = JSON.parse(await readFile(join(localDir, 'cluster.json'), 'utf8'));
    password = state.password;
    port = state.port;
    const created = await run(['backup', 'create', '--tier', 'daily', '--policies-dir', logicalOnly, '--reports-dir', reports, '--json']);
    expect(created.code, created.all).toBe(0);
    logicalId = JSON.parse(created.stdout).data.manifest.id;
  });

  afterAll(async () => {
    await dbops(['local', 'down', '--destroy'], env);
    for (const r of runs) expect(r.all).not.toContain(password);
  });

  it('with pitr: configured but never enabled, the physical tier is one line saying so', async () => {
    const text = await list(bothTiers);
    expect(text.code, text.all).toBe(0);
    expect(text.stdout).toContain('1 backup on target "server"');
    expect(text.stdout).toContain(logicalId);
    expect(text.stdout).toMatch(/\n\nPhysical tier: not set up \(run dbops pitr enable\)\n$/);
    const data = await listJson(bothTiers);
    expect(data.backups.map((b: { manifest: { id: string } }) => b.manifest.id)).toEqual([logicalId]);
    expect(data).toMatchObject({ physical: null, physicalReason: 'not set up (run dbops pitr enable)' });
  });

  it('after pitr enable and a verified full backup, both tiers are listed in text and JSON', async () => {
    expect((await run(['pitr', 'enable', '--policies-dir', bothTiers])).code).toBe(0);
    const full = await run(['pitr', 'backup', '--type', 'full', '--policies-dir', bothTiers, '--json']);
    expect(full.code, full.all).toBe(0);
    const label = JSON.parse(full.stdout).data.backups[0].label as string;
    expect((await run(['pitr', 'verify', '--policies-dir', bothTiers])).code).toBe(0);

    const text = await list(bothTiers);
    expect(text.code, text.all).toBe(0);
    const [logical, physical] = text.stdout.split(/\n(?=\d+ physical backup)/);
    // The logical section as ever: the one pg_dump backup of the target.
    expect(logical).toContain('1 backup on target "server"');
    expect(logical).toMatch(new RegExp(`${logicalId}\\s+daily\\s+.*unverified\\s+dbops\\n`));
    // The physical section: what `dbops pitr list` gives, as a table of the same shape.
    expect(physical).toContain(`1 physical backup (pgBackRest stanza main of postgresql://postgres:***@127.0.0.1:${port}/dbops), oldest first:`);
    expect(physical).toMatch(/LABEL\s+TYPE\s+REPO\s+STOPPED \(UTC\)\s+AGE\s+SIZE\s+STATUS/);
    expect(physical).toMatch(
      new RegExp(
        `${label}\\s+full\\s+repo1\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\dZ\\s+\\d+ (s|min)\\s+[\\d.]+ (KiB|MiB)\\s+verified \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\dZ\\n`,
      ),
    );
    expect(physical).toContain('1 verified, 0 failed, 0 unverified.');
    expect(physical).toMatch(/Archived WAL: [0-9A-F]{24} … [0-9A-F]{24}\.\n$/);

    const data = await listJson(bothTiers);
    expect(data.backups.map((b: { manifest: { id: string } }) => b.manifest.id)).toEqual([logicalId]);
    expect(data.physicalReason).toBeNull();
    expect(data.physical).toMatchObject({
      stanza: 'main',
      database: `postgresql://postgres:***@127.0.0.1:${port}/dbops`,
      archive: { min: expect.stringMatching(/^[0-9A-F]{24}$/), max: expect.stringMatching(/^[0-9A-F]{24}$/) },
      backups: [{ label, type: 'full', repo: 1, verified: { ok: true, at: expect.any(String) } }],
    });
    // The same backups `dbops pitr list` shows.
    const pitr = JSON.parse((await run(['pitr', 'list', '--policies-dir', bothTiers, '--json'])).stdout).data;
    expect(data.physical.backups).toEqual(pitr.backups);
  });

  it('without pitr: configured the output is the logical list alone, as before, and physical is null', async () => {
    const text = await list(logicalOnly);
    expect(text.code, text.all).toBe(0);
    expect(text.stdout).not.toMatch(/physical/i);
    const both = await list(bothTiers);
    // Word for word the logical part of the list with both tiers.
    expect(withoutAges(both.stdout).startsWith(withoutAges(text.stdout))).toBe(true);
    expect(withoutAges(both.stdout).length).toBeGreaterThan(withoutAges(text.stdout).length);
    const data = await listJson(logicalOnly);
    expect(data).toMatchObject({ physical: null, physicalReason: null });
    expect(data.backups.map((b: { manifest: { id: string } }) => b.manifest.id)).toEqual([logicalId]);
  });

  it('a failing pgBackRest leaves the logical list whole, with the reason in place of the physical tier', async () => {
    const bin = join(home, 'fake-bin');
    await mkdir(bin, { mode: 0o755 });
    await writeFile(join(bin, 'pgbackrest'), '#!/bin/sh\necho "P00  ERROR: [055]: unable to load info file" >&2\nexit 55\n', { mode: 0o755 });
    const broken = { ...env, PATH: `${bin}:${env['PATH']}` };
    const text = await run(['backup', 'list', '--policies-dir', bothTiers], broken);
    expect(text.code, text.all).toBe(0);
    expect(text.stdout).toContain(logicalId);
    expect(text.stdout).toMatch(/\n\nPhysical tier: not listed: pgbackrest info failed \(exit 55\): ERROR: \[055\]: unable to load info file\n$/);
    const data = await listJson(bothTiers, broken);
    expect(data.backups).toHaveLength(1);
    expect(data.physical).toBeNull();
    expect(data.physicalReason).toMatch(/^not listed: pgbackrest info failed \(exit 55\)/);
  });

  it('with the server stopped, the physical tier comes from what pitr enable saved, and the cluster stays stopped', async () => {
    expect((await run(['local', 'down'])).code).toBe(0);
    const data = await listJson(bothTiers);
    expect(data.physicalReason).toBeNull();
    expect(data.physical.backups).toHaveLength(1);
    expect(data.backups).toHaveLength(1);
    const status = await run(['local', 'status', '--json']);
    expect(JSON.parse(status.stdout).data).toMatchObject({ exists: true, running: false });
  });
});
