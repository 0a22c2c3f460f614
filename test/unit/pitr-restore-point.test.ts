// The evidence of a restore point: which bundle recorded it (a deploy names it after its bundle), what that
// deploy applied, and the judgement of a restored ledger against it.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../pipeline/core/logger.ts';
import type { Runtime } from '../../pipeline/core/runtime.ts';
import { DBOPS_VERSION } from '../../pipeline/core/version.ts';
import type { MigrationRow } from '../../pipeline/change/migrations/index.ts';
import { appendBundle, openEvidence, openLocalEvidence } from '../../pipeline/evidence/index.ts';
import { BackupsPolicy } from '../../pipeline/policy/backups.ts';
import { EnvironmentsPolicy } from '../../pipeline/policy/environments.ts';
import { deployRestorePoint, findRestorePointBundle, judgeRestorePoint, migrationsOf, NO_BUNDLE } from '../../pipeline/protection/pitr/index.ts';
import { bundleDraft, executionData } from '../helpers/evidence.ts';

const BUILD = { version: DBOPS_VERSION, commit: null };
const M1 = '20260421083000_invoices_due_date';
const M2 = '20260422090000_drop_legacy | table <b>';

const row = (name: string, over: Partial<MigrationRow> = {}): MigrationRow => ({
  id: name,
  checksum: 'c'.repeat(64),
  finishedAt: '2026-04-21T08:29:31.000000Z',
  migrationName: name,
  logs: null,
  rolledBackAt: null,
  startedAt: '2026-04-21T08:29:30.000000Z',
  appliedStepsCount: 1,
  ...over,
});

describe('restore point names', () => {
  it('reads dbops-<environment>-<bundle sequence>; any other name is a manual restore point', () => {
    expect(deployRestorePoint('dbops-production-42')).toEqual({ environment: 'production', sequence: 42 });
    // The sequence always ends the name, so environments with dashes and digits stay whole.
    expect(deployRestorePoint('dbops-staging-eu-7')).toEqual({ environment: 'staging-eu', sequence: 7 });
    expect(deployRestorePoint('dbops-prod-2-7')).toEqual({ environment: 'prod-2', sequence: 7 });
    for (const name of ['before-drop', 'dbops-production', 'dbops-Production-1', 'dbops--1', 'xdbops-production-1'])
      expect(deployRestorePoint(name)).toBeUndefined();
  });

  it("takes a deploy's applied migrations, or a rollback's rolled-back ones", () => {
    const steps = executionData().steps;
    expect(migrationsOf(executionData())).toEqual([M1, M2]);
    expect(
      migrationsOf(
        executionData({
          outcome: 'failed-rolled-back',
          steps: [
            { ...steps[0]!, outcome: 'applied' },
            { ...steps[1]!, outcome: 'failed' },
            { ...steps[0]!, action: 'rollback', outcome: 'rolled-back' },
          ],
        }),
      ),
    ).toEqual([M1]);
    expect(migrationsOf(executionData({ action: 'rollback', steps: [{ ...steps[1]!, action: 'rollback', outcome: 'rolled-back' }] }))).toEqual([M2]);
  });
});

describe('the proof on a restored ledger', () => {
  const deploy = { kind: 'deploy' as const, sequence: 42 };
  const rollback = { kind: 'rollback' as const, sequence: 43 };

  it('passes for a deploy whose migrations are absent (rolled back or failed rows do not count), and fails naming those applied', () => {
    const before = [row('older'), row(M1, { rolledBackAt: '2026-04-20T00:00:00.000000Z' }), row(M2, { finishedAt: null })];
    expect(judgeRestorePoint(deploy, [M1, M2], before)).toEqual({
      ok: true,
      expect: 'absent',
      wrong: [],
      message: 'none of the 2 migration(s) deploy #42 applied is applied here (_prisma_migrations): the database from before that deploy',
    });
    expect(judgeRestorePoint(deploy, [M1, M2], [])).toMatchObject({ ok: true });
    const after = judgeRestorePoint(deploy, [M1, M2], [row('older'), row(M2)]);
    expect(after).toMatchObject({ ok: false, wrong: [M2] });
    expect(after.message).toBe(
      `${M2} is applied in the restored database (_prisma_migrations), though deploy #42 applied it: this is not the database from before that deploy`,
    );
    expect(judgeRestorePoint(deploy, [], [row(M1)])).toMatchObject({
      ok: true,
      message: 'deploy #42 applied no migration: nothing to compare in _prisma_migrations',
    });
  });

  it('passes for a rollback whose migrations are still applied, and fails naming those missing', () => {
    expect(judgeRestorePoint(rollback, [M2, M1], [row(M1), row(M2)])).toMatchObject({ ok: true, expect: 'present', wrong: [] });
    const wrong = judgeRestorePoint(rollback, [M2, M1], [row(M1)]);
    expect(wrong).toMatchObject({ ok: false, wrong: [M2] });
    expect(wrong.message).toContain(`${M2} is not applied in the restored database (_prisma_migrations), though rollback #43 rolled it back later`);
  });
});

describe('the bundle that recorded a restore point', () => {
  let root: string;
  let serverDir: string;
  const rt = { log: silentLogger(), env: {}, signal: new AbortController().signal, progress: () => undefined } as unknown as Runtime;
  const backups = () => BackupsPolicy.parse({ version: 1, targets: { server: { type: 'directory', path: serverDir, primary: true } } });
  const environments = async () => EnvironmentsPolicy.parse({ version: 1, environments: {} });
  const point = (name: string) => ({ name, lsn: '0/4000028', at: '2026-04-21T08:29:30.123456Z' });
  let firstKey = '';

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dbops-restore-point-'));
    serverDir = join(root, 'server');
    await mkdir(serverDir);
    const store = openEvidence({ backups: backups(), environments: await environments() }, 'production', {}, rt.log);
    const at = (minute: number) => new Date(Date.UTC(2026, 3, 21, 9, minute, 7));
    firstKey = (await appendBundle(store, bundleDraft({ execution: executionData({ restorePoint: point('dbops-production-1') }) }), at(0), BUILD)).key;
    await appendBundle(store, bundleDraft(), at(5), BUILD);
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const find = (name: string, envs = environments) => findRestorePointBundle({ name, backups: backups(), environments: envs }, rt);

  it('is the bundle of the sequence the name gives, when its execution recorded that name', async () => {
    const found = await find('dbops-production-1');
    expect(found).toMatchObject({
      name: 'dbops-production-1',
      environment: 'production',
      bundle: {
        environment: 'production',
        sequence: 1,
        kind: 'deploy',
        key: firstKey,
        outcome: 'succeeded',
        lsn: '0/4000028',
        sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      },
      migrations: [M1, M2],
      note: null,
      warning: false,
      proof: null,
    });
    // Bundle 2 records no restore point, bundle 7 does not exist, and a manual name is not looked up at all.
    for (const name of ['dbops-production-2', 'dbops-production-7'])
      expect(await find(name)).toMatchObject({ environment: 'production', bundle: null, note: NO_BUNDLE, warning: false });
    const never = async () => {
      throw new Error('the environments policy is not needed for a manual restore point');
    };
    expect(await find('before-drop', never)).toMatchObject({ environment: null, bundle: null, note: NO_BUNDLE, warning: false });
  });

  it('evidence that cannot be read, or a bundle that does not verify, is a warning and names no bundle', async () => {
    const unreadable = await find('dbops-production-1', async () => {
      throw new Error('policies/environments.yaml: evidence.prefix must be a string');
    });
    expect(unreadable).toMatchObject({ bundle: null, warning: true });
    expect(unreadable.note).toBe('the evidence of production could not be read: policies/environments.yaml: evidence.prefix must be a string');

    const file = join(serverDir, ...firstKey.split('/'));
    const original = await readFile(file, 'utf8');
    try {
      await writeFile(file, original.replace('0/4000028', '0/4000029'));
      const tampered = await find('dbops-production-1');
      expect(tampered).toMatchObject({ bundle: null, warning: true, migrations: [] });
      expect(tampered.note).toMatch(
        /^bundle #1 of production \(evidence\/production\/000001-.*\.json\) does not verify, so it is not used as evidence: .*edited after it was sealed/,
      );
    } finally {
      await writeFile(file, original);
    }
  });

  it("of the environment local is looked for in the embedded cluster's own evidence", async () => {
    const env = { DBOPS_LOCAL_DIR: join(root, 'local') };
    const local = await openLocalEvidence(env, rt.log);
    await appendBundle(
      local,
      bundleDraft({ environment: 'local', execution: executionData({ environment: 'local', restorePoint: point('dbops-local-1') }) }),
      new Date(Date.UTC(2026, 3, 21, 10, 0, 0)),
      BUILD,
    );
    const never = async () => {
      throw new Error('the environments policy is not needed for the local evidence');
    };
    const found = await findRestorePointBundle({ name: 'dbops-local-1', backups: backups(), environments: never }, { ...rt, env });
    expect(found).toMatchObject({
      environment: 'local',
      bundle: { environment: 'local', sequence: 1, key: expect.stringMatching(/^local\/000001-/) },
      warning: false,
    });
  });
});
