// The layout's import rules (.dependency-cruiser.cjs: no cycle, type-only and dynamic imports included;
// commands → domains → infra → core; a domain through another's index.ts; report/ never imported by a
// domain; only infra/github talks to GitHub), checked by dependency-cruiser over pipeline/.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.ts';

const run = promisify(execFile);

describe('layers', () => {
  it('pipeline/ has no import cycle and breaks no layer rule', async () => {
    const out = await run(
      process.execPath,
      ['node_modules/dependency-cruiser/bin/dependency-cruise.mjs', 'pipeline', '--config', '.dependency-cruiser.cjs', '--output-type', 'err'],
      { cwd: ROOT },
    ).then(
      (r) => ({ code: 0, text: r.stdout + r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, text: e.stdout + e.stderr }),
    );
    // On failure the message lists each offending import (rule, from → to).
    expect(out.text, out.text).toContain('no dependency violations found');
    expect(out.code).toBe(0);
  }, 60_000);

  it('the rules catch what they are for: a command importing another, a domain reaching into another, a cycle', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dbops-layers-'));
    try {
      const files: Record<string, string> = {
        'tsconfig.json': JSON.stringify({
          compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', allowImportingTsExtensions: true, noEmit: true },
        }),
        'pipeline/commands/a/run.ts': "import { b } from '../b/run.ts';\nexport const a = b;\n",
        'pipeline/commands/b/run.ts': 'export const b = 1;\n',
        'pipeline/change/x/one.ts': "import { two } from '../y/two.ts';\nexport const one = two;\n",
        'pipeline/change/y/two.ts': "import type { three } from './three.ts';\nexport const two = 2 as unknown as typeof three;\n",
        'pipeline/change/y/three.ts': "export const three = 3;\nexport const again = () => import('./two.ts');\n",
      };
      for (const [path, text] of Object.entries(files)) {
        await mkdir(dirname(join(dir, path)), { recursive: true });
        await writeFile(join(dir, path), text);
      }
      const out = await run(
        process.execPath,
        [
          join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs'),
          'pipeline',
          '--config',
          join(ROOT, '.dependency-cruiser.cjs'),
          '--output-type',
          'err',
        ],
        { cwd: dir },
      ).then(
        (r) => r.stdout + r.stderr,
        (e: { stdout: string; stderr: string }) => e.stdout + e.stderr,
      );
      expect(out).toMatch(/commands-never-import-commands: pipeline\/commands\/a\/run\.ts → pipeline\/commands\/b\/run\.ts/);
      expect(out).toMatch(/domain-through-index: pipeline\/change\/x\/one\.ts → pipeline\/change\/y\/two\.ts/);
      // A type-only import one way and a dynamic import back still make a cycle.
      expect(out).toMatch(/no-circular: pipeline\/change\/y\/(two|three)\.ts/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
