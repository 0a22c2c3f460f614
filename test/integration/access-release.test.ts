// `dbops access apply --environment` goes the way of a migration: the gate (approvals, change window) decides,
// the change runs under the deploy lock, and an `access` evidence bundle is appended, refused or applied, that
// `dbops evidence verify` accepts. Roles are cluster-wide and the test cluster is shared by parallel test
// files: every role here has a unique name, and is dropped at the end.
import { randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccessApplyData } from '../../pipeline/commands/access/apply/run.ts';
import type { EvidenceBundle } from '../../pipeline/evidence/index.ts';
import { quoteIdent } from '../../pipeline/infra/db/url.ts';
import { dbops } from '../helpers/cli.ts';
import { adminUrl, createDatabase, queryUrl, type TestDb } from '../helpers/db.ts';
import { deployFixture, type DeployFixture } from '../helpers/environments.ts';

const suffix = randomBytes(4).toString('hex');
const OWNER = `ar_migrator_${suffix}`;
const APP = `ar_app_${suffix}`;

const POLICY = {
  version: 1,
  owner: OWNER,
  schemas: ['public'],
  roles: {
    [OWNER]: { grants: [{ on: 'schema', schema: 'public', privileges: ['USAGE', 'CREATE'] }] },
    [APP]: {
      grants: [
        { on: 'schema', schema: 'public', privileges: ['USAGE'] },
        { on: 'tables', schema: 'public', privileges: ['SELECT'] },
      ],
    },
  },
};

/** A window that is never open now: the minute that has just passed, on today's weekday. */
const closed = () => {
  const past = new Date(Date.now() - 120_000);
  const hhmm = (d: Date) => d.toISOString().slice(11, 16);
  const day = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'][past.getUTCDay()];
  return { zone: 'UTC', open: [{ days: [day], from: hhmm(past), to: hhmm(new Date(past.getTime() + 60_000)) }], outside_window: { allowed: false } };
};

interface Output {
  verdict: string;
  findings: Array<{ rule: string; severity: string }>;
  data: AccessApplyData;
}

describe('dbops access apply --environment', () => {
  let db: TestDb;
  let fx: DeployFixture;

  const applyOn = async (f: DeployFixture, ...extra: string[]) => {
    const r = await dbops(
      ['access', 'apply', '--environment', 'production', '--policies-dir', f.policiesDir, '--reports-dir', f.reportsDir, '--json', ...extra],
      f.env,
    );
    return { ...r, out: r.stdout ? (JSON.parse(r.stdout) as Output) : undefined };
  };
  const bundles = async (f: DeployFixture): Promise<EvidenceBundle[]> => {
    const dir = join(f.storageDir, 'evidence', 'production');
    const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('-access.json')).sort();
    return Promise.all(names.map(async (n) => JSON.parse(await readFile(join(dir, n), 'utf8')) as EvidenceBundle));
  };
  const roleExists = async (name: string) => (await db.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name])).length === 1;
  const fixture = async (windows?: Record<string, unknown>) => {
    const f = await deployFixture({ urls: { production: db.url } });
    await f.writeEnvironments({ production: { approvals: 0, backup: { required: false }, ...(windows ? { windows } : {}) } });
    await writeFile(join(f.policiesDir, 'access.yaml'), JSON.stringify(POLICY));
    return f;
  };

  beforeAll(async () => {
    db = await createDatabase('access-release');
    await db.query('CREATE TABLE ledger (id bigint PRIMARY KEY, amount numeric NOT NULL)');
    fx = await fixture();
  }, 60_000);

  afterAll(async () => {
    if (!db) return;
    for (const role of [APP, OWNER]) {
      const q = quoteIdent(role);
      if (await roleExists(role)) await db.query(`REASSIGN OWNED BY ${q} TO CURRENT_USER; DROP OWNED BY ${q}`);
    }
    await db.drop();
    for (const role of [APP, OWNER]) await queryUrl(adminUrl(), `DROP ROLE IF EXISTS ${quoteIdent(role)}`);
  });

  it('a closed window refuses: exit 1, nothing changed, a refused access bundle', async () => {
    const shut = await fixture(closed());
    const r = await applyOn(shut);
    expect(r.code, r.stderr).toBe(1);
    expect(r.out!.data.gate?.decision).toBe('refused');
    expect(r.out!.findings).toContainEqual(expect.objectContaining({ rule: 'gate/window/closed', severity: 'error' }));
    expect(r.out!.data.applied).toBe(false);
    expect(await roleExists(APP)).toBe(false);
    const [bundle, ...more] = await bundles(shut);
    expect(more).toEqual([]);
    expect(bundle!.kind).toBe('access');
    expect(bundle!.access).toMatchObject({ outcome: 'refused', decision: 'refused', statements: [], remaining: [] });
    expect(bundle!.access!.before.map((f) => f.subject)).toEqual(expect.arrayContaining([APP, OWNER]));
    const verify = await dbops(['evidence', 'verify', '--environment', 'production', '--policies-dir', shut.policiesDir], shut.env);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  });

  it('--dry-run with --environment prints the plan and the decision, changes nothing and writes no bundle', async () => {
    const r = await applyOn(fx, '--dry-run');
    expect(r.code, r.stderr).toBe(0);
    expect(r.out!.data.gate?.decision).toBe('allowed');
    expect(r.out!.data.bundle).toBeNull();
    expect(r.out!.data.statements.length).toBeGreaterThan(0);
    expect(await roleExists(APP)).toBe(false);
    expect(await bundles(fx)).toEqual([]);
  });

  it('allowed (approvals 0, open window): applies, an access bundle with the statements, the chain verifies; a second run changes nothing', async () => {
    const r = await applyOn(fx);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.out!.data.gate?.decision).toBe('allowed');
    expect(r.out!.data.applied).toBe(true);
    expect(r.out!.data.bundle?.sequence).toBe(1);
    expect(await roleExists(APP)).toBe(true);
    const [can] = await db.query<{ ok: boolean }>(`SELECT has_table_privilege($1, 'public.ledger', 'SELECT') AS ok`, [APP]);
    expect(can!.ok).toBe(true);
    const [owner] = await db.query<{ owner: string }>(`SELECT relowner::regrole::text AS owner FROM pg_class WHERE oid = 'public.ledger'::regclass`);
    expect(owner!.owner).toBe(OWNER);

    const [first] = await bundles(fx);
    expect(first!.kind).toBe('access');
    expect(first!.access).toMatchObject({ outcome: 'applied', decision: 'allowed', since: null, remaining: [], prune: false });
    expect(first!.access!.statements).toEqual(r.out!.data.statements);
    expect(first!.access!.statements).toContain(`GRANT SELECT ON TABLE "public"."ledger" TO "${APP}";`);
    expect(first!.access!.policy.sha256).toMatch(/^[0-9a-f]{64}$/);
    const md = await readFile(
      join(
        fx.storageDir,
        'evidence',
        'production',
        r
          .out!.data.bundle!.key.split('/')
          .pop()!
          .replace(/\.json$/, '.md'),
      ),
      'utf8',
    );
    expect(md).toContain('## Access change');
    expect(md).toContain('SOC 2 CC6.1');
    expect(md).toContain('PCI DSS 7.2');
    expect(md).toContain('✅ applied');

    const again = await applyOn(fx);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.out!.data.statements).toEqual([]);
    const all = await bundles(fx);
    expect(all).toHaveLength(2);
    expect(all[1]!.access).toMatchObject({ outcome: 'applied', statements: [], since: first!.createdAt });

    const verify = await dbops(['evidence', 'verify', '--environment', 'production', '--policies-dir', fx.policiesDir], fx.env);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  });

  it('--break-glass without --environment is a usage error (exit 2)', async () => {
    const r = await dbops(['access', 'apply', '--database-url', db.url, '--policies-dir', fx.policiesDir, '--break-glass', 'INC-1'], fx.env);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toContain('--break-glass and --outside-window belong to the gate of an environment');
  });
});
