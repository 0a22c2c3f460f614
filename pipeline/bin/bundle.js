// The bundle the package's bin runs: dbops's TypeScript sources compiled by esbuild into plain JavaScript,
// built on the first run and whenever a source changes, cached in node_modules/.cache/dbops (outside the
// sources, inside the package so the bundle resolves dbops's dependencies as the sources do). Plain
// JavaScript because it decides whether TypeScript is needed at all: starting through tsx costs ~0.5 s,
// the bundle ~0.1 s.
//
// Crash safety: a build is written to its own folder, then `current.json` is replaced atomically to point
// at it, so a kill -9 mid-build leaves the previous bundle in use, and two processes building at once
// both finish with a complete bundle.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CACHE = join(ROOT, 'node_modules', '.cache', 'dbops');
const MANIFEST = join(CACHE, 'current.json');
/** Bump when the build options change, so existing bundles are rebuilt. */
const RECIPE = 2;
/** Build folders older than this, other than the current one, are removed (a running dbops may still read one). */
const KEEP_OLD_MS = 60 * 60 * 1000;

/** The manifest of the current bundle when it still matches every source it was built from, else null. */
export function freshBundle() {
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(MANIFEST, 'utf8'));
  } catch {
    return null;
  }
  if (manifest.recipe !== RECIPE || manifest.node !== process.versions.node) return null;
  // Every file the bundle holds (its sources and the inlined packages), by size and modification time: a
  // few hundred stat calls, a few ms. A new file only matters once an existing one imports it, and that
  // edit changes the importing file.
  for (const [file, [size, mtimeMs]] of Object.entries(manifest.inputs)) {
    const now = statSync(join(ROOT, file), { throwIfNoEntry: false });
    if (!now || now.size !== size || now.mtimeMs !== mtimeMs) return null;
  }
  return manifest;
}

/** Builds the bundle from pipeline/cli/index.ts and makes it the current one; returns its manifest. */
export async function buildBundle() {
  const { build } = await import('esbuild');
  mkdirSync(CACHE, { recursive: true });
  const dir = `build-${Date.now()}-${process.pid}`;
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: ['pipeline/cli/index.ts', 'pipeline/cli/describe.ts'],
    outdir: join(CACHE, dir),
    bundle: true,
    // Commands load their code on demand (cli/registry.ts): chunks keep that laziness in the bundle.
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: `node${process.versions.node.split('.')[0]}`,
    // Dependencies stay in node_modules, loaded by Node exactly as from the sources, except the pure
    // JavaScript ones every command loads: one file instead of a hundred (zod alone has ~100) starts faster.
    external: external(),
    sourcemap: 'linked',
    metafile: true,
    logLevel: 'silent',
    // The inlined CommonJS packages call require() for Node's own modules: give each ES module chunk one.
    banner: { js: "import { createRequire as __dbopsRequire } from 'node:module'; const require = __dbopsRequire(import.meta.url);" },
  });
  // The commands as help and parsing see them (cli/catalog.ts reads this file, CATALOG_FILE there), computed
  // once here so that `dbops --help` and the parsing of every command load no zod.
  const { describeCommands } = await import(pathToFileURL(join(CACHE, dir, 'describe.js')).href);
  writeFileSync(join(CACHE, dir, 'commands.json'), JSON.stringify(await describeCommands()));
  const inputs = {};
  // The sources, and what decides how they are built: this file and package.json (what stays external).
  for (const file of [...Object.keys(result.metafile.inputs), 'pipeline/bin/bundle.js', 'package.json']) {
    const s = statSync(join(ROOT, file));
    inputs[file] = [s.size, s.mtimeMs];
  }
  const manifest = { recipe: RECIPE, node: process.versions.node, dir, entry: 'index.js', builtAt: new Date().toISOString(), inputs };
  const temp = `${MANIFEST}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify(manifest));
  renameSync(temp, MANIFEST);
  sweep(dir);
  return manifest;
}

/** Packages bundled into dbops's own code: pure JavaScript, no files of their own read at run time. */
const INLINED = new Set(['zod', 'yaml', 'commander', 'fastest-levenshtein', 'pg-connection-string']);

function external() {
  const { dependencies } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  return Object.keys(dependencies)
    .filter((name) => !INLINED.has(name))
    .flatMap((name) => [name, `${name}/*`]);
}

function sweep(current) {
  for (const entry of readdirSync(CACHE)) {
    if (entry === current || !entry.startsWith('build-')) continue;
    const path = join(CACHE, entry);
    const s = statSync(path, { throwIfNoEntry: false });
    if (s && Date.now() - s.mtimeMs > KEEP_OLD_MS) rmSync(path, { recursive: true, force: true });
  }
}

/**
 * The URL of the bundle's entry, built if needed; null when the bundle cannot be had (esbuild missing, a
 * read-only installation, DBOPS_FROM_SOURCES=1), and the caller runs the sources through tsx instead.
 */
export async function bundleEntry(env = process.env) {
  if (env.DBOPS_FROM_SOURCES === '1') return null;
  let manifest = freshBundle();
  if (!manifest) {
    try {
      manifest = await buildBundle();
    } catch (e) {
      if (env.DBOPS_LOG_LEVEL === 'debug' || env.DBOPS_LOG_LEVEL === 'trace')
        process.stderr.write(`dbops: running from the sources, the bundle could not be built in ${relative(process.cwd(), CACHE) || CACHE}: ${e.message}\n`);
      return null;
    }
  }
  return pathToFileURL(join(CACHE, manifest.dir, manifest.entry)).href;
}
