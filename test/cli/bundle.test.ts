// The package's bin runs a bundle that it builds on first use and rebuilds when a source changes
// (pipeline/bin/bundle.js). These tests run a copy of the package, so the bundle the rest of the suite uses
// is never touched, and check that every command reads the same from the bundle and from the sources.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSpecs } from '../../pipeline/cli/registry.ts';
import { dbops, ROOT, runDbops, testEnv } from '../helpers/cli.ts';
import { databasePerTest, queryUrl } from '../helpers/db.ts';

const exec = promisify(execFile);
let copy: string;
const cache = () => join(copy, 'node_modules', '.cache', 'dbops');
const manifest = () => JSON.parse(readFileSync(join(cache(), 'current.json'), 'utf8')) as { dir: string; inputs: Record<string, unknown> };

async function run(args: string[], env: NodeJS.ProcessEnv = {}, root = copy) {
  try {
    const { stdout, stderr } = await exec(process.execPath, [join(root, 'pipeline/bin/dbops.js'), ...args], {
      cwd: ROOT,
      env: testEnv(env),
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const { code, stdout, stderr } = e as { code: number; stdout: string; stderr: string };
    return { code, stdout, stderr };
  }
}

beforeAll(() => {
  copy = mkdtempSync(join(tmpdir(), 'dbops-bundle-'));
  cpSync(join(ROOT, 'pipeline'), join(copy, 'pipeline'), { recursive: true, filter: (src) => !src.includes(`${join('pipeline', 'generated')}`) });
  cpSync(join(ROOT, 'package.json'), join(copy, 'package.json'));
  // The dependencies, each linked: the copy's own node_modules folder holds its own cache.
  mkdirSync(join(copy, 'node_modules'));
  for (const entry of readdirSync(join(ROOT, 'node_modules')))
    if (entry !== '.cache') symlinkSync(join(ROOT, 'node_modules', entry), join(copy, 'node_modules', entry));
});
afterAll(() => rmSync(copy, { recursive: true, force: true }));

describe('the bundle', () => {
  it('is built on the first run, reused while the sources are unchanged, and rebuilt when one changes', async () => {
    expect(existsSync(join(cache(), 'current.json'))).toBe(false);
    const first = await run(['--version']);
    expect(first).toMatchObject({ code: 0, stdout: `${JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version}\n` });
    const built = manifest();
    expect(Object.keys(built.inputs)).toContain('pipeline/cli/main.ts');
    expect(existsSync(join(cache(), built.dir, 'commands.json'))).toBe(true);

    expect((await run(['--version'])).code).toBe(0);
    expect(manifest().dir).toBe(built.dir);

    // An edit (here only its time) to any source of the bundle: the next run builds a new one.
    const later = new Date(Date.now() + 5000);
    utimesSync(join(copy, 'pipeline/core/format.ts'), later, later);
    expect((await run(['--version'])).code).toBe(0);
    expect(manifest().dir).not.toBe(built.dir);
  });

  it('a build killed half-way (a partial folder, a stray temporary manifest) leaves the current bundle in use', async () => {
    expect((await run(['--version'])).code).toBe(0);
    const current = manifest().dir;
    mkdirSync(join(cache(), 'build-1-1'));
    writeFileSync(join(cache(), 'build-1-1', 'index.js'), 'throw new Error("half-written")');
    writeFileSync(join(cache(), 'current.json.99999.tmp'), '{"dir":');
    const after = await run(['migrate', '--help']);
    expect(after.code).toBe(0);
    expect(after.stdout).toContain('Usage: dbops migrate');
    expect(manifest().dir).toBe(current);
  });

  it('when no bundle can be written the sources run instead, with the same result', async () => {
    rmSync(join(copy, 'node_modules', '.cache'), { recursive: true, force: true });
    writeFileSync(join(copy, 'node_modules', '.cache'), 'not a folder\n');
    try {
      const fallback = await run(['rollbacks', 'check', '--help'], { DBOPS_LOG_LEVEL: 'debug' });
      expect(fallback.code).toBe(0);
      expect(fallback.stdout).toContain('Usage: dbops rollbacks check');
      expect(fallback.stderr).toContain('running from the sources, the bundle could not be built');
    } finally {
      rmSync(join(copy, 'node_modules', '.cache'), { force: true });
    }
  });
});

describe('every command reads the same from the bundle and from the sources', () => {
  const FROM_SOURCES = { DBOPS_FROM_SOURCES: '1' };

  it('the general help, every group help and every command help are identical', async () => {
    const paths = [[], ...new Set((await loadSpecs()).flatMap((s) => (s.path.length > 1 ? [s.path[0]!] : [])))].map((p) => (Array.isArray(p) ? p : [p]));
    for (const spec of await loadSpecs()) paths.push(spec.path);
    for (const path of paths) {
      // The sources in this process (the suite's own way of running the CLI), the bundle as its own process.
      const [bundled, sources] = [await run([...path, '--help']), await dbops([...path, '--help'])];
      expect(bundled.code, path.join(' ')).toBe(0);
      expect(bundled.stdout, path.join(' ')).toBe(sources.stdout);
    }
  });

  it('a command with a report gives the same result and exit code, and a usage error the same message', async () => {
    const reports = mkdtempSync(join(tmpdir(), 'dbops-bundle-reports-'));
    const lint = (env: NodeJS.ProcessEnv) => run(['lint', '--all', '--json', '--reports-dir', reports], env);
    const [bundled, sources] = [await lint({}), await lint(FROM_SOURCES)];
    expect(bundled.code).toBe(sources.code);
    // Everything but the timings.
    const data = (out: string) => JSON.parse(out, (key, value: unknown) => (key === 'durationMs' ? undefined : value)) as unknown;
    expect(data(bundled.stdout)).toEqual(data(sources.stdout));
    const typo = ['lint', '--al'];
    const [a, b] = [await run(typo), await run(typo, FROM_SOURCES)];
    expect([a.code, a.stderr]).toEqual([2, b.stderr]);
  });
});

describe('code generated at run time', () => {
  const fresh = databasePerTest('bundle');

  it('seed, whose Prisma Client is TypeScript generated on demand, runs from the bundle', async () => {
    const db = await fresh();
    // The package's own bin, as ./dbops starts it: the bundle, which cannot contain the generated client.
    const deploy = await runDbops(['migrate', 'deploy', '--database-url', db.url, '--quiet']);
    expect(deploy.code, deploy.all).toBe(0);
    const seed = await runDbops(['seed', '--database-url', db.url, '--scale', '0.001', '--quiet']);
    expect(seed.code, seed.all).toBe(0);
    const rows = (await queryUrl(db.url, 'SELECT count(*)::int AS n FROM "Currency"')) as Array<{ n: number }>;
    expect(rows[0]?.n).toBeGreaterThan(0);
  });
});
