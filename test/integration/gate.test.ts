// `dbops gate` on real PostgreSQL (a production and a staging database), with real backups in the fixture's
// folder target, hand-written catalog entries for the stale/unverified/other-database cases, and a loopback
// GitHub REST server for approvals: every check, every reason reported together, no secret in any output.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { newBackupId, recordVerification, writeManifest } from '../../pipeline/protection/backup/catalog.ts';
import { createContext } from '../../pipeline/cli/context.ts';
import { UsageError } from '../../pipeline/core/errors.ts';
import { silentLogger } from '../../pipeline/core/logger.ts';
import { resolveEnvironment } from '../../pipeline/change/release/environment.ts';
import { evaluateGate } from '../../pipeline/change/release/gate.ts';
import { loadPolicies } from '../../pipeline/policy/load.ts';
import { openSession } from '../../pipeline/change/migrations/history.ts';
import type { GateData } from '../../pipeline/evidence/records.ts';
import { DirectoryStorage } from '../../pipeline/infra/storage/directory.ts';
import { manifestFor, record } from '../helpers/backup-catalog.ts';
import { dbops, type CliRun } from '../helpers/cli.ts';
import { databasePerTest, serverPassword, type TestDb } from '../helpers/db.ts';
import { deployFixture, type DeployFixture } from '../helpers/environments.ts';
import { startGitHubServer, type GitHubServer } from '../helpers/github-server.ts';
import { WEEKDAYS } from '../../pipeline/core/time.ts';

const fresh = databasePerTest('gate');

const M1 = '20260101000000_ledger';
const M2 = '20260102000000_ledger_note';
const migrations = {
  [M1]: 'CREATE TABLE "Ledger"(id int PRIMARY KEY, amount numeric NOT NULL);\n',
  [M2]: 'ALTER TABLE "Ledger" ADD COLUMN note text;\n',
};
const rollbacks = { [M1]: 'DROP TABLE "Ledger";\n', [M2]: 'ALTER TABLE "Ledger" DROP COLUMN note;\n' };

/** Production: one approval-free environment by default; each test overrides what it judges. */
const production = (over: Record<string, unknown> = {}) => ({ approvals: 0, staging_first: 'staging', backup: { required: true, max_age: '60min' }, ...over });
const staging = { approvals: 0, backup: { required: false } };

interface Setup {
  fx: DeployFixture;
  prod: TestDb;
  stage: TestDb;
  outputs: string[];
  gate(...extra: string[]): Promise<{ run: CliRun; data: GateData }>;
  /** Applies migrations to an environment with the executor. */
  migrate(environment: 'staging' | 'production'): Promise<void>;
  systemIdentifier(): Promise<string>;
}

async function setup(productionPolicy: Record<string, unknown> = production(), extraEnv: NodeJS.ProcessEnv = {}): Promise<Setup> {
  const [prod, stage] = await Promise.all([fresh(), fresh()]);
  const fx = await deployFixture({
    urls: { production: prod.url, staging: stage.url },
    environments: { production: productionPolicy, staging },
    migrations,
    rollbacks,
    extraEnv,
  });
  const outputs: string[] = [];
  const s: Setup = {
    fx,
    prod,
    stage,
    outputs,
    async gate(...extra) {
      const run = await dbops(['gate', '--environment', 'production', ...fx.flags, '--json', ...extra], fx.env);
      outputs.push(run.all);
      const parsed = JSON.parse(run.stdout) as { data?: GateData; error?: unknown };
      if (!parsed.data) throw new Error(`gate failed: ${run.all}`);
      return { run, data: parsed.data };
    },
    async migrate(environment) {
      const run = await dbops(
        [
          'migrate',
          'deploy',
          '--database-url',
          environment === 'staging' ? stage.url : prod.url,
          '--migrations-dir',
          fx.migrationsDir,
          '--policies-dir',
          fx.policiesDir,
        ],
        fx.env,
      );
      outputs.push(run.all);
      expect(run.code, run.all).toBe(0);
    },
    async systemIdentifier() {
      return (await prod.query<{ id: string }>('SELECT system_identifier::text AS id FROM pg_control_system()'))[0]!.id;
    },
  };
  return s;
}

const storageOf = (fx: DeployFixture) => new DirectoryStorage({ name: 'server', path: fx.storageDir, cwd: fx.root });

/** A catalog entry in the folder target, as `backup create` + `verify` would leave it. */
async function catalogEntry(s: Setup, o: { ageMin: number; status: 'verified' | 'unverified' | 'failed'; systemIdentifier?: string; name?: string }) {
  const finished = new Date(Date.now() - o.ageMin * 60_000);
  const id = newBackupId('daily', finished);
  const manifest = manifestFor(id, 'daily', finished.toISOString());
  manifest.database.systemIdentifier = o.systemIdentifier ?? (await s.systemIdentifier());
  manifest.database.name = o.name ?? s.prod.name;
  const storage = storageOf(s.fx);
  await writeManifest(storage, manifest);
  if (o.status !== 'unverified')
    await recordVerification(storage, record(id, new Date(finished.getTime() + 60_000).toISOString(), 'read', o.status === 'verified', 'server'));
  return id;
}

const check = (data: GateData, name: GateData['checks'][number]['name']) => data.checks.find((c) => c.name === name)!;
const rules = (data: GateData) => data.checks.flatMap((c) => c.reasons.map((r) => r.rule));

function expectNoSecrets(s: Setup) {
  const all = s.outputs.join('\n');
  expect(all).not.toContain(serverPassword());
  expect(all).not.toContain(s.fx.identity);
  expect(all).not.toContain('AGE-SECRET-KEY');
}

/** The weekday after today's in UTC: a window on it alone is closed now (whole-day windows, UTC). */
const tomorrow = () => WEEKDAYS[(new Date().getUTCDay() + 6 + 1) % 7]!;

describe('dbops gate: backup', () => {
  it('a fresh verified backup of this database, taken and verified with the real commands, passes with staging first', async () => {
    const s = await setup();
    await s.migrate('staging');
    const created = await dbops(
      ['backup', 'create', '--tier', 'pre-deploy', '--database-url', s.prod.url, '--policies-dir', s.fx.policiesDir, '--reports-dir', s.fx.reportsDir],
      s.fx.env,
    );
    s.outputs.push(created.all);
    expect(created.code, created.all).toBe(0);
    const verified = await dbops(['backup', 'verify', '--latest', '--policies-dir', s.fx.policiesDir, '--reports-dir', s.fx.reportsDir], s.fx.env);
    s.outputs.push(verified.all);
    expect(verified.code, verified.all).toBe(0);

    const { run, data } = await s.gate();
    expect(run.code, run.all).toBe(0);
    expect(data.decision).toBe('allowed');
    expect(check(data, 'backup').status).toBe('pass');
    expect(data.backup).toMatchObject({
      status: 'verified',
      database: s.prod.name,
      systemIdentifier: await s.systemIdentifier(),
      taken: false,
      tier: 'pre-deploy',
    });
    expect(data.migrations.map((m) => [m.name, m.rollback.status])).toEqual([
      [M1, 'paired'],
      [M2, 'paired'],
    ]);
    expect(check(data, 'staging-first').status).toBe('pass');
    expect(data.testing.staging?.migrations.map((m) => m.name)).toEqual([M1, M2]);
    expect(check(data, 'lint').status).not.toBe('fail');
    expect(data.testing.lint?.errors).toBe(0);
    expectNoSecrets(s);
  });

  it("--take-backup takes a pre-deploy backup of the environment's database, verifies it and judges it", async () => {
    const s = await setup(production({ staging_first: undefined }));
    await s.prod.query('CREATE TABLE keepme(id int)');
    const { run, data } = await s.gate('--take-backup');
    expect(run.code, run.all).toBe(0);
    expect(data.backup).toMatchObject({
      taken: true,
      status: 'verified',
      tier: 'pre-deploy',
      database: s.prod.name,
      verification: { level: 'read', ok: true },
    });
    const listed = await dbops(['backup', 'list', '--policies-dir', s.fx.policiesDir, '--json'], s.fx.env);
    const backups = (JSON.parse(listed.stdout) as { data: { backups: Array<{ manifest: { id: string; note?: string } }> } }).data.backups;
    expect(backups.map((b) => b.manifest.id)).toContain(data.backup!.id);
    expect(backups.find((b) => b.manifest.id === data.backup!.id)?.manifest.note).toContain('environment production');
    expectNoSecrets(s);
  });

  it('stale, unverified and failed backups, and backups of another cluster or database, refuse and say why', async () => {
    const s = await setup(production({ staging_first: undefined }));
    const stale = await catalogEntry(s, { ageMin: 180, status: 'verified' });
    let { run, data } = await s.gate();
    expect(run.code).toBe(1);
    const staleReason = check(data, 'backup').reasons.find((r) => r.rule === 'backup/stale')!;
    expect(staleReason.message).toContain(stale);
    expect(staleReason.message).toMatch(/finished 3 h ago .*at most 60min/);

    const unverified = await catalogEntry(s, { ageMin: 5, status: 'unverified' });
    ({ data } = await s.gate());
    expect(check(data, 'backup').reasons.map((r) => r.rule)).toEqual(['backup/unverified']);
    expect(check(data, 'backup').reasons[0]!.message).toContain(unverified);

    await catalogEntry(s, { ageMin: 2, status: 'failed' });
    ({ data } = await s.gate());
    expect(check(data, 'backup').reasons.map((r) => r.rule)).toEqual(['backup/failed']);
  });

  it('records the newest restore test of this database (checklist: when restoring was last proven), whichever backup it was', async () => {
    const s = await setup(production({ staging_first: undefined }));
    const tested = await catalogEntry(s, { ageMin: 3 * 24 * 60, status: 'verified' });
    const storage = storageOf(s.fx);
    const at = new Date(Date.now() - 2 * 24 * 3_600_000).toISOString();
    await recordVerification(storage, { ...record(tested, at, 'restore', true, 'server'), restoreMs: 95_000 });
    // Another cluster's restore test, newer, is not evidence for this database.
    const foreign = await catalogEntry(s, { ageMin: 60, status: 'verified', systemIdentifier: '7000000000000000001' });
    await recordVerification(storage, record(foreign, new Date().toISOString(), 'restore', true, 'server'));
    const fresh = await catalogEntry(s, { ageMin: 5, status: 'verified' });
    const { run, data } = await s.gate();
    expect(run.code, run.all).toBe(0);
    expect(data.backup).toMatchObject({ id: fresh, lastRestoreTest: { backupId: tested, at, ok: true, restoreMs: 95_000 } });
  });

  it('a backup of another cluster (same database name) or another database is not a backup of this one', async () => {
    const s = await setup(production({ staging_first: undefined }));
    await catalogEntry(s, { ageMin: 5, status: 'verified', systemIdentifier: '7000000000000000001' });
    let { run, data } = await s.gate();
    expect(run.code).toBe(1);
    let reason = check(data, 'backup').reasons[0]!;
    expect(reason.rule).toBe('backup/none');
    expect(reason.message).toContain(`database ${s.prod.name} of system identifier 7000000000000000001`);
    expect(reason.message).toContain(await s.systemIdentifier());

    const other = await setup(production({ staging_first: undefined }));
    await catalogEntry(other, { ageMin: 5, status: 'verified', name: 'astro_reporting' });
    ({ data } = await other.gate());
    reason = check(data, 'backup').reasons[0]!;
    expect(reason.rule).toBe('backup/none');
    expect(reason.message).toContain('database astro_reporting of system identifier');
  });
});

describe('dbops gate: staging first, clean state, window, break-glass', () => {
  it('staging missing a migration, or holding another checksum, refuses naming the migration and staging', async () => {
    const s = await setup(production({ backup: { required: false } }));
    let { run, data } = await s.gate();
    expect(run.code).toBe(1);
    expect(check(data, 'staging-first').reasons.map((r) => [r.rule, r.migration])).toEqual([
      ['staging/missing', M1],
      ['staging/missing', M2],
    ]);
    expect(check(data, 'staging-first').reasons[0]!.message).toContain('staging environment "staging"');

    await s.migrate('staging');
    await s.stage.query(`UPDATE _prisma_migrations SET checksum = $1 WHERE migration_name = $2`, ['f'.repeat(64), M2]);
    ({ data } = await s.gate());
    const reasons = check(data, 'staging-first').reasons;
    expect(reasons.map((r) => [r.rule, r.migration])).toEqual([['staging/checksum', M2]]);
    expect(reasons[0]!.message).toContain('f'.repeat(64));
    expect(reasons[0]!.message).toContain(data.migrations.find((m) => m.name === M2)!.sha256);
  });

  it('an unreachable staging fails closed', async () => {
    const s = await setup(production({ backup: { required: false } }));
    const env = { ...s.fx.env, STAGING_DATABASE_URL: 'postgresql://nobody:s3cretStagingPw@127.0.0.1:1/none' };
    const run = await dbops(['gate', '--environment', 'production', ...s.fx.flags, '--json'], env);
    const data = (JSON.parse(run.stdout) as { data: GateData }).data;
    expect(check(data, 'staging-first').reasons.map((r) => r.rule)).toEqual(['staging/unreachable']);
    expect(run.all).not.toContain('s3cretStagingPw');
  });

  it('a failed migration row refuses with the P3009 wording and the fix', async () => {
    const s = await setup(production({ backup: { required: false }, staging_first: undefined }));
    await s.migrate('production');
    await s.prod.query(
      `INSERT INTO _prisma_migrations (id, checksum, migration_name, logs, started_at) VALUES ('00000000-0000-4000-8000-000000000001', $1, '20260103000000_broken', 'ERROR: boom', now())`,
      ['a'.repeat(64)],
    );
    await s.prod.query(`UPDATE _prisma_migrations SET checksum = $1 WHERE migration_name = $2`, ['b'.repeat(64), M1]);
    const { run, data } = await s.gate();
    expect(run.code).toBe(1);
    const reasons = check(data, 'clean-state').reasons;
    expect(reasons.map((r) => [r.rule, r.migration])).toEqual([
      ['state/failed', '20260103000000_broken'],
      ['state/modified', M1],
    ]);
    expect(reasons[0]!.message).toContain('P3009');
    expect(reasons[0]!.message).toContain('`20260103000000_broken` migration started at');
    expect(reasons[0]!.hint).toContain('dbops migrate resolve --database-url "$PRODUCTION_DATABASE_URL" --rolled-back 20260103000000_broken');
  });

  it('outside every change window: refused naming zone, local time and next opening; --outside-window waives it with an extra approval', async () => {
    const day = tomorrow();
    const windows = { zone: 'UTC', open: [{ days: [day], from: '00:00', to: '24:00' }] };
    const s = await setup(production({ backup: { required: false }, staging_first: undefined, windows, break_glass: true }));
    let { run, data } = await s.gate();
    expect(run.code).toBe(1);
    const reason = check(data, 'window').reasons[0]!;
    expect(reason.rule).toBe('window/closed');
    expect(reason.message).toMatch(/it is \w{3} \d{4}-\d{2}-\d{2} \d{2}:\d{2} in UTC; the next window opens \w{3} \d{4}-\d{2}-\d{2} 00:00/);
    expect(reason.message).toContain(`${day} 00:00–24:00 (UTC)`);

    ({ data } = await s.gate('--outside-window', 'INC-1: month-end fix'));
    expect(check(data, 'window').status).toBe('waived');
    expect(data.outsideWindow?.reason).toBe('INC-1: month-end fix');
    // Outside the window one extra approval is needed, which only exists inside GitHub Actions.
    expect(check(data, 'approval').reasons.map((r) => r.rule)).toEqual(['approval/not-in-actions']);
    expect(check(data, 'approval').reasons[0]!.message).toContain('0 + 1 for deploying outside a change window');

    await s.fx.writeEnvironments({
      production: production({ backup: { required: false }, staging_first: undefined, windows: { ...windows, outside_window: { allowed: false } } }),
      staging,
    });
    ({ data } = await s.gate('--outside-window', 'INC-1'));
    expect(check(data, 'window').reasons.map((r) => r.rule)).toEqual(['window/outside-not-allowed']);
  });

  it('break-glass outside Actions is waived and recorded when allowed, refused when not', async () => {
    const s = await setup(production({ approvals: 1, break_glass: true, backup: { required: false }, staging_first: undefined }));
    let { run, data } = await s.gate();
    expect(run.code).toBe(1);
    expect(check(data, 'approval').reasons.map((r) => r.rule)).toEqual(['approval/not-in-actions']);

    ({ run, data } = await s.gate('--break-glass', 'GitHub outage, CAB call 02:10'));
    expect(run.code, run.all).toBe(0);
    expect(check(data, 'approval').status).toBe('waived');
    expect(data.breakGlass).toMatchObject({ reason: 'GitHub outage, CAB call 02:10' });
    expect(data.breakGlass!.by.length).toBeGreaterThan(0);
    expect(data.breakGlass!.host.length).toBeGreaterThan(0);

    await s.fx.writeEnvironments({
      production: production({ approvals: 1, break_glass: false, backup: { required: false }, staging_first: undefined }),
      staging,
    });
    ({ run, data } = await s.gate('--break-glass', 'please'));
    expect(run.code).toBe(1);
    expect(check(data, 'approval').reasons.map((r) => r.rule)).toEqual(['approval/break-glass-not-allowed']);
    expect(data.breakGlass).toBeNull();
  });

  it('a gate with several failures lists every reason, not only the first', async () => {
    // UTC like tomorrow(): in Europe/Berlin, tomorrow in UTC has already begun from 22:00 or 23:00 UTC.
    const windows = { zone: 'UTC', open: [{ days: [tomorrow()], from: '00:00', to: '24:00' }] };
    const s = await setup(production({ approvals: 1, windows }));
    await s.migrate('production');
    await s.fx.addMigrations({ '20260104000000_more': 'ALTER TABLE "Ledger" ADD COLUMN extra int NOT NULL;\n' }, { '20260104000000_more': null });
    await catalogEntry(s, { ageMin: 600, status: 'unverified' });
    const { run, data } = await s.gate();
    expect(run.code).toBe(1);
    expect(data.decision).toBe('refused');
    const all = rules(data);
    for (const rule of ['backup/unverified', 'backup/stale', 'approval/not-in-actions', 'staging/missing', 'window/closed', 'lint/rollbacks/missing'])
      expect(all).toContain(rule);
    expect(data.checks.map((c) => c.name).sort()).toEqual(['approval', 'backup', 'clean-state', 'interrupted', 'lint', 'rehearsal', 'staging-first', 'window']);
    expect(data.migrations.map((m) => m.name)).toEqual(['20260104000000_more']);
    // The findings carry every reason too (the report and the annotations are made from them).
    const findings = (JSON.parse(run.stdout) as { findings: Array<{ rule: string }> }).findings.map((f) => f.rule);
    expect(findings).toEqual(expect.arrayContaining(['backup/unverified', 'backup/stale', 'approval/not-in-actions', 'staging/missing', 'window/closed']));
    expectNoSecrets(s);
  });
});

describe('dbops gate: approvals inside GitHub Actions (four-eyes)', () => {
  let server: GitHubServer;
  beforeEach(async () => {
    server = await startGitHubServer('acme', 'astro');
  });
  afterEach(() => server.close());

  const TOKEN = 'ghs_GateTestToken0123456789abcdef';
  const HEAD = 'c'.repeat(40);
  const actions = (actor = 'rita'): NodeJS.ProcessEnv => ({
    GITHUB_ACTIONS: 'true',
    GITHUB_REPOSITORY: 'acme/astro',
    GITHUB_RUN_ID: '777',
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_SERVER_URL: 'https://github.example',
    GITHUB_EVENT_NAME: 'workflow_dispatch',
    GITHUB_REF: 'refs/heads/main',
    GITHUB_SHA: HEAD,
    GITHUB_ACTOR: actor,
    GITHUB_TRIGGERING_ACTOR: actor,
    GITHUB_API_URL: server.url,
    GITHUB_TOKEN: TOKEN,
  });

  /** alice wrote both migrations in PR #21 (squash-merged by GitHub). */
  async function approvalSetup(): Promise<Setup> {
    const s = await setup(production({ approvals: 1, backup: { required: false }, staging_first: undefined }), actions());
    const paths = [M1, M2].flatMap((m) => [`${s.fx.migrationsDir}/${m}/migration.sql`, `${s.fx.rollbacksDir}/${m}.sql`]);
    server.addCommit({ sha: 'a'.repeat(40), author: 'alice', committer: 'web-flow', paths, pulls: [21] });
    server.addCommit({ sha: HEAD, author: 'zoe', paths: ['README.md'] });
    server.addPull({ number: 21, author: 'alice', title: 'Ledger', mergedBy: 'dave', reviews: [{ user: 'dave', state: 'APPROVED' }] });
    return s;
  }

  it('an approval by the author of the pull request is refused, naming the user and the rule', async () => {
    const s = await approvalSetup();
    server.setApprovals(777, [{ user: 'alice', environments: ['production'] }]);
    const { run, data } = await s.gate();
    expect(run.code).toBe(1);
    const reasons = check(data, 'approval').reasons;
    expect(reasons.find((r) => r.rule === 'approval/pr-author')).toMatchObject({ user: 'alice' });
    expect(reasons.find((r) => r.rule === 'approval/pr-author')!.message).toContain('alice');
    expect(reasons.map((r) => r.rule)).toContain('approval/too-few');
    expect(data.fourEyes?.excluded.prAuthors).toContain('alice');
    expect(run.all).not.toContain(TOKEN);
  });

  it('an approval by the triggering actor is refused', async () => {
    const s = await approvalSetup();
    server.setApprovals(777, [{ user: 'rita', environments: ['production'] }]);
    const { run, data } = await s.gate();
    expect(run.code).toBe(1);
    const reason = check(data, 'approval').reasons.find((r) => r.rule === 'approval/triggering-actor')!;
    expect(reason.user).toBe('rita');
    expect(reason.message).toContain('rita');
  });

  it('an approval by someone else is allowed; fewer than required is refused', async () => {
    const s = await approvalSetup();
    server.setApprovals(777, [{ user: 'frank', environments: ['production'], comment: 'checked' }]);
    let { run, data } = await s.gate();
    expect(run.code, run.all).toBe(0);
    expect(check(data, 'approval').status).toBe('pass');
    expect(data.fourEyes?.counted).toEqual(['frank']);
    expect(data.approvals).toEqual([expect.objectContaining({ user: 'frank', state: 'approved', comment: 'checked' })]);
    expect(data.run).toMatchObject({ runId: '777', actor: 'rita' });

    await s.fx.writeEnvironments({ production: production({ approvals: 2, backup: { required: false }, staging_first: undefined }), staging });
    ({ run, data } = await s.gate());
    expect(run.code).toBe(1);
    const reason = check(data, 'approval').reasons.find((r) => r.rule === 'approval/too-few')!;
    expect(reason.message).toMatch(/1 .*2/);
    expect(run.all).not.toContain(TOKEN);
  });

  it("records the GitHub environment's settings, and warns (without refusing) about admin bypass, self-review and any-branch deploys", async () => {
    const s = await approvalSetup();
    server.setApprovals(777, [{ user: 'frank', environments: ['production'] }]);
    server.setEnvironment('production', {
      canAdminsBypass: true,
      reviewers: [{ team: 'db-owners' }, { user: 'frank' }],
      preventSelfReview: false,
      branchPolicy: null,
    });
    let { run, data } = await s.gate();
    expect(run.code, run.all).toBe(0);
    expect(check(data, 'approval').status).toBe('warn');
    expect(check(data, 'approval').reasons.map((r) => r.rule)).toEqual([
      'approval/admin-bypass-allowed',
      'approval/self-review-allowed',
      'approval/any-branch',
    ]);
    expect(data.environmentSettings).toEqual({
      name: 'production',
      canAdminsBypass: true,
      preventSelfReview: false,
      reviewers: ['team:db-owners', 'frank'],
      waitTimerMinutes: null,
      deploymentBranchPolicy: null,
    });

    server.setEnvironment('production', {
      canAdminsBypass: false,
      reviewers: [{ team: 'db-owners' }],
      preventSelfReview: true,
      waitTimer: 15,
      branchPolicy: { protectedBranches: true, customBranchPolicies: false },
    });
    ({ run, data } = await s.gate());
    expect(check(data, 'approval').status).toBe('pass');
    expect(data.environmentSettings).toMatchObject({
      canAdminsBypass: false,
      preventSelfReview: true,
      waitTimerMinutes: 15,
      deploymentBranchPolicy: { protectedBranches: true },
    });
  });

  it('the REST API failing is a refusal (fail closed), not a crash', async () => {
    const s = await approvalSetup();
    server.failWith(403, '/approvals');
    const { run, data } = await s.gate();
    expect(run.code).toBe(1);
    expect(check(data, 'approval').reasons.map((r) => r.rule)).toEqual(['approval/unavailable']);
    expect(run.all).not.toContain(TOKEN);
  });

  it('a migration creating a table policies/access.yaml leaves uncovered is refused by the gate’s lint', async () => {
    const s = await setup(production({ approvals: 0, backup: { required: false }, staging_first: undefined }));
    const M3 = '20260103000000_secrets';
    await s.fx.addMigrations({ [M3]: 'CREATE TABLE "Secret" (id int PRIMARY KEY);\n' }, { [M3]: 'DROP TABLE "Secret";\n' });
    await writeFile(
      join(s.fx.policiesDir, 'access.yaml'),
      JSON.stringify({
        version: 1,
        owner: 'migrator',
        roles: { migrator: {}, app: { grants: [{ on: 'tables', schema: 'public', objects: ['Ledger'], privileges: ['SELECT'] }] } },
      }),
    );
    const { run, data } = await s.gate();
    expect(run.code, run.all).toBe(1);
    const refused = check(data, 'lint').reasons.find((r) => r.rule === 'lint/access/table-not-covered');
    expect(refused?.migration).toBe(M3);
    expect(refused?.message).toContain('Secret');
  });

  it('a destructive migration passes only when its pull request carries an allow label (read from GitHub even without approvals)', async () => {
    const s = await setup(production({ approvals: 0, backup: { required: false }, staging_first: undefined }), actions());
    const M3 = '20260103000000_drop_note';
    await s.fx.addMigrations(
      { [M3]: 'ALTER TABLE "Ledger" DROP COLUMN note;\n' },
      { [M3]: '-- dbops:irreversible drops "Ledger"."note" with its data\nALTER TABLE "Ledger" ADD COLUMN note text;\n' },
    );
    const paths = [M1, M2, M3].flatMap((m) => [`${s.fx.migrationsDir}/${m}/migration.sql`, `${s.fx.rollbacksDir}/${m}.sql`]);
    server.addCommit({ sha: 'a'.repeat(40), author: 'alice', committer: 'web-flow', paths, pulls: [21] });
    server.addPull({ number: 21, author: 'alice', title: 'Ledger without notes', mergedBy: 'dave' });

    let { run, data } = await s.gate();
    expect(run.code, run.all).toBe(1);
    expect(check(data, 'approval').status).toBe('skipped');
    expect(data.pulls.map((p) => p.number)).toEqual([21]);
    const refused = check(data, 'lint').reasons.find((r) => r.rule === 'lint/destructive/drop-column');
    expect(refused?.migration).toBe(M3);

    server.addPull({ number: 21, author: 'alice', title: 'Ledger without notes', mergedBy: 'dave', labels: ['allow-destructive'] });
    ({ run, data } = await s.gate());
    expect(run.code, run.all).toBe(0);
    expect(check(data, 'lint').status).toBe('warn');
    expect(data.testing.lint?.findings.find((f) => f.rule === 'destructive/drop-column')).toMatchObject({ severity: 'warning', migration: M3 });
    expect(data.testing.lint?.findings.find((f) => f.rule === 'destructive/drop-column')?.message).toContain('label "allow-destructive" on pull request #21');
    expect(data.pulls[0]!.labels).toEqual(['allow-destructive']);
    expect(run.all).not.toContain(TOKEN);

    // Outside Actions no label can be read: refused, unless an allowed break-glass stands in (recorded).
    const outside = { ...s.fx.env, GITHUB_ACTIONS: undefined };
    let local = await dbops(['gate', '--environment', 'production', ...s.fx.flags, '--json'], outside);
    expect(local.code, local.all).toBe(1);
    expect((JSON.parse(local.stdout) as { data: GateData }).data.checks.find((c) => c.name === 'lint')!.reasons.map((r) => r.rule)).toContain(
      'lint/destructive/drop-column',
    );
    await s.fx.writeEnvironments({
      production: production({ approvals: 0, backup: { required: false }, staging_first: undefined, break_glass: true }),
      staging,
    });
    local = await dbops(['gate', '--environment', 'production', ...s.fx.flags, '--json', '--break-glass', 'INC-9: the note column leaks card data'], outside);
    expect(local.code, local.all).toBe(0);
    const waived = (JSON.parse(local.stdout) as { data: GateData }).data;
    expect(waived.testing.lint?.findings.find((f) => f.rule === 'destructive/drop-column')?.message).toContain('--break-glass "INC-9');
    expect(waived.breakGlass?.reason).toBe('INC-9: the note column leaks card data');
    expect(local.stdout).toContain('INC-9');
  });
});

describe('evaluateGate for a rollback, and the rehearsal', () => {
  async function rollbackGate(s: Setup, rollbackTo: string) {
    const ctx = createContext({ log: silentLogger(), signal: new AbortController().signal, policiesDir: s.fx.policiesDir, env: s.fx.env });
    const loaded = await loadPolicies(s.fx.policiesDir, ['environments', 'backups', 'migrations']);
    const policies = { environments: loaded.environments.value, backups: loaded.backups.value, migrations: loaded.migrations.value };
    const environment = resolveEnvironment(policies.environments, 'production', s.fx.env);
    const session = await openSession(environment.target, ctx.log, 'gate test');
    try {
      return await evaluateGate(
        {
          environment,
          action: 'rollback',
          rollbackTo,
          takeBackup: false,
          migrationsDir: s.fx.migrationsDir,
          rollbacksDir: s.fx.rollbacksDir,
          reportsDir: s.fx.reportsDir,
          policiesDir: s.fx.policiesDir,
        },
        policies,
        ctx,
        session,
      );
    } finally {
      await session.close();
    }
  }

  it('judges the applied migrations newer than --to, newest first; an irreversible one refuses with the restore command', async () => {
    const s = await setup(production({ staging_first: 'staging', require_rehearsal: true }));
    await s.migrate('production');
    const M3 = '20260103000000_drop_note';
    await s.fx.addMigrations(
      { [M3]: 'ALTER TABLE "Ledger" DROP COLUMN note;\n' },
      { [M3]: '-- dbops:irreversible the notes are gone\nALTER TABLE "Ledger" ADD COLUMN note text;\n' },
    );
    await s.migrate('production');
    const backupId = await catalogEntry(s, { ageMin: 5, status: 'verified' });

    const data = await rollbackGate(s, M1);
    expect(data.action).toBe('rollback');
    expect(data.rollbackTo).toBe(M1);
    expect(data.migrations.map((m) => [m.name, m.rollback.status])).toEqual([
      [M3, 'irreversible'],
      [M2, 'paired'],
    ]);
    expect(check(data, 'staging-first').status).toBe('skipped');
    expect(check(data, 'rehearsal').status).toBe('skipped');
    expect(check(data, 'backup').status).toBe('pass');
    const reason = check(data, 'lint').reasons.find((r) => r.rule === 'rollback/irreversible')!;
    expect(reason.migration).toBe(M3);
    expect(reason.message).toContain('the notes are gone');
    expect(reason.hint).toContain(`dbops backup restore ${backupId} --target-url "$PRODUCTION_DATABASE_URL" --force`);
    expect(data.decision).toBe('refused');

    expect((await rollbackGate(s, M2)).migrations.map((m) => m.name)).toEqual([M3]);
    await expect(rollbackGate(s, '20250101000000_never')).rejects.toThrow(UsageError);
  });

  it('require_rehearsal: a missing, failed or incomplete rehearse.json refuses', async () => {
    const s = await setup(production({ staging_first: undefined, backup: { required: false }, require_rehearsal: true }));
    let { data } = await s.gate();
    expect(check(data, 'rehearsal').reasons.map((r) => r.rule)).toEqual(['rehearsal/missing']);

    const migration = (name: string) => ({
      name,
      mode: 'atomic',
      status: 'applied',
      durationMs: 12,
      sampleIntervalMs: 50,
      samples: 1,
      touched: [],
      locks: [],
      timeline: [],
      probes: [],
      tables: [],
      rollback: { status: 'proven', reapply: 'matched' },
    });
    const rehearse = (verdict: string, names: string[]) => ({
      schemaVersion: 1,
      step: 'rehearse',
      command: 'rehearse',
      verdict,
      exitCode: verdict === 'fail' ? 1 : 0,
      startedAt: '2026-11-24T05:00:00.000Z',
      finishedAt: '2026-11-24T05:01:00.000Z',
      durationMs: 60000,
      commit: null,
      dbopsVersion: '0.1.0',
      findings: [],
      data: {
        snapshot: { source: 'synthetic', label: 'synthetic', cloneMs: 10 },
        base: { ref: null, applied: [] },
        pending: names,
        migrations: names.map(migration),
        workload: [],
      },
    });
    await writeFile(join(s.fx.reportsDir, 'rehearse.json'), JSON.stringify(rehearse('fail', [M1])));
    ({ data } = await s.gate());
    expect(check(data, 'rehearsal').reasons.map((r) => r.rule)).toEqual(['rehearsal/failed', 'rehearsal/incomplete']);
    expect(check(data, 'rehearsal').reasons[1]!.message).toContain(M2);
    expect(data.testing.rehearsal?.migrations.map((m) => m.name)).toEqual([M1]);

    await writeFile(join(s.fx.reportsDir, 'rehearse.json'), JSON.stringify(rehearse('pass', [M1, M2])));
    ({ data } = await s.gate());
    expect(check(data, 'rehearsal').status).toBe('pass');
  });
});
