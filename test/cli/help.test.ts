import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { loadSpecs, GROUPS } from '../../pipeline/cli/registry.ts';
import { REPORT_STEPS } from '../../pipeline/report/schema.ts';
import { BIN, dbops, ROOT, runDbops, testEnv } from '../helpers/cli.ts';

const commands = await loadSpecs();

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

  it('every report a command writes has a data schema, so `dbops report` reads it back', () => {
    const written = commands.flatMap((c) => (c.report ? [c.report] : []));
    expect(written.length).toBeGreaterThan(10);
    for (const step of written) expect(REPORT_STEPS).toContain(step);
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

  it.each([
    [['anonymize', 'run', '--help'], "error: unknown command 'anonymize'", undefined],
    [['deplyo', '--help'], "error: unknown command 'deplyo'", '(Did you mean deploy?)'],
    [['backup', 'verfy', '--help'], "error: unknown command 'verfy'", '(Did you mean verify?)'],
    [['evidence', 'lst'], "error: unknown command 'lst'", '(Did you mean list?)'],
  ])('%j: an unknown command is exit 2 naming the closest, with or without --help', async (argv, message, near) => {
    const run = await dbops(argv);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(message);
    if (near) expect(run.stderr).toContain(near);
    else expect(run.stderr).not.toContain('Did you mean');
  });

  it.each(Object.keys(GROUPS))('dbops %s --help lists the subcommands the specs define', async (group) => {
    const run = await dbops([group, '--help']);
    expect(run.code).toBe(0);
    const verbs = commands.filter((c) => c.path[0] === group && c.path[1]).map((c) => c.path[1]!);
    expect(verbs.length).toBeGreaterThan(0);
    for (const verb of verbs) expect(run.stdout).toMatch(new RegExp(`^  ${verb}\\b`, 'm'));
    const top = await dbops(['--help']);
    expect(top.stdout.replace(/\s+/g, ' ')).toContain(`${GROUPS[group]}: ${verbs.join(', ')}`);
  });

  it('a reader that goes away (dbops … | head) ends nothing: no EPIPE crash, the exit code stays', async () => {
    const child = spawn(process.execPath, [BIN, '--help'], { cwd: ROOT, env: testEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((done) => child.on('close', done));
    expect(stderr).not.toContain('EPIPE');
    expect(code).toBe(0);
  });
});
