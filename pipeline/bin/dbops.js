#!/usr/bin/env node
// The package's `bin`: dbops is TypeScript run through tsx, so there is no build step.
import { register } from 'tsx/esm/api';

register();
await import('../cli/index.ts');
