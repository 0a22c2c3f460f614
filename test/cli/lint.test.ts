// `dbops lint` through the package bin: exit codes 0, 1 and 2, and --json validated against the report schema.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { dbops, runDbops } from '../helpers/cli.ts';
import { tempDir } from '../helpers/migrations.ts';
import { FindingSchema, VerdictSchema } from '../../pipeline/core/result.ts';
import { LintData } from '../../pipeline/change/lint/model.ts';

const LintOutput = z.strictObject({
  command: z.literal('lint'),
  verdict: VerdictSchema,
  findings: z.array(FindingSchema),
  data: LintData,
  error: z.unknown().optional(),
});

async function project(files: Record<string, string>): Promise<{ dir: string; args: string[] }> {
  const dir = await tempDir('dbops-cli-lint-');
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  await mkdir(join(dir, 'rollbacks'), { recursive: true });
  await mkdir(join(dir, 'policies'), { recursive: true });
  return {
    dir,
    args: [
      '--migrations-dir',
      join(dir, 'migrations'),
      '--rollbacks-dir',
      join(dir, 'rollbacks'),
      '--policies-dir',
      join(dir, 'policies'),
      '--reports-dir',
      join(dir, 'reports'),
    ],
  };
}

const TABLE = 'CREATE TABLE "A" ("id" BIGINT NOT NULL, CONSTRAINT "A_pkey" PRIMARY KEY ("id"));\n';

describe('dbops lint', () => {
  it('exit 0 on a clean change, with --json that matches LintData', async () => {
    const p = await project({ 'migrations/20260101000000_a/migration.sql': TABLE, 'rollbacks/20260101000000_a.sql': 'DROP TABLE "A";\n' });
    const run = await runDbops(['lint', '--all', '--json', ...p.args]);
    expect(run.code).toBe(0);
    const out = LintOutput.parse(JSON.parse(run.stdout));
    expect(out.verdict).toBe('pass');
    expect(out.data).toMatchObject({ scope: 'all', base: null, profile: 'prisma', counts: { error: 0, warning: 0, notice: 0 }, squawk: { invocations: 1 } });
    expect(out.data.files).toHaveLength(2);
  });

  it('exit 1 on an error finding; the human output groups findings by file as file:line:col  level  rule  message', async () => {
    const p = await project({
      'migrations/20260101000000_a/migration.sql': TABLE,
      'rollbacks/20260101000000_a.sql': 'DROP TABLE "A";\n',
      'migrations/20260201000000_b/migration.sql': '-- DropTable\nDROP TABLE "A";\n',
    });
    const run = await dbops(['lint', '--all', ...p.args]);
    expect(run.code).toBe(1);
    const m = join(p.dir, 'migrations/20260201000000_b/migration.sql');
    expect(run.stdout).toContain(`${m}\n  ${m}  error    rollbacks/missing  20260201000000_b has no rollback`);
    expect(run.stdout).toContain(`  ${m}:2:1  error    destructive/drop-table  DROP TABLE "A" deletes the table and every row in it.\n      help: `);
    expect(run.stdout).toMatch(
      /Linted 2 migrations and 1 rollback \(all migrations and rollbacks; squawk 2\.\d+\.\d+, profile prisma, PostgreSQL 15\)\.\n2 errors, 0 warnings, 0 notices/,
    );
    expect(run.stdout.trimEnd().endsWith('Lint failed.')).toBe(true);
    const json = LintOutput.parse(JSON.parse((await dbops(['lint', '--all', '--json', ...p.args])).stdout));
    expect(json.findings.map((f) => f.rule)).toEqual(['rollbacks/missing', 'destructive/drop-table']);
  });

  it('exit 2 for contradicting flags, an invalid policy, or a missing migrations folder', async () => {
    const p = await project({
      'migrations/20260101000000_a/migration.sql': TABLE,
      'policies/migrations.yaml': 'version: 1\nlint:\n  profile: strict\n  rules:\n    prefer-text-field: loud\n',
    });
    const both = await dbops(['lint', '--all', '--last', '2', ...p.args]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--all and --last cannot be combined.');
    const policy = await dbops(['lint', '--last', '1', ...p.args]);
    expect(policy.code).toBe(2);
    expect(policy.stderr).toContain('lint.profile');
    expect(policy.stderr).toContain('lint.rules.prefer-text-field');
    const missing = await dbops(['lint', '--all', '--migrations-dir', join(p.dir, 'nope')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('does not exist');
  });
});
