import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * Where dbops is installed. Code runs from its sources (pipeline/…, through tsx) or from the bundle the
 * launcher builds into node_modules/.cache/dbops/… (pipeline/bin/bundle.js), so "two folders up" is not a
 * place: the package is the nearest folder upwards whose package.json is dbops's.
 */
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'dbops') return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`dbops cannot find its own package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

export const PACKAGE_ROOT = findRoot();

export const PACKAGE = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { name: string; version: string; description: string };

/** A file of the package (seed sources, schema.prisma, generated code). */
export const packagePath = (...parts: string[]): string => join(PACKAGE_ROOT, ...parts);

/** `require` resolving from the package, wherever the running code lies (zx, pino-pretty, squawk's binary). */
export const packageRequire = createRequire(join(PACKAGE_ROOT, 'package.json'));

let typescriptLoader: Promise<unknown> | undefined;

/**
 * Imports a TypeScript module written at run time (the Prisma Client generated into pipeline/generated):
 * the bundle could not contain it. Running from the sources, tsx already loads TypeScript; running from
 * the bundle, tsx's loader is registered the first time one is needed.
 */
export async function importTypeScript<T>(file: string): Promise<T> {
  if (!import.meta.url.endsWith('.ts')) typescriptLoader ??= import('tsx/esm/api').then(({ register }) => register());
  await typescriptLoader;
  return (await import(pathToFileURL(file).href)) as T;
}
