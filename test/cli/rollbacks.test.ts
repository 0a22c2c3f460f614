// `dbops rollbacks check`: pairing over every migration, exit 1 on missing, empty or orphaned rollbacks.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { dbops, runDbops } from '../helpers/cli.ts';
import { tempDir } from '../helpers/migrations.ts';
import { FindingSchema, VerdictSchema } from '../../pipeline/core/result.ts';
import { RollbacksData } from '../../pipeline/change/rollbacks/model.ts';

const Output = z.strictObject({
  command: z.literal('rollbacks check'),
  verdict: VerdictSchema,
  findings: z.array(FindingSchema),
  data: RollbacksData,
  error: z.unknown().optional(),
});

async function project(files: Record<string, string>) {
  const dir = await tempDir('dbops-cli-rollbacks-');
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  return ['--migrations-dir', join(dir, 'migrations'), '--rollbacks-dir', join(dir, 'rollbacks'), '--reports-dir', join(dir, 'reports')];
}

describe('dbops rollbacks check', () => {
  it('the repository: every migration paired, the irreversible one named with its reason (exit 0)', async () => {
    const run = await runDbops(['rollbacks', 'check', '--reports-dir', await tempDir('dbops-cli-reports-')]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(
      '  irreversible  20261020091500_drop_organization_legacy_erp_id  (20261020091500_drop_organization_legacy_erp_id dropped Organization.legacyErpId',
    );
    expect(run.stdout).toContain('8 paired, 1 irreversible, 0 missing, 0 empty, 0 orphaned.');
    const json = Output.parse(JSON.parse((await dbops(['rollbacks', 'check', '--json', '--reports-dir', await tempDir('dbops-cli-reports-')])).stdout));
    expect(json.verdict).toBe('pass');
    expect(json.data.pairs).toHaveLength(9);
  });

  it('missing, empty and orphaned rollbacks fail with exit 1 and name the file to fix', async () => {
    const args = await project({
      'migrations/20260101000000_a/migration.sql': 'CREATE TABLE "A" ("id" INT);',
      'migrations/20260201000000_b/migration.sql': 'CREATE TABLE "B" ("id" INT);',
      'migrations/20260301000000_c/migration.sql': 'CREATE TABLE "C" ("id" INT);',
      'rollbacks/20260101000000_a.sql': 'DROP TABLE "A";',
      'rollbacks/20260301000000_c.sql': '-- TODO\n',
      'rollbacks/20260401000000_gone.sql': 'DROP TABLE "G";',
      'rollbacks/README.md': 'not a rollback',
    });
    const run = await dbops(['rollbacks', 'check', '--json', ...args]);
    expect(run.code).toBe(1);
    const out = Output.parse(JSON.parse(run.stdout));
    expect(out.data.pairs.map((p) => [p.migration, p.status])).toEqual([
      ['20260101000000_a', 'paired'],
      ['20260201000000_b', 'missing'],
      ['20260301000000_c', 'empty'],
      [null, 'orphan'],
    ]);
    expect(out.findings.map((f) => f.rule)).toEqual(['rollbacks/missing', 'rollbacks/empty', 'rollbacks/orphan']);
    const human = await dbops(['rollbacks', 'check', ...args]);
    expect(human.code).toBe(1);
    expect(human.stdout).toContain('MISSING       20260201000000_b');
    expect(human.stdout).toContain('1 paired, 0 irreversible, 1 missing, 1 empty, 1 orphaned.');
  });

  it('an irreversible marker without a reason fails; a missing migrations folder is exit 2', async () => {
    const args = await project({
      'migrations/20260101000000_a/migration.sql': 'DELETE FROM "A";',
      'rollbacks/20260101000000_a.sql': '-- dbops:irreversible\n',
    });
    const run = await dbops(['rollbacks', 'check', ...args]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('rollbacks/irreversible-without-reason');
    expect((await dbops(['rollbacks', 'check', '--migrations-dir', '/nonexistent/migrations'])).code).toBe(2);
  });
});
