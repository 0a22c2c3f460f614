import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../pipeline/core/errors.ts';
import { policyJsonSchema, policySchemaFile } from '../../pipeline/policy/json-schema.ts';
import { loadPolicies } from '../../pipeline/policy/load.ts';

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
async function policyDir(yaml: string | undefined): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dbops-policy-'));
  dirs.push(dir);
  if (yaml !== undefined) await writeFile(join(dir, 'migrations.yaml'), yaml);
  return dir;
}

describe('policies/migrations.yaml', () => {
  it('uses the documented defaults when the file is absent', async () => {
    const { migrations } = await loadPolicies(await policyDir(undefined), ['migrations']);
    expect(migrations.path).toBeUndefined();
    expect(migrations.value.executor).toMatchObject({
      lock_timeout: '5s',
      statement_timeout: '15min',
      lock_retries: 3,
      advisory_lock_timeout: '10s',
      overrides: {},
    });
  });

  it('lists every problem at once, each with file, line and key', async () => {
    const dir = await policyDir(
      [
        'version: 2',
        'executor:',
        '  lock_timeout: soon',
        '  lock_retrys: 3',
        '  overrides:',
        '    m1:',
        '      statement_timeout: 5 minutes',
        'extra: true',
        '',
      ].join('\n'),
    );
    const error = await loadPolicies(dir, ['migrations']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    const file = join(dir, 'migrations.yaml');
    expect(message).toContain('5 problems');
    expect(message).toContain(`${file}:1: version:`);
    expect(message).toContain(`${file}:3: executor.lock_timeout: expected a duration`);
    expect(message).toContain(`${file}:4: executor.lock_retrys: unknown key`);
    expect(message).toContain(`${file}:7: executor.overrides.m1.statement_timeout: expected a duration`);
    expect(message).toContain(`${file}:8: extra: unknown key`);
  });

  it('reports YAML syntax errors with their line', async () => {
    const error = await loadPolicies(await policyDir('version: 1\nexecutor:\n  lock_timeout: [5s\n'), ['migrations']).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/migrations\.yaml:\d+: <yaml>:/);
  });

  it.each(['migrations', 'backups', 'environments'] as const)(
    'the committed %s policy file is valid, and its JSON Schema is in sync with the zod schema',
    async (name) => {
      const loaded = await loadPolicies('policies', [name]);
      expect(loaded[name].path).toBe(join('policies', `${name}.yaml`));
      expect(await readFile(join('policies', 'schema', policySchemaFile(name)), 'utf8')).toBe(policyJsonSchema(name));
    },
  );
});
