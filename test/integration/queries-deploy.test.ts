// Query reviews across nodes and deploys: an index used only on a real streaming replica is not unused (the
// replica's statistics count), an unreachable replica leaves indexes unjudged; and `--since-deploy` after a
// deploy that dropped an index a workload query used names the regression in a query-review bundle the
// evidence chain accepts.
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueriesReportData } from '../../pipeline/operations/queries/index.ts';
import type { EvidenceBundle } from '../../pipeline/evidence/index.ts';
import { dbops } from '../helpers/cli.ts';
import { createDatabase, queryUrl, type TestDb } from '../helpers/db.ts';
import { deployFixture, type DeployFixture } from '../helpers/environments.ts';
import { startReplicaPair, type ReplicaPair } from '../helpers/replica.ts';
import { waitFor } from '../helpers/wait.ts';
import { workload } from '../helpers/queries.ts';

async function queriesPolicy(fx: DeployFixture, extra: Record<string, unknown>): Promise<void> {
  await writeFile(join(fx.policiesDir, 'queries.yaml'), JSON.stringify({ version: 1, snapshots: { dir: join(fx.root, 'snapshots') }, ...extra }));
}

const reportOf = (stdout: string) => (JSON.parse(stdout) as { data: QueriesReportData }).data;

describe('dbops queries report: index usage over the primary and a streaming replica', () => {
  let pair: ReplicaPair;
  let fx: DeployFixture;

  beforeAll(async () => {
    pair = await startReplicaPair('queries');
    await queryUrl(pair.primaryUrl('postgres'), 'CREATE DATABASE shop');
    const primary = (sql: string) => queryUrl(pair.primaryUrl('shop'), sql);
    await primary('CREATE EXTENSION pg_stat_statements');
    await primary('CREATE TABLE orders (id bigint PRIMARY KEY, code text NOT NULL, region text NOT NULL)');
    await primary("INSERT INTO orders SELECT g, 'c' || g, 'r' || (g % 7) FROM generate_series(1, 2000) g");
    await primary('CREATE INDEX orders_code_idx ON orders (code); CREATE INDEX orders_region_idx ON orders (region); ANALYZE orders');
    await pair.caughtUp();
    // orders_code_idx is read on the replica only (reporting traffic); the primary never scans it.
    const replica = new pg.Client({ connectionString: pair.replicaUrl('shop') });
    await replica.connect();
    await replica.query('SET enable_seqscan = off');
    await replica.query("SELECT id FROM orders WHERE code = 'c42'");
    await replica.end();
    await waitFor('the replica to count the index scan', async () => {
      const [r] = await queryUrl<{ n: string }>(
        pair.replicaUrl('shop'),
        "SELECT idx_scan::text AS n FROM pg_stat_user_indexes WHERE indexrelname = 'orders_code_idx'",
      );
      return Number(r?.n) > 0;
    });

    fx = await deployFixture({ urls: { production: pair.primaryUrl('shop') }, extraEnv: { REPLICA_1_DATABASE_URL: pair.replicaUrl('shop') } });
    await fx.writeEnvironments({
      production: { approvals: 0, backup: { required: false }, replicas: [{ name: 'replica-1', database_url_env: 'REPLICA_1_DATABASE_URL' }] },
    });
    await queriesPolicy(fx, { indexes: { unused_window: '0', unused_min_size: '0' } });
  }, 120_000);
  afterAll(async () => {
    await pair?.stop();
  });

  it('sums the scans of both nodes: the index read only on the replica is not unused', async () => {
    const out = await dbops(
      ['queries', 'report', '--environment', 'production', '--policies-dir', fx.policiesDir, '--reports-dir', fx.reportsDir, '--json'],
      fx.env,
    );
    expect(out.code, out.stderr).toBe(0);
    const data = reportOf(out.stdout);
    expect(data.indexes.nodes).toEqual(['primary', 'replica-1']);
    const unused = data.indexes.findings.filter((f) => f.kind === 'unused').map((f) => f.subject);
    expect(unused).toEqual(['public.orders_region_idx']);
    expect(data.indexes.notJudged).toEqual([]);
    // Stored beside the evidence, under the environment's folder, and locally.
    expect(data.snapshot.map((s) => s.place)).toEqual(['local', 'evidence']);
    expect(data.snapshot[1]!.key).toMatch(/^evidence\/production\/query-snapshots\/\d{8}T\d{6}\.\d{3}Z-report\.json$/);
  });

  it('a replica that cannot be read leaves unscanned indexes unjudged, naming it, instead of calling them unused', async () => {
    const env = { ...fx.env, REPLICA_1_DATABASE_URL: 'postgresql://nobody:secret-replica-pw@127.0.0.1:1/shop' };
    const out = await dbops(
      ['queries', 'report', '--environment', 'production', '--policies-dir', fx.policiesDir, '--reports-dir', fx.reportsDir, '--json'],
      env,
    );
    expect(out.code, out.stderr).toBe(0);
    const data = reportOf(out.stdout);
    expect(data.indexes.findings.filter((f) => f.kind === 'unused')).toEqual([]);
    expect(data.indexes.notJudged.map((n) => n.index)).toEqual(['public.orders_code_idx', 'public.orders_region_idx']);
    expect(data.indexes.notJudged[0]!.reason).toContain('replica replica-1 could not be read');
    expect(`${out.stdout}${out.stderr}`).not.toContain('secret-replica-pw');
  });
});

const M1 = '20260101000000_ledger';
const M2 = '20260102000000_drop_ledger_index';

describe('dbops queries report --since-deploy', () => {
  let db: TestDb;
  let fx: DeployFixture;

  beforeAll(async () => {
    db = await createDatabase('queries-deploy');
    await db.query('CREATE EXTENSION pg_stat_statements');
    fx = await deployFixture({
      urls: { production: db.url },
      migrations: {
        [M1]: `CREATE TABLE "Ledger" (id int PRIMARY KEY, account int NOT NULL, amount int NOT NULL);
INSERT INTO "Ledger" SELECT g, g % 5000, g % 100 FROM generate_series(1, 400000) g;
CREATE INDEX "Ledger_account_idx" ON "Ledger" (account);
ANALYZE "Ledger";
`,
      },
      rollbacks: { [M1]: 'DROP TABLE "Ledger";\n' },
    });
    await queriesPolicy(fx, { regression: { ratio: 2, min_increase: '5ms', min_calls: 20 } });
  }, 120_000);
  afterAll(async () => {
    await db?.drop();
  });

  const lookup = (): Array<[string, unknown[]]> => Array.from({ length: 20 }, (_, k) => ['SELECT sum(amount) FROM "Ledger" WHERE account = $1', [k]]);

  it('names the regression a dropped index caused in a query-review bundle that names the deploy, and the chain verifies', async () => {
    const first = await dbops(['deploy', '--environment', 'production', ...fx.flags, '--json'], fx.env);
    expect(first.code, first.stderr).toBe(0);
    // The workload before the second deploy: index scans. One session without parallel workers on both sides.
    await workload(db.url, [['SET max_parallel_workers_per_gather = 0'], ...lookup()]);

    await fx.addMigrations({ [M2]: 'DROP INDEX "Ledger_account_idx";\n' }, { [M2]: 'CREATE INDEX "Ledger_account_idx" ON "Ledger" (account);\n' });
    const second = await dbops(['deploy', '--environment', 'production', ...fx.flags, '--json'], fx.env);
    expect(second.code, second.stderr).toBe(0);
    const deployed = JSON.parse(second.stdout) as { data: { evidence: { sequence: number; sha256: string } } };
    const sequence = deployed.data.evidence.sequence;
    expect(sequence).toBe(2);
    // The snapshot the deploy took before its first migration, beside the evidence.
    const snapshots = await readdir(join(fx.storageDir, 'evidence', 'production', 'query-snapshots'));
    expect(snapshots.filter((n) => n.endsWith('-deploy-000002.json'))).toHaveLength(1);

    await workload(db.url, [['SET max_parallel_workers_per_gather = 0'], ...lookup()]);
    const out = await dbops(
      [
        'queries',
        'report',
        '--environment',
        'production',
        '--since-deploy',
        String(sequence),
        '--policies-dir',
        fx.policiesDir,
        '--reports-dir',
        fx.reportsDir,
        '--json',
      ],
      fx.env,
    );
    expect(out.code, out.stderr).toBe(0);
    const data = reportOf(out.stdout);
    expect(data.previous?.label).toBe('deploy-000002');
    const regression = data.statements.regressions.find((r) => r.query === 'SELECT sum(amount) FROM "Ledger" WHERE account = $1');
    expect(regression).toMatchObject({ calls: 20, before: { calls: 20 } });
    expect(data.evidence?.sequence).toBe(3);

    const bundleName = (await readdir(join(fx.storageDir, 'evidence', 'production'))).find((n) => n.startsWith('000003-') && n.endsWith('-query-review.json'))!;
    const bundle = JSON.parse(await readFile(join(fx.storageDir, 'evidence', 'production', bundleName), 'utf8')) as EvidenceBundle;
    expect(bundle.queryReview).toMatchObject({
      verdict: 'warn',
      deploy: { sequence: 2, sha256: deployed.data.evidence.sha256, outcome: 'succeeded', migrations: [M2] },
      before: { key: expect.stringMatching(/-deploy-000002\.json$/) },
    });
    expect(bundle.queryReview!.regressions.map((r) => r.query)).toContain('SELECT sum(amount) FROM "Ledger" WHERE account = $1');
    const page = await readFile(join(fx.storageDir, 'evidence', 'production', bundleName.replace(/\.json$/, '.md')), 'utf8');
    expect(page).toContain('## Query review after a deploy');
    expect(page).toContain('### Regressions');

    const verify = await dbops(['evidence', 'verify', '--environment', 'production', '--policies-dir', fx.policiesDir], fx.env);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  });

  it('--since-deploy of a sequence with no snapshot before it is refused (exit 1); without --environment it is a usage error (exit 2)', async () => {
    // Deploy 1 took its snapshot too; 3 is the review's own bundle, before which no deploy snapshot was taken.
    const first = await dbops(
      ['queries', 'report', '--environment', 'production', '--since-deploy', '1', '--policies-dir', fx.policiesDir, '--reports-dir', fx.reportsDir],
      fx.env,
    );
    expect(first.code, first.stderr).toBe(0);
    const notDeploy = await dbops(
      ['queries', 'report', '--environment', 'production', '--since-deploy', '3', '--policies-dir', fx.policiesDir, '--reports-dir', fx.reportsDir],
      fx.env,
    );
    expect(notDeploy.code).toBe(1);
    expect(notDeploy.stderr).toContain('No query snapshot was taken before deploy 3');
    const bare = await dbops(['queries', 'report', '--database-url', db.url, '--since-deploy', '2', '--policies-dir', fx.policiesDir], fx.env);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('--since-deploy needs --environment');
  });
});
