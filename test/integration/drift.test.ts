// `dbops drift`: schema.prisma against the migrations (Prisma's engine), a live database against the schema its
// applied migrations build (fingerprints, with the statements that restore it), and _prisma_migrations against
// the evidence. Real PostgreSQL throughout; the PR workflow's own step is run as written.
import { spawnSync } from 'node:child_process';
import { chmod, cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { DriftData } from '../../pipeline/change/drift/index.ts';
import { BIN, ROOT, dbops, testEnv } from '../helpers/cli.ts';
import { adminUrl, databasePerTest } from '../helpers/db.ts';
import { deployFixture } from '../helpers/environments.ts';
import { tempDir } from '../helpers/migrations.ts';
import { startWebhook } from '../helpers/webhook.ts';

const fresh = databasePerTest('drift');

async function checkout() {
  const root = await tempDir('dbops-drift-');
  await Promise.all(['prisma', 'rollbacks', 'policies'].map((d) => cp(join(ROOT, d), join(root, d), { recursive: true })));
  const schema = join(root, 'prisma/schema.prisma');
  const migrations = join(root, 'prisma/migrations');
  const flags = ['--prisma-schema', schema, '--migrations-dir', migrations, '--policies-dir', join(root, 'policies'), '--reports-dir', join(root, 'reports')];
  return { root, schema, migrations, flags };
}

/** A model changed without a migration: a new optional column on Currency. */
async function changeModel(schema: string) {
  const text = await readFile(schema, 'utf8');
  const anchor = 'model Currency {\n  code       String  @id @db.Char(3)\n';
  expect(text).toContain(anchor);
  await writeFile(schema, text.replace(anchor, `${anchor}  country    String?\n`));
}

const drift = async (args: string[], env = testEnv()) => {
  const run = await dbops(['drift', '--json', '--scratch-url', adminUrl(), ...args], env);
  return {
    run,
    data: (JSON.parse(run.stdout) as { data: DriftData }).data,
    findings: JSON.parse(run.stdout).findings as Array<{ rule: string; message: string; help?: string }>,
  };
};

describe('dbops drift', () => {
  it('names a model changed without a migration and exits 1; agrees (exit 0) when schema.prisma and the migrations match', async () => {
    const repo = await checkout();
    const clean = await drift(repo.flags);
    expect(clean.run.code, clean.run.all).toBe(0);
    expect(clean.data.schema).toEqual({ agree: true, models: [], summary: null, script: null });
    expect(clean.data.live).toBeNull();

    // Prisma's multi-file schema: the same models split over a folder of .prisma files agree too.
    const split = join(repo.root, 'prisma/schema');
    const whole = await readFile(repo.schema, 'utf8');
    const cut = whole.indexOf('model Currency {');
    await mkdir(join(split, 'models'), { recursive: true });
    await writeFile(join(split, 'main.prisma'), whole.slice(0, cut));
    await writeFile(join(split, 'models', 'rest.prisma'), whole.slice(cut));
    const folder = await drift([...repo.flags, '--prisma-schema', split]);
    expect(folder.run.code, folder.run.all).toBe(0);

    await changeModel(repo.schema);
    const changed = await drift(repo.flags);
    expect(changed.run.code, changed.run.all).toBe(1);
    expect(changed.data.schema.models).toEqual(['Currency']);
    expect(changed.data.schema.script).toMatch(/ALTER TABLE "Currency" ADD COLUMN\s+"country" TEXT;/);
    expect(changed.findings.map((f) => f.rule)).toEqual(['drift/schema-without-migration']);
    expect(changed.findings[0]!.message).toContain('Currency');
    expect(changed.findings[0]!.help).toContain('dbops migrate new');
  });

  it("in the pull request workflow's lint job, the same is a failure of the check", async () => {
    const repo = await checkout();
    // The embedded cluster runs as the postgres OS user when the tests run as root: it must reach the folder.
    await chmod(repo.root, 0o755);
    await changeModel(repo.schema);
    const workflow = parse(await readFile(join(ROOT, '.github/workflows/migration-pr.yml'), 'utf8')) as {
      jobs: Record<string, { steps: Array<{ run?: string; 'continue-on-error'?: boolean }> }>;
    };
    const step = workflow.jobs['lint']!.steps.find((s) => /dbops drift/.test(s.run ?? ''))!;
    expect(step['continue-on-error']).toBe(true);
    // The step exactly as written, in the checkout, with ./dbops being this package's bin.
    await writeFile(join(repo.root, 'dbops'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
    await chmod(join(repo.root, 'dbops'), 0o755);
    const env = testEnv({ DBOPS_LOCAL_DIR: join(repo.root, '.dbops/local') });
    const ran = spawnSync('bash', ['-e', '-c', step.run!], { cwd: repo.root, env, encoding: 'utf8', timeout: 120_000 });
    expect(ran.status, ran.stdout + ran.stderr).toBe(1);
    expect(ran.stdout).toContain('Currency');
    // The report job then fails the check, naming the model.
    const report = spawnSync('./dbops', ['report'], { cwd: repo.root, env, encoding: 'utf8', timeout: 60_000 });
    expect(report.status, report.stdout + report.stderr).toBe(1);
    expect(report.stdout).toMatch(/── drift ── fail · 1 error/);
    expect(report.stdout).toContain('Currency');
    spawnSync('./dbops', ['local', 'down', '--destroy'], { cwd: repo.root, env, timeout: 60_000 });
  });

  it("names an index dropped and a column added by hand with the statements that restore them, not an extension's objects, and agrees once they ran", async () => {
    const repo = await checkout();
    const db = await fresh();
    const deployed = await dbops([
      'migrate',
      'deploy',
      '--database-url',
      db.url,
      '--migrations-dir',
      repo.migrations,
      '--policies-dir',
      join(repo.root, 'policies'),
    ]);
    expect(deployed.code, deployed.all).toBe(0);
    const agree = await drift(['--database-url', db.url, ...repo.flags]);
    expect(agree.run.code, agree.run.all).toBe(0);
    expect(agree.data.live).toMatchObject({ agree: true, items: [], unknown: [] });
    expect(agree.data.live!.applied).toHaveLength(9);

    await db.query('DROP INDEX "Invoice_customerId_idx"');
    await db.query('ALTER TABLE "Customer" ADD COLUMN "nickname" text');
    await db.query('CREATE EXTENSION pg_trgm');
    await db.query('CREATE INDEX "Customer_name_trgm_idx" ON "Customer" USING gin (name gin_trgm_ops)');
    const found = await drift(['--database-url', db.url, ...repo.flags]);
    expect(found.run.code, found.run.all).toBe(1);
    const items = found.data.live!.items;
    expect(items.map((i) => [i.key, i.change])).toEqual([
      ['index public.Customer_name_trgm_idx', 'unexpected'],
      ['column public.Customer.nickname', 'unexpected'],
      ['index public.Invoice_customerId_idx', 'missing'],
    ]);
    // pg_trgm's own functions, operators and types are not reported; the extension itself is ignored by policy.
    expect(JSON.stringify(items)).not.toMatch(/gtrgm|similarity|show_trgm/);
    expect(found.data.live!.ignored).toBe(1);
    const restore = Object.fromEntries(items.map((i) => [i.key, i.restore]));
    expect(restore['column public.Customer.nickname']).toEqual(['ALTER TABLE public."Customer" DROP COLUMN nickname;']);
    expect(restore['index public.Invoice_customerId_idx']).toEqual(['CREATE INDEX "Invoice_customerId_idx" ON public."Invoice" USING btree ("customerId");']);
    expect(found.findings.filter((f) => f.rule === 'drift/live-schema')).toHaveLength(3);
    expect(found.run.all).not.toContain(new URL(db.url).password || '\u0000');

    // --notify: one message naming each object, never the webhook's token nor the database password.
    const hook = await startWebhook();
    try {
      const env = testEnv({ DBOPS_DRIFT_WEBHOOK: hook.url });
      const notified = await drift(['--database-url', db.url, '--notify', ...repo.flags], env);
      expect(notified.run.code, notified.run.all).toBe(1);
      expect(notified.data.notification).toMatchObject({ status: 'sent', host: hook.host });
      expect(hook.requests).toHaveLength(1);
      const text = (hook.requests[0]!.body as { text: string }).text;
      for (const item of items) expect(text).toContain(item.key);
      expect(text).not.toContain(new URL(db.url).password || '\u0000');
      expect(notified.run.all + JSON.stringify(notified.data)).not.toContain(hook.token);

      for (const item of items) for (const sql of item.restore) await db.query(sql);
      const after = await drift(['--database-url', db.url, '--notify', ...repo.flags], env);
      expect(after.run.code, after.run.all).toBe(0);
      expect(after.data.live!.items).toEqual([]);
      // No drift, no message.
      expect(after.data.notification?.status).toBe('not-wanted');
      expect(hook.requests).toHaveLength(1);
    } finally {
      await hook.close();
    }
  });

  it('with --environment, reconciles _prisma_migrations with the evidence: a migration deployed by hand is outside the pipeline', async () => {
    const db = await fresh();
    const table = (name: string) => `CREATE TABLE "${name}" (\n    "id" INTEGER NOT NULL,\n\n    CONSTRAINT "${name}_pkey" PRIMARY KEY ("id")\n);\n`;
    const [M0, M1] = ['20260101000000_base', '20260102000000_hotfix'];
    const fx = await deployFixture({ urls: { production: db.url }, migrations: { [M0]: table('Base') }, rollbacks: { [M0]: 'DROP TABLE "Base";\n' } });
    const schema = join(fx.root, 'schema.prisma');
    await writeFile(schema, 'datasource db {\n  provider = "postgresql"\n}\n\nmodel Base {\n  id Int @id\n}\n\nmodel Hotfix {\n  id Int @id\n}\n');
    const deployed = await dbops(['deploy', '--environment', 'production', ...fx.flags], fx.env);
    expect(deployed.code, deployed.all).toBe(0);
    await fx.addMigrations({ [M1]: table('Hotfix') }, { [M1]: 'DROP TABLE "Hotfix";\n' });
    const byHand = await dbops(['migrate', 'deploy', '--database-url', db.url, '--migrations-dir', fx.migrationsDir, '--policies-dir', fx.policiesDir], fx.env);
    expect(byHand.code, byHand.all).toBe(0);
    const production = [
      '--environment',
      'production',
      '--prisma-schema',
      schema,
      '--migrations-dir',
      fx.migrationsDir,
      '--policies-dir',
      fx.policiesDir,
      '--reports-dir',
      fx.reportsDir,
    ];
    const { run, data, findings } = await drift(production, fx.env);
    expect(run.code, run.all).toBe(1);
    // schema.prisma, the migrations and the live schema agree: only the evidence says the hotfix skipped the pipeline.
    expect(data.schema.agree).toBe(true);
    expect(data.live).toMatchObject({ agree: true, applied: [M0, M1] });
    expect(data.evidence?.rows.map((r) => [r.migration, r.status, r.bundle])).toEqual([
      [M0, 'explained', '#1 deploy'],
      [M1, 'outside', null],
    ]);
    expect(findings.map((f) => f.rule)).toEqual(['reconcile/outside']);
    expect(findings[0]!.message).toContain(M1);

    // Recorded: a `drift` bundle in the chain (which still verifies), listed by the month's audit review as a security event.
    await db.query('CREATE INDEX "Base_by_hand_idx" ON "Base"(id)');
    const recorded = await drift(['--record', ...production], fx.env);
    expect(recorded.run.code, recorded.run.all).toBe(1);
    expect(recorded.data.recorded?.sequence).toBe(2);
    const verify = await dbops(['evidence', 'verify', '--environment', 'production', '--policies-dir', fx.policiesDir, '--reports-dir', fx.reportsDir], fx.env);
    expect(verify.code, verify.all).toBe(0);
    const bundle = JSON.parse(await readFile(join(fx.storageDir, recorded.data.recorded!.key), 'utf8')) as {
      kind: string;
      drift: { verdict: string; objects: unknown[]; outside: unknown[] };
    };
    expect(bundle.kind).toBe('drift');
    expect(bundle.drift).toMatchObject({
      verdict: 'fail',
      objects: [{ key: 'index public.Base_by_hand_idx', change: 'unexpected', restore: ['DROP INDEX public."Base_by_hand_idx";'] }],
      outside: [{ migration: M1, event: 'applied' }],
    });
    const month = new Date().toISOString().slice(0, 7);
    const review = await dbops(
      ['audit', 'review', '--environment', 'production', '--month', month, '--json', '--policies-dir', fx.policiesDir, '--reports-dir', fx.reportsDir],
      fx.env,
    );
    expect(review.code, review.all).toBe(0);
    const reviewed = JSON.parse(review.stdout).data as {
      drift: { checks: Array<{ sequence: number; verdict: string; objects: number }> };
      events: Array<{ kind: string; message: string }>;
    };
    expect(reviewed.drift.checks).toEqual([expect.objectContaining({ sequence: 2, verdict: 'fail', objects: 1, outside: 1 })]);
    expect(reviewed.events.filter((e) => e.kind === 'schema-drift').map((e) => e.message)).toEqual([
      expect.stringContaining('index public.Base_by_hand_idx unexpected'),
    ]);
    expect(await readFile(join(fx.reportsDir, `audit-review-${month}.md`), 'utf8')).toMatch(/## Drift checks[\s\S]*\| #2 \| fail \| 1 \| 1 \|/);
  });

  it('refuses --record without --environment, before reading anything', async () => {
    const repo = await checkout();
    const run = await dbops(['drift', '--record', '--database-url', adminUrl(), ...repo.flags]);
    expect(run.code).toBe(2);
    expect(run.all).toContain('--record');
  });
});
