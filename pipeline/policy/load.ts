import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { ConfigError } from '../core/errors.ts';
import { POLICY_FILES, type Policies, type PolicyName } from './schema.ts';
import { noun } from '../core/format.ts';

export interface LoadedPolicy<K extends PolicyName> {
  name: K;
  value: Policies[K];
  /** The file it came from, or undefined when the file is absent and the defaults apply. */
  path: string | undefined;
}

interface Problem {
  path: string;
  line?: number | undefined;
  key: string;
  message: string;
}

const format = (p: Problem) => `${p.path}${p.line ? `:${p.line}` : ''}: ${p.key}: ${p.message}`;

async function loadOne<K extends PolicyName>(dir: string, name: K, problems: Problem[]): Promise<LoadedPolicy<K> | undefined> {
  const { file, schema } = POLICY_FILES[name];
  const path = join(dir, file);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      return { name, value: schema.parse({ version: 1 }) as Policies[K], path: undefined };
    }
    problems.push({ path, key: '<file>', message: (e as Error).message });
    return undefined;
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    for (const err of doc.errors)
      problems.push({ path, line: lines.linePos(err.pos[0]).line, key: '<yaml>', message: err.message.split('\n')[0] ?? err.message });
    return undefined;
  }
  const parsed = schema.safeParse(doc.toJS() ?? {});
  if (parsed.success) return { name, value: parsed.data as Policies[K], path };
  for (const issue of parsed.error.issues) {
    // Unknown keys are reported on the parent object; point at the offending key itself.
    const keys = issue.code === 'unrecognized_keys' ? issue.keys.map((k) => [...issue.path, k]) : [issue.path];
    for (const keyPath of keys) {
      const node = findNode(doc, keyPath);
      problems.push({
        path,
        line: node === undefined ? undefined : lines.linePos(node).line,
        key: keyPath.map(String).join('.') || '<root>',
        message: issue.code === 'unrecognized_keys' ? 'unknown key (misspelt?)' : issue.message,
      });
    }
  }
  return undefined;
}

/** Offset of the YAML key a zod issue path points at, or of its nearest ancestor that exists. */
function findNode(doc: ReturnType<typeof parseDocument>, keyPath: PropertyKey[]): number | undefined {
  type Collection = { items?: Array<{ key?: { value?: unknown; range?: [number] } }>; range?: [number] } | null | undefined;
  for (let n = keyPath.length; n > 0; n--) {
    const parent = (n === 1 ? doc.contents : doc.getIn(keyPath.slice(0, n - 1) as Array<string | number>, true)) as Collection;
    const pair = parent?.items?.find((item) => item.key?.value === keyPath[n - 1]);
    if (pair?.key?.range) return pair.key.range[0];
  }
  return (doc.contents as Collection)?.range?.[0];
}

/**
 * Loads the named policy files from `dir`, validating each against its schema. Every problem of every
 * file is collected and thrown once (exit 2), each line naming file, line and key. A missing file means
 * the documented defaults.
 */
export async function loadPolicies<K extends PolicyName>(dir: string, names: readonly K[]): Promise<{ [P in K]: LoadedPolicy<P> }> {
  const problems: Problem[] = [];
  const loaded = await Promise.all(names.map((name) => loadOne(dir, name, problems)));
  if (problems.length > 0) {
    throw new ConfigError(`Invalid policy (${problems.length} ${noun(problems.length, 'problem')}):\n${problems.map((p) => `  - ${format(p)}`).join('\n')}`, {
      hint: `Fix the keys above; the JSON Schemas in ${join(dir, 'schema')}/ give editors completion and validation.`,
    });
  }
  return Object.fromEntries(loaded.map((l) => [l!.name, l])) as { [P in K]: LoadedPolicy<P> };
}
