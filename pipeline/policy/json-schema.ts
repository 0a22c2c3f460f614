import { z } from 'zod';
import { POLICY_FILES, type PolicyName } from './schema.ts';

/** JSON Schema of one policy file (input side: what a person may write), for editor completion. */
export function policyJsonSchema(name: PolicyName): string {
  const schema = z.toJSONSchema(POLICY_FILES[name].schema, { io: 'input', target: 'draft-2020-12' });
  return `${JSON.stringify({ ...schema, title: POLICY_FILES[name].file }, null, 2)}\n`;
}

export const policySchemaFile = (name: PolicyName): string => `${POLICY_FILES[name].file.replace(/\.ya?ml$/, '')}.json`;
