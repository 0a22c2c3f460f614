#!/usr/bin/env node
// The package's `bin`. dbops is TypeScript with no build step to remember: the first run compiles the
// sources into a cached bundle (bundle.js), later runs start from it, and the sources run through tsx
// when no bundle can be built.
import { bundleEntry } from './bundle.js';

const entry = await bundleEntry();
if (entry) await import(entry);
else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../cli/index.ts');
}
