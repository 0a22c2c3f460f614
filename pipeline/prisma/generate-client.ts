/**
 * Generates the Prisma Client into pipeline/generated/prisma (git-ignored), offline, and skips the work
 * when neither the schema nor the Prisma version changed since the last run. Runs before the type check
 * (`npm run generate`), so a fresh clone needs no postinstall hook (`npm ci` runs none here).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { PACKAGE_ROOT, packageRequire } from '../core/package.ts';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = PACKAGE_ROOT;
const SCHEMA = join(ROOT, 'prisma', 'schema.prisma');
/** Must match the generator's `output` in schema.prisma. */
export const CLIENT_DIR = join(ROOT, 'pipeline', 'generated', 'prisma');
// Outside CLIENT_DIR because `prisma generate` empties its output folder.
const STAMP = join(ROOT, 'pipeline', 'generated', 'prisma.stamp');
// Bump when the way we invoke the generator changes, so existing outputs are regenerated.
const RECIPE = 1;

const require = packageRequire;
const versionOf = (pkg: string) => (require(`${pkg}/package.json`) as { version: string }).version;

function fingerprint(): string {
  return createHash('sha256')
    .update(JSON.stringify({ recipe: RECIPE, prisma: versionOf('prisma'), client: versionOf('@prisma/client'), node: process.versions.modules }))
    .update(readFileSync(SCHEMA))
    .digest('hex');
}

export interface GenerateResult {
  generated: boolean;
  durationMs: number;
}

export function generateClient(env: NodeJS.ProcessEnv = process.env): GenerateResult {
  const started = performance.now();
  const hash = fingerprint();
  const upToDate = existsSync(join(CLIENT_DIR, 'client.ts')) && existsSync(STAMP) && readFileSync(STAMP, 'utf8').trim() === hash;
  if (upToDate) return { generated: false, durationMs: performance.now() - started };

  const cli = join(dirname(require.resolve('prisma/package.json')), 'build', 'index.js');
  const engine = env['PRISMA_SCHEMA_ENGINE_BINARY'];
  const child = spawnSync(process.execPath, [cli, 'generate', '--schema', relative(ROOT, SCHEMA)], {
    cwd: ROOT,
    encoding: 'utf8',
    env: {
      ...env,
      // `generate` only checks that the schema engine binary exists and never runs it; the real one
      // cannot be downloaded here, so any existing file satisfies the check.
      PRISMA_SCHEMA_ENGINE_BINARY: engine && existsSync(engine) ? engine : process.execPath,
      PRISMA_ENGINES_CHECKSUM_IGNORE_MISSING: '1',
      // No network: no update notice, no telemetry ping.
      PRISMA_HIDE_UPDATE_MESSAGE: '1',
      CHECKPOINT_DISABLE: '1',
    },
  });
  if (child.status !== 0) {
    throw new Error(`prisma generate failed (exit ${child.status ?? child.signal}):\n${child.stdout}${child.stderr}`);
  }
  writeFileSync(STAMP, `${hash}\n`);
  return { generated: true, durationMs: performance.now() - started };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    const { generated, durationMs } = generateClient();
    const where = relative(process.cwd(), CLIENT_DIR) || '.';
    process.stderr.write(generated ? `Generated Prisma Client in ${where} (${Math.round(durationMs)} ms)\n` : `Prisma Client in ${where} is up to date\n`);
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  }
}
