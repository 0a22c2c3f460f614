// `dbops rehearse --snapshot masked` on real PostgreSQL: a masked template built by hand (migrations, rows,
// the attestation `dbops snapshot mask` writes) is cloned, the report carries its attestation, the gate's
// `require_rehearsal: masked` accepts that rehearsal and refuses any other one (rehearsal/not-masked), and
// a missing template or one without attestation is refused with the command that builds it.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeMaskedSnapshot, type MaskedSnapshot } from '../../pipeline/protection/masking/index.ts';
import { withClient } from '../../pipeline/infra/db/client.ts';
import { parseDatabaseUrl } from '../../pipeline/infra/db/url.ts';
import { silentLogger } from '../../pipeline/core/logger.ts';
import { type RehearseData, render } from '../../pipeline/change/rehearsal/index.ts';
import type { GateData } from '../../pipeline/evidence/records.ts';
import { dbops, type CliRun } from '../helpers/cli.ts';
import { adminUrl, createDatabase, queryUrl, type TestDb } from '../helpers/db.ts';
import { deployFixture, type DeployFixture } from '../helpers/environments.ts';
import { migrationsFolder, tempDir } from '../helpers/migrations.ts';

const BASE = '20260101000000_ledger';
const CHANGE = '20260102000000_ledger_note';
const migrations = {
  [BASE]: 'CREATE TABLE "Ledger"(id int PRIMARY KEY, amount numeric NOT NULL);\n',
  [CHANGE]: 'ALTER TABLE "Ledger" ADD COLUMN note text;\n',
};
const rollbacks = { [BASE]: 'DROP TABLE "Ledger";\n', [CHANGE]: 'ALTER TABLE "Ledger" DROP COLUMN note;\n' };

const made: TestDb[] = [];
let masked: TestDb;
let attestation: MaskedSnapshot;
let prod: TestDb;
let fx: DeployFixture;

const exists = async (database: string) => (await queryUrl(adminUrl(), 'SELECT 1 FROM pg_database WHERE datname = $1', [database])).length > 0;
const parse = (r: CliRun) => JSON.parse(r.stdout) as { data: RehearseData; verdict: string };

/** A policies folder (the fixture's) whose masking.yaml names `database` as the masked template. */
async function maskingPolicy(dir: string, database: string): Promise<void> {
  await writeFile(join(dir, 'masking.yaml'), `${JSON.stringify({ version: 1, snapshot: { location: 'local', database } }, null, 2)}\n`);
}

async function fixture(database: string): Promise<DeployFixture> {
  const f = await deployFixture({
    urls: { production: prod.url },
    environments: { production: { approvals: 0, backup: { required: false }, require_rehearsal: 'masked' } },
    migrations,
    rollbacks,
  });
  await maskingPolicy(f.policiesDir, database);
  return f;
}

const rehearse = (f: DeployFixture, ...extra: string[]) =>
  dbops(['rehearse', '--snapshot', 'masked', '--database-url', adminUrl(), ...(extra.includes('--all') ? [] : ['--last', '1']), ...extra, ...f.flags], f.env);

beforeAll(async () => {
  masked = await createDatabase('masked_tpl');
  prod = await createDatabase('masked_prod');
  made.push(masked, prod);
  // The masked template as `snapshot mask` leaves it: the base state of production, with rows, and the attestation.
  const deploy = await dbops(['migrate', 'deploy', '--database-url', masked.url, '--migrations-dir', await migrationsFolder({ [BASE]: migrations[BASE] })]);
  expect(deploy.code, deploy.all).toBe(0);
  await masked.query('INSERT INTO "Ledger" SELECT g, g * 1.5 FROM generate_series(1, 1234) g');
  attestation = {
    database: masked.name,
    backupId: '20261207T020000Z-daily-3f9a',
    backupTakenAt: '2026-12-07T02:00:00.000Z',
    sourceDatabase: 'astro',
    policySha256: 'ab'.repeat(32),
    maskedAt: '2026-12-07T05:41:02.000Z',
    columns: 7,
    scan: { columns: 12, values: 3456, remaining: 0 },
    checks: 4,
  };
  await withClient(parseDatabaseUrl(adminUrl()), { log: silentLogger(), applicationName: 'test' }, (c) => writeMaskedSnapshot(c, masked.name, attestation));
  // Production has the base migration: the change is the one pending migration the gate judges.
  const base = await dbops(['migrate', 'deploy', '--database-url', prod.url, '--migrations-dir', await migrationsFolder({ [BASE]: migrations[BASE] })]);
  expect(base.code, base.all).toBe(0);
  fx = await fixture(masked.name);
});

afterAll(async () => {
  for (const d of made) await d.drop();
});

describe('rehearse --snapshot masked', () => {
  it('clones the masked template; the report carries its attestation; the gate with require_rehearsal: masked passes and records it', async () => {
    const r = await rehearse(fx, '--json');
    expect(r.code, r.all).toBe(0);
    const { data } = parse(r);
    expect(data.snapshot).toMatchObject({ source: 'masked', template: masked.name, masked: attestation });
    expect(data.snapshot.label).toContain(`backup ${attestation.backupId}`);
    expect(data.migrations.map((m) => m.status)).toEqual(['applied']);
    // The clone is a copy of the template: its rows, its history (the base migration was not applied again).
    expect(data.migrations[0]!.tables.find((t) => t.relation.endsWith('Ledger'))).toMatchObject({ rowsBefore: 1234 });
    expect(await exists(data.snapshot.clone!)).toBe(false);
    expect(await exists(masked.name)).toBe(true);

    const file = JSON.parse(await readFile(join(fx.reportsDir, 'rehearse.json'), 'utf8')) as { data: RehearseData };
    expect(file.data.snapshot).toMatchObject({ source: 'masked', masked: { backupId: attestation.backupId, policySha256: attestation.policySha256 } });
    const text = render({ verdict: 'pass', findings: [], data: file.data } as unknown as Parameters<typeof render>[0]);
    expect(text).toContain(`Rehearsed on the masked snapshot ${masked.name}: backup ${attestation.backupId} of astro`);
    expect(text).toContain(`masked at ${attestation.maskedAt}, masking policy sha256 ${attestation.policySha256}`);

    const gate = await dbops(['gate', '--environment', 'production', ...fx.flags, '--json'], fx.env);
    const g = (JSON.parse(gate.stdout) as { data: GateData }).data;
    const check = g.checks.find((c) => c.name === 'rehearsal')!;
    expect(check.status, gate.all).toBe('pass');
    expect(check.summary).toContain(`on the masked snapshot ${masked.name}`);
    expect(g.testing.rehearsal?.snapshot).toEqual({
      source: 'masked',
      label: data.snapshot.label,
      masked: { database: masked.name, backupId: attestation.backupId, policySha256: attestation.policySha256, maskedAt: attestation.maskedAt },
    });

    // The same report on another snapshot: refused by require_rehearsal: masked.
    file.data.snapshot = { source: 'synthetic', label: 'synthetic AstroFinance dataset (scale 0.2, seed 42)', cloneMs: 5 };
    await writeFile(join(fx.reportsDir, 'rehearse.json'), JSON.stringify(file));
    const refused = (JSON.parse((await dbops(['gate', '--environment', 'production', ...fx.flags, '--json'], fx.env)).stdout) as { data: GateData }).data;
    const reasons = refused.checks.find((c) => c.name === 'rehearsal')!.reasons;
    expect(reasons.map((x) => x.rule)).toEqual(['rehearsal/not-masked']);
    expect(reasons[0]!.message).toContain('synthetic AstroFinance dataset (scale 0.2, seed 42) (synthetic)');
    expect(reasons[0]!.hint).toContain('dbops rehearse --snapshot masked');
    expect(reasons[0]!.hint).toContain('dbops snapshot mask');
    expect(refused.decision).toBe('refused');
    expect(refused.testing.rehearsal?.snapshot).toEqual({ source: 'synthetic', label: 'synthetic AstroFinance dataset (scale 0.2, seed 42)' });
  });

  it('a missing template is an environment error (exit 3) naming where it looked and `dbops snapshot mask`', async () => {
    const f = await fixture('dbops_masked_never_built');
    const r = await rehearse(f);
    expect(r.code, r.all).toBe(3);
    expect(r.stderr).toContain('There is no masked snapshot: database dbops_masked_never_built does not exist on --database-url');
    expect(r.stderr).toContain('dbops snapshot mask --latest');
  });

  it('a database without attestation is refused (exit 1): nothing proves it is masked', async () => {
    const plain = await createDatabase('masked_plain');
    made.push(plain);
    const f = await fixture(plain.name);
    const r = await rehearse(f);
    expect(r.code, r.all).toBe(1);
    expect(r.stderr).toContain(`Database ${plain.name} on --database-url`);
    expect(r.stderr).toContain('carries no masked-snapshot attestation');
    expect(r.stderr).toContain('dbops snapshot mask --latest');
  });

  it('cannot be combined with another snapshot source (exit 2)', async () => {
    const other = await tempDir('dbops-dump-');
    for (const extra of [['--snapshot-url', masked.url], ['--snapshot-file', join(other, 'x.dump')], ['--all']]) {
      const r = await rehearse(fx, ...extra);
      expect(r.code, r.all).toBe(2);
      expect(r.stderr).toContain(`--snapshot masked rehearses on the masked snapshot; it cannot be combined with ${extra[0]}`);
    }
  });
});
