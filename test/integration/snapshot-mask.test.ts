// `dbops snapshot mask` on real PostgreSQL: a seeded AstroFinance database is backed up and verified, then
// masked into a template on the test server. Checked from outside dbops: no original e-mail address, name
// or tax id is anywhere in the template's data (pg_dump of it, searched as text), keys on masked columns
// still join, ledger amounts are untouched, the same seed gives the same values and another seed other
// ones; a rule that leaves originals behind, an original copied into free text, a key masked differently
// from its reference each fail with exit 1 naming the column, and the template is then unchanged; the
// seed appears in no output. Then a real rehearsal clones the template and names it, and lint flags a new
// personal-data column without a rule.
import { execFileSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateX25519Identity, identityToRecipient } from '../../pipeline/infra/crypto/age.ts';
import { findPgBinaries, pgTool } from '../../pipeline/infra/pg/binaries.ts';
import type { RehearseData } from '../../pipeline/change/rehearsal/index.ts';
import type { SnapshotMaskData } from '../../pipeline/protection/masking/index.ts';
import { dbops, ROOT, spawnDbops, testEnv, type CliRun } from '../helpers/cli.ts';
import { adminUrl, createDatabase, queryUrl, urlFor, type TestDb } from '../helpers/db.ts';

const work = mkdtempSync(join(tmpdir(), 'dbops-mask-'));
// 0755: when the suite runs as root, the throwaway cluster inside runs as the postgres OS user.
chmodSync(work, 0o755);
const scratchTmp = join(work, 'tmp');
mkdirSync(scratchTmp, { mode: 0o755 });
// In-process runs make their temporary folders (and the throwaway cluster) under TMPDIR: here, to be counted.
process.env['TMPDIR'] = scratchTmp;
const backupsDir = join(work, 'backups');
const reportsDir = join(work, 'reports');
const tag = randomBytes(3).toString('hex');
const TEMPLATE = `dbops_masked_${tag}`;
const SEED_A = `seed-a-${randomBytes(12).toString('hex')}`;
const SEED_B = `seed-b-${randomBytes(12).toString('hex')}`;
const keyOf = (seed: string) => createHmac('sha256', seed).update('dbops masking v1').digest('hex');

let src: TestDb;
let env: NodeJS.ProcessEnv;
let basePolicy: Record<string, any>;
let backupId: string;
const outputs: string[] = [];

/** A policies folder: backups.yaml, migrations.yaml and masking.yaml (the repository's rules, changed by `edit`). */
function policies(name: string, edit: (p: Record<string, any>) => void = () => undefined): string {
  const dir = join(work, `policies-${name}`);
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(join(work, 'policies-common'))) cpSync(join(work, 'policies-common', f), join(dir, f));
  const policy = structuredClone(basePolicy);
  edit(policy);
  writeFileSync(join(dir, 'masking.yaml'), YAML.stringify(policy));
  return dir;
}

async function mask(
  seed: string | undefined,
  policiesDir: string,
  ...args: string[]
): Promise<CliRun & { data: SnapshotMaskData; error?: { message: string } }> {
  const run = await dbops(
    [
      'snapshot',
      'mask',
      ...(args.length > 0 ? args : ['--latest']),
      '--database-url',
      adminUrl(),
      '--policies-dir',
      policiesDir,
      '--reports-dir',
      reportsDir,
      '--json',
    ],
    { ...env, ...(seed === undefined ? {} : { DBOPS_MASKING_SEED: seed }) },
  );
  outputs.push(run.all, readFileSync(join(reportsDir, 'snapshot-mask.json'), 'utf8'));
  const parsed = run.stdout ? (JSON.parse(run.stdout) as { data: SnapshotMaskData; error?: { message: string } }) : ({ data: undefined } as never);
  return { ...run, data: parsed.data, ...(parsed.error ? { error: parsed.error } : {}) };
}

const templateNote = async () =>
  (await queryUrl<{ note: string }>(adminUrl(), `SELECT shobj_description(oid, 'pg_database') AS note FROM pg_database WHERE datname = $1`, [TEMPLATE]))[0]
    ?.note ?? '';
const emails = async (url: string) => (await queryUrl<{ email: string }>(url, 'SELECT email FROM "User" ORDER BY id')).map((r) => r.email);

/** The template's data as pg_dump writes it: every value of every column, as text. */
async function dataOf(database: string): Promise<string> {
  const pgDump = await pgTool(await findPgBinaries(), 'pg_dump');
  return execFileSync(pgDump, ['--data-only', '--no-owner', '--dbname', urlFor(database)], {
    maxBuffer: 512 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'ignore'],
  }).toString('utf8');
}

beforeAll(async () => {
  const identity = await generateX25519Identity();
  mkdirSync(backupsDir);
  mkdirSync(join(work, 'policies-common'));
  writeFileSync(
    join(work, 'policies-common', 'backups.yaml'),
    YAML.stringify({
      version: 1,
      encryption: { recipients: [{ name: 'test', key: await identityToRecipient(identity) }] },
      targets: { local: { type: 'directory', path: backupsDir, primary: true } },
      verify: { restore_jobs: 2 },
    }),
  );
  cpSync(join(ROOT, 'policies', 'migrations.yaml'), join(work, 'policies-common', 'migrations.yaml'));
  basePolicy = YAML.parse(readFileSync(join(ROOT, 'policies', 'masking.yaml'), 'utf8')) as Record<string, any>;
  basePolicy['snapshot'] = { location: 'local', database: TEMPLATE };
  // A key on a masked column, and free text quoting it: the aliases must still join, the notes must be masked.
  basePolicy['tables']['UserAlias'] = { email: { rule: 'fake', as: 'email' }, note: { rule: 'fake', as: 'text' } };
  env = testEnv({ DBOPS_BACKUP_IDENTITY: identity, TMPDIR: scratchTmp });

  src = await createDatabase('mask_src');
  for (const args of [
    ['migrate', 'deploy', '--database-url', src.url],
    ['seed', '--database-url', src.url, '--scale', '0.01'],
  ]) {
    const r = await dbops(args, testEnv());
    expect(r.code, r.all).toBe(0);
  }
  await src.query(`CREATE TABLE "UserAlias" (email text NOT NULL REFERENCES "User"(email), note text);
                   INSERT INTO "UserAlias" SELECT email, 'Forwarded from <' || email || '>, ask ' || "displayName" FROM "User"`);
  const base = policies('base');
  const created = await dbops(['backup', 'create', '--database-url', src.url, '--policies-dir', base, '--reports-dir', reportsDir, '--json'], env);
  expect(created.code, created.all).toBe(0);
  backupId = (JSON.parse(created.stdout) as { data: { manifest: { id: string } } }).data.manifest.id;
  const verified = await dbops(['backup', 'verify', backupId, '--policies-dir', base, '--reports-dir', reportsDir], env);
  expect(verified.code, verified.all).toBe(0);
}, 180_000);

afterAll(async () => {
  await src?.drop();
  await queryUrl(adminUrl(), `DROP DATABASE IF EXISTS ${TEMPLATE} WITH (FORCE)`).catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
});

describe('dbops snapshot mask', () => {
  let first: string[];

  it('masks a verified backup into the template: no original value remains, keys join, amounts are untouched', async () => {
    const run = await mask(SEED_A, policies('base'));
    expect(run.code, run.all).toBe(0);
    expect(run.data.backup.id).toBe(backupId);
    expect(run.data.scratch).toMatch(/throwaway PostgreSQL \d+ cluster/);
    expect(run.data.template).toMatchObject({ database: TEMPLATE, installed: true, replaced: null });
    expect(run.data.scan.hits).toEqual([]);
    expect(run.data.columns.map((c) => `${c.table}.${c.column}`)).toEqual(
      expect.arrayContaining(['public.User.email', 'public.User.displayName', 'public.Customer.name', 'public.Customer.taxId', 'public.AuditEvent.ipAddress']),
    );
    expect(run.data.checks.filter((c) => c.kind === 'foreign-key').length).toBeGreaterThan(10);
    expect(run.data.checks.find((c) => c.name === 'posted journal entries balance')).toMatchObject({ violations: 0 });
    const note = JSON.parse(await templateNote()) as { masked: { backupId: string; policySha256: string } };
    expect(note.masked).toMatchObject({ backupId, database: TEMPLATE, policySha256: run.data.policySha256 });
    // The throwaway cluster and its folder are gone.
    expect(readdirSync(scratchTmp).filter((n) => n.startsWith('dbops-'))).toEqual([]);

    // From outside: every original e-mail address, name and tax id, searched in the whole data of the template.
    const originals = await src.query<{ v: string }>(`
      SELECT email AS v FROM "User" UNION SELECT "displayName" FROM "User"
      UNION SELECT name FROM "Customer" UNION SELECT email FROM "Customer" WHERE email IS NOT NULL
      UNION SELECT "taxId" FROM "Customer" WHERE "taxId" IS NOT NULL
      UNION SELECT host("ipAddress") FROM "AuditEvent" WHERE "ipAddress" IS NOT NULL`);
    expect(originals.length).toBeGreaterThan(50);
    const data = await dataOf(TEMPLATE);
    expect(data).toContain('COPY public."Customer"');
    expect(originals.filter((o) => data.includes(o.v)).map((o) => o.v)).toEqual([]);

    const tpl = urlFor(TEMPLATE);
    // Keys on a masked column: every alias still finds its user, through the masked e-mail address.
    const [joined] = await queryUrl<{ n: string; all: string }>(
      tpl,
      `SELECT count(u.id) AS n, count(*) AS "all" FROM "UserAlias" a LEFT JOIN "User" u ON u.email = a.email`,
    );
    expect(Number(joined!.n)).toBe(Number(joined!.all));
    expect(Number(joined!.all)).toBeGreaterThan(0);
    // Amounts are not personal data: every account's balance is what it was.
    const balances = `SELECT "accountId"::text AS a, sum(CASE WHEN side = 'DEBIT' THEN amount ELSE -amount END)::text AS b FROM "JournalLine" GROUP BY 1 ORDER BY 1`;
    expect(await queryUrl(tpl, balances)).toEqual(await src.query(balances));
    first = await emails(tpl);
    expect(first.every((e) => e.endsWith('@example.com'))).toBe(true);
  }, 120_000);

  it('gives the same values for the same seed and other values for another seed; the template is replaced', async () => {
    const again = await mask(SEED_A, policies('base'), '--from', backupId, '--scratch-url', adminUrl());
    expect(again.code, again.all).toBe(0);
    expect(again.data.template.replaced).toBe(backupId);
    expect(await emails(urlFor(TEMPLATE))).toEqual(first);

    const other = await mask(SEED_B, policies('base'), '--latest', '--scratch-url', adminUrl());
    expect(other.code, other.all).toBe(0);
    const second = await emails(urlFor(TEMPLATE));
    expect(second).toHaveLength(first.length);
    expect(second.filter((e, i) => e === first[i])).toEqual([]);
    // One template database, no build or old copy left behind.
    const left = await queryUrl<{ datname: string }>(adminUrl(), `SELECT datname FROM pg_database WHERE datname LIKE $1 || '%' ORDER BY 1`, [TEMPLATE]);
    expect(left.map((r) => r.datname)).toEqual([TEMPLATE]);
  }, 120_000);

  it('fails naming the column when a rule leaves original values behind, and leaves the template as it was', async () => {
    const before = await templateNote();
    const kept = await mask(
      SEED_A,
      policies('keep', (p) => (p['tables']['User'].email = { rule: 'keep' })),
      '--latest',
      '--scratch-url',
      adminUrl(),
    );
    expect(kept.code, kept.all).toBe(1);
    expect(kept.data.template.installed).toBe(false);
    expect(kept.data.scan.hits.map((h) => `${h.table}.${h.column}`)).toContain('public.User.email');
    expect(kept.all).toContain('public.User.email still holds original values');
    expect(await templateNote()).toBe(before);

    // The e-mail addresses are masked in User, but quoted in free text nobody masked.
    const quoted = await mask(
      SEED_A,
      policies('quoted', (p) => delete p['tables']['UserAlias'].note),
      '--latest',
      '--scratch-url',
      adminUrl(),
    );
    expect(quoted.code, quoted.all).toBe(1);
    expect(quoted.data.scan.hits).toEqual([
      expect.objectContaining({ table: 'public.UserAlias', column: 'note', from: expect.arrayContaining(['public.User.email']) }),
    ]);
    expect(await templateNote()).toBe(before);
  }, 120_000);

  it('fails the foreign-key check when a key is masked differently from the column it references', async () => {
    const run = await mask(
      SEED_A,
      policies('fk', (p) => (p['tables']['UserAlias'].email = { rule: 'hash' })),
      '--latest',
      '--scratch-url',
      adminUrl(),
    );
    expect(run.code, run.all).toBe(1);
    expect(run.data.checks.find((c) => c.name === 'UserAlias_email_fkey')?.violations).toBeGreaterThan(0);
    expect(run.all).toContain('Foreign key UserAlias_email_fkey no longer joins');
  }, 120_000);

  it('refuses an unverified backup, a missing or short seed, and rules that do not fit the database', async () => {
    const base = policies('base');
    const created = await dbops(['backup', 'create', '--database-url', src.url, '--policies-dir', base, '--reports-dir', join(work, 'r2'), '--json'], env);
    const unverified = (JSON.parse(created.stdout) as { data: { manifest: { id: string } } }).data.manifest.id;
    const refused = await mask(SEED_A, base, '--from', unverified);
    expect(refused.code, refused.all).toBe(1);
    expect(refused.all).toContain(`Backup ${unverified} is unverified`);
    const tier = await mask(SEED_A, base, '--latest', '--tier', 'monthly');
    expect(tier.code, tier.all).toBe(1);
    expect(tier.all).toContain('No verified monthly backup');
    // Neither --from nor --latest: which backup is a question, not a guess.
    expect((await dbops(['snapshot', 'mask', '--policies-dir', base], env)).code).toBe(2);

    const noSeed = await mask(undefined, base);
    expect(noSeed.code).toBe(3);
    expect(noSeed.all).toContain('DBOPS_MASKING_SEED');
    const short = await mask('tooshort', base);
    expect(short.code).toBe(2);
    expect(short.all).not.toContain('tooshort');

    const wrong = await mask(
      SEED_A,
      policies('wrong', (p) => {
        p['tables']['User'].emial = { rule: 'hash' };
        p['tables']['Customer'].createdAt = { rule: 'fake', as: 'email' };
      }),
      '--latest',
      '--scratch-url',
      adminUrl(),
    );
    expect(wrong.code, wrong.all).toBe(2);
    expect(wrong.all).toContain('tables.User.emial');
    expect(wrong.all).toContain('Did you mean "email"');
    expect(wrong.all).toContain('tables.Customer.createdAt');
  }, 120_000);

  it('rehearses on the template and names it; lint flags a new personal-data column without a rule', async () => {
    const migrationsDir = join(work, 'migrations');
    const rollbacksDir = join(work, 'rollbacks');
    cpSync(join(ROOT, 'prisma', 'migrations'), migrationsDir, { recursive: true });
    cpSync(join(ROOT, 'rollbacks'), rollbacksDir, { recursive: true });
    const name = '20991231000000_customer_phone';
    mkdirSync(join(migrationsDir, name));
    writeFileSync(join(migrationsDir, name, 'migration.sql'), 'ALTER TABLE "Customer" ADD COLUMN "phone" TEXT;\n');
    writeFileSync(join(rollbacksDir, `${name}.sql`), 'ALTER TABLE "Customer" DROP COLUMN "phone";\n');
    const dirs = ['--migrations-dir', migrationsDir, '--rollbacks-dir', rollbacksDir, '--policies-dir', policies('base'), '--reports-dir', reportsDir];

    const rehearsed = await dbops(['rehearse', '--snapshot', 'masked', '--database-url', adminUrl(), '--last', '1', '--json', ...dirs], env);
    expect(rehearsed.code, rehearsed.all).toBe(0);
    const snapshot = (JSON.parse(rehearsed.stdout) as { data: RehearseData }).data.snapshot;
    expect(snapshot.source).toBe('masked');
    expect(snapshot.masked).toMatchObject({ backupId, database: TEMPLATE });

    const linted = await dbops(['lint', '--last', '1', '--json', ...dirs], env);
    expect(linted.code, linted.all).toBe(1);
    expect(linted.all).toContain('masking/personal-data-unmasked');
    expect(linted.all).toContain('Customer.phone');
  }, 120_000);

  it('leaves nothing behind when killed (-9) while masking or while loading the template; the next run installs', async () => {
    const before = await templateNote();
    const args = ['snapshot', 'mask', '--latest', '--database-url', adminUrl(), '--policies-dir', policies('base'), '--reports-dir', reportsDir];
    const killed: string[] = [];
    for (const when of ['Scanning', 'Loading the masked database']) {
      const run = spawnDbops(args, { ...env, DBOPS_MASKING_SEED: SEED_A });
      const deadline = Date.now() + 60_000;
      while (!run.output().includes(when) && Date.now() < deadline && run.child.exitCode === null) await new Promise((r) => setTimeout(r, 10));
      expect(run.output()).toContain(when);
      run.child.kill('SIGKILL');
      outputs.push((await run.done).all);
      killed.push(...readdirSync(scratchTmp).filter((n) => n.startsWith('dbops-mask-')));
    }
    // The throwaway cluster of the first kill is still there (and running); the template is untouched.
    expect(killed.length).toBeGreaterThan(0);
    expect(await templateNote()).toBe(before);

    const next = await mask(SEED_A, policies('base'));
    expect(next.code, next.all).toBe(0);
    expect(
      readdirSync(scratchTmp).filter((n) => n.startsWith('dbops-')),
      `${next.all}\n${killed.join(' ')}`,
    ).toEqual([]);
    const left = await queryUrl<{ datname: string }>(adminUrl(), `SELECT datname FROM pg_database WHERE datname LIKE $1 || '%' ORDER BY 1`, [TEMPLATE]);
    expect(left.map((r) => r.datname)).toEqual([TEMPLATE]);
    expect(execFileSync('ps', ['-eo', 'args']).toString()).not.toContain(killed[0]!);
  }, 180_000);

  it('never shows the seed or the key derived from it', async () => {
    expect(outputs.length).toBeGreaterThan(8);
    for (const seed of [SEED_A, SEED_B]) {
      for (const text of [...outputs, await templateNote()]) {
        expect(text).not.toContain(seed);
        expect(text).not.toContain(keyOf(seed));
      }
    }
  });
});
