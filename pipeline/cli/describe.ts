import { z } from 'zod';
import type { CommandInfo, CommandSummary, OptionSummary } from './contract.ts';
import { REGISTRY } from './registry.ts';

/**
 * What the CLI needs to know about a command before running it (its flags, help and report), taken from
 * its zod spec: the spec is the single description of a command's inputs. Plain data, so the bundle can
 * carry it precomputed (pipeline/bin/bundle.js writes commands.json) and `--help` never loads zod.
 */

export const kebab = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  while (s instanceof z.ZodDefault || s instanceof z.ZodOptional || s instanceof z.ZodPrefault) s = s.unwrap() as z.ZodType;
  return s;
}

/** One --flag per schema key (`args` is the positional rest); the default shown is the schema's own. */
export function describeCommand(spec: CommandInfo): CommandSummary {
  const options: OptionSummary[] = [];
  for (const [key, field] of Object.entries(spec.inputs.shape) as Array<[string, z.ZodType]>) {
    if (key === 'args') continue;
    const isBool = unwrap(field) instanceof z.ZodBoolean;
    const fallback = field.safeParse(undefined);
    options.push({
      key,
      flags: isBool ? `--${kebab(key)}` : `--${kebab(key)} <value>`,
      description: field.description ?? '',
      ...(!isBool && fallback.success && fallback.data !== undefined ? { default: fallback.data } : {}),
    });
  }
  const { path, summary, description, examples, rest, report, reportsDirUse } = spec;
  return {
    path,
    summary,
    ...(description ? { description } : {}),
    examples,
    ...(rest ? { rest } : {}),
    ...(report ? { report } : {}),
    ...(reportsDirUse ? { reportsDirUse } : {}),
    options,
  };
}

/** Every command of the registry, in help order; a spec whose path is not its registry entry's is a bug. */
export async function describeCommands(): Promise<CommandSummary[]> {
  return Promise.all(
    REGISTRY.map(async (entry) => {
      const spec = await entry.spec();
      if (spec.path.join(' ') !== entry.path.join(' ')) throw new Error(`the spec of \`${entry.path.join(' ')}\` declares the path \`${spec.path.join(' ')}\``);
      return describeCommand(spec);
    }),
  );
}
