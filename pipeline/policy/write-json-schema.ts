// Regenerates policies/schema/*.json from the zod schemas (`npm run policy-schema`); a test fails when they drift.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { policyJsonSchema, policySchemaFile } from './json-schema.ts';
import { POLICY_FILES, type PolicyName } from './schema.ts';

for (const name of Object.keys(POLICY_FILES) as PolicyName[]) {
  const path = join('policies', 'schema', policySchemaFile(name));
  await writeFile(path, policyJsonSchema(name));
  process.stdout.write(`wrote ${path}\n`);
}
