import { describe, expect, it } from 'vitest';
import { commands } from '../../pipeline/registry.ts';
import { dbops, runDbops } from '../helpers/cli.ts';

describe('command line', () => {
  it('the package bin lists every command', async () => {
    const run = await runDbops(['--help']);
    expect(run.code).toBe(0);
    for (const head of new Set(commands.map((c) => c.path[0]!))) expect(run.stdout).toMatch(new RegExp(`^  ${head}\\b`, 'm'));
    expect(run.stdout).toContain('Exit codes: 0 pass, 1 refused or failed');
  });

  it.each(commands.map((c) => [c.path.join(' '), c] as const))('dbops %s --help shows its summary, every flag and examples', async (_name, spec) => {
    const run = await dbops([...spec.path, '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(spec.summary.slice(0, 40));
    for (const key of Object.keys(spec.inputs.shape).filter((k) => k !== 'args')) {
      expect(run.stdout).toContain(`--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
    }
    expect(run.stdout).toContain('Examples:');
    for (const example of spec.examples) expect(run.stdout).toContain(`$ ${example}`);
  });

  it('usage errors exit 2 and say what is wrong', async () => {
    const unknown = await dbops(['migrate', 'deplyo']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'deplyo'");
    expect(unknown.stderr).toContain('(Did you mean deploy?)');
    const badFlag = await dbops(['migrate', 'status', '--databse-url', 'x']);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toContain("unknown option '--databse-url'");
    const badValue = await dbops(['seed', '--scale', 'lots']);
    expect(badValue.code).toBe(2);
    expect(badValue.stderr).toContain('--scale');
    const bareGroup = await dbops(['local']);
    expect(bareGroup.code).toBe(2);
    expect(bareGroup.stderr).toContain('Usage: dbops local');
  });
});
