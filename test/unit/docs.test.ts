// The documentation cannot fall behind silently: every command and flag of the registry, every policy key of
// policies/schema/*.json, every local link and every page of docs/ is checked against README.md and docs/.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const README = 'README.md';
const POLICIES_PAGE = 'docs/policies.md';

/** README.md and every Markdown file under docs/, as repository-relative paths with `/`. */
function docPages(): string[] {
  const pages = [README];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.md')) pages.push(path);
    }
  };
  if (existsSync(join(ROOT, 'docs'))) walk('docs');
  return pages.sort();
}

const read = (page: string): string => readFileSync(join(ROOT, page), 'utf8');
const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const kebab = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
/** Text with line breaks and runs of spaces as single spaces, so a wrapped mention still counts. */
const flat = (text: string): string => text.replace(/\s+/g, ' ');

/** Markdown without fenced code blocks (links inside them are not links, `#` lines not headings). */
const withoutFences = (text: string): string => text.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');

/** GitHub's anchor of a heading: lower case, punctuation dropped, each space a hyphen. */
function slug(heading: string): string {
  const text = heading.replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1');
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
    .replace(/ /g, '-');
}

/** The anchors of a page's headings, numbered as GitHub numbers repeated ones (`-1`, `-2`, …). */
function anchors(page: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const line of withoutFences(read(page)).split('\n')) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m?.[1]) continue;
    const base = slug(m[1]);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

interface Link {
  page: string;
  target: string;
}

/** Every link target of a page outside code: inline links and images, and reference definitions. */
function links(page: string): Link[] {
  const text = withoutFences(read(page)).replace(/`[^`\n]*`/g, '``');
  const out: Link[] = [];
  for (const m of text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) if (m[1]) out.push({ page, target: m[1] });
  for (const m of text.matchAll(/^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/gm)) if (m[1]) out.push({ page, target: m[1] });
  return out;
}

const isExternal = (target: string): boolean => /^[a-z][a-z0-9+.-]*:/i.test(target);

/** Where a local link points: the repository-relative file (or folder) and the anchor, if any. */
function resolveLink(link: Link): { path: string; anchor: string | undefined } {
  const hash = link.target.indexOf('#');
  const file = hash === -1 ? link.target : link.target.slice(0, hash);
  const anchor = hash === -1 ? undefined : decodeURIComponent(link.target.slice(hash + 1));
  const absolute = file === '' ? join(ROOT, link.page) : resolve(ROOT, dirname(link.page), decodeURIComponent(file));
  return { path: relative(ROOT, absolute).split(sep).join('/'), anchor };
}

/** The page a command's flags belong on: the command page (docs/commands/, not its index) that names it most. */
function home(naming: { page: string; text: string }[], mention: RegExp): string {
  const count = (text: string): number => text.split(new RegExp(mention.source, 'g')).length - 1;
  const candidates = naming.filter((p) => p.page.startsWith('docs/commands/') && p.page !== 'docs/commands/README.md');
  const best = [...(candidates.length > 0 ? candidates : naming)].sort((a, b) => count(b.text) - count(a.text))[0];
  return best?.page ?? 'its page under docs/commands/';
}

describe('documentation', () => {
  it('documents every command of the registry, and every flag on a page that names the command', async () => {
    const { loadSpecs } = await import('../../pipeline/cli/registry.ts');
    const specs = await loadSpecs();
    const pages = docPages().map((page) => ({ page, text: flat(read(page)) }));
    const problems: string[] = [];
    for (const spec of specs) {
      const command = `dbops ${spec.path.join(' ')}`;
      const mention = new RegExp(`(?<![\\w-])${escape(command)}(?![\\w-])`);
      const naming = pages.filter((p) => mention.test(p.text));
      if (naming.length === 0) {
        problems.push(`\`${command}\` is documented nowhere: describe it on its page under docs/commands/ (and list it in docs/commands/README.md)`);
        continue;
      }
      for (const key of Object.keys(spec.inputs.shape)) {
        if (key === 'args') continue;
        const flag = `--${kebab(key)}`;
        const used = new RegExp(`(?<![\\w-])${escape(flag)}(?![\\w-])`);
        if (!naming.some((p) => used.test(p.text))) {
          problems.push(`\`${command} ${flag}\` is not documented: add it to the flags table of ${home(naming, mention)}`);
        }
      }
    }
    expect(specs.length).toBeGreaterThan(0);
    expect(problems, problems.join('\n')).toEqual([]);
  });

  it('documents every policy key of policies/schema/*.json in docs/policies.md, and only those', () => {
    const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
    /** Every named property of a JSON Schema, with its dotted path; keys of free-form maps have no name and are skipped. */
    function properties(root: Record<string, unknown>): string[] {
      const out: string[] = [];
      const resolving = new Set<string>();
      const walk = (node: unknown, path: string): void => {
        if (Array.isArray(node)) return node.forEach((n) => walk(n, path));
        if (!isObject(node)) return;
        const ref = node['$ref'];
        if (typeof ref === 'string' && ref.startsWith('#/') && !resolving.has(ref)) {
          resolving.add(ref);
          walk(
            ref
              .slice(2)
              .split('/')
              .reduce<unknown>((n, part) => (isObject(n) ? n[part.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined), root),
            path,
          );
          resolving.delete(ref);
        }
        const props = node['properties'];
        if (isObject(props)) {
          for (const [key, value] of Object.entries(props)) {
            const at = path ? `${path}.${key}` : key;
            out.push(at);
            walk(value, at);
          }
        }
        walk(node['items'], `${path}[]`);
        walk(node['prefixItems'], `${path}[]`);
        walk(node['additionalProperties'], `${path}.<name>`);
        if (isObject(node['patternProperties'])) walk(Object.values(node['patternProperties']), `${path}.<name>`);
        for (const combinator of ['anyOf', 'oneOf', 'allOf', 'then', 'else']) walk(node[combinator], path);
      };
      walk(root, '');
      return [...new Set(out)];
    }

    const schemaDir = join(ROOT, 'policies', 'schema');
    const files = readdirSync(schemaDir)
      .filter((f) => f.endsWith('.json'))
      .sort();
    expect(files.length).toBeGreaterThan(0);
    const page = read(POLICIES_PAGE);
    // The words of the page's code (spans and blocks): a key counts when it is written as code.
    const code = [...page.matchAll(/```[\s\S]*?```|`[^`\n]+`/g)].map((m) => m[0]).join('\n');
    const documented = new Set(code.split(/[^A-Za-z0-9_]+/).filter(Boolean));
    const problems: string[] = [];
    const known = new Set<string>();
    for (const file of files) {
      const schema: unknown = JSON.parse(readFileSync(join(schemaDir, file), 'utf8'));
      if (!isObject(schema)) throw new Error(`policies/schema/${file} is not a JSON Schema object`);
      const policy = `policies/${file.replace(/\.json$/, '.yaml')}`;
      for (const path of properties(schema)) {
        const key = path.slice(path.lastIndexOf('.') + 1).replace(/\[\]$/, '');
        known.add(key);
        if (!documented.has(key))
          problems.push(
            `${policy}: the key \`${path}\` (policies/schema/${file}) is not documented: add \`${key}\` to the ${policy} table of ${POLICIES_PAGE}`,
          );
      }
    }
    // The other way round: the first column of each `| key | …` table names only keys that exist.
    let inTable = false;
    for (const line of page.split('\n')) {
      if (/^\|\s*key\s*\|/.test(line)) {
        inTable = true;
        continue;
      }
      if (!line.startsWith('|')) {
        inTable = false;
        continue;
      }
      if (!inTable || /^\|[\s|:-]+\|?\s*$/.test(line)) continue;
      const cell = line.split('|')[1] ?? '';
      const spans = [...cell.matchAll(/`([^`]+)`/g)].map((m) => (m[1] ?? '').replace(/<[^>]*>/g, ' '));
      for (const word of spans
        .join(' ')
        .split(/[^A-Za-z0-9_]+/)
        .filter(Boolean)) {
        if (!known.has(word))
          problems.push(`${POLICIES_PAGE} documents \`${word}\` (row: ${cell.trim()}), which no schema in policies/schema/ has: remove or rename the row`);
      }
    }
    expect(problems, problems.join('\n')).toEqual([]);
  });

  it('links only to files and headings that exist', () => {
    const problems: string[] = [];
    for (const page of docPages()) {
      for (const link of links(page)) {
        if (isExternal(link.target)) continue;
        const { path, anchor } = resolveLink(link);
        if (path.startsWith('..') || !existsSync(join(ROOT, path))) {
          problems.push(`${page}: the link to ${link.target} points to ${path}, which does not exist`);
          continue;
        }
        if (anchor && path.endsWith('.md') && !anchors(path).has(anchor)) {
          problems.push(`${page}: the link to ${link.target} names #${anchor}, which is no heading of ${path}`);
        }
      }
    }
    expect(problems, problems.join('\n')).toEqual([]);
  });

  it('reaches every page of docs/ from the README: linked from README.md or from a page it links to', () => {
    const pages = docPages();
    const linkedFrom = (page: string): string[] =>
      links(page)
        .filter((l) => !isExternal(l.target))
        .map((l) => resolveLink(l).path)
        .filter((p) => p.endsWith('.md') && existsSync(join(ROOT, p)));
    const direct = new Set(linkedFrom(README));
    const reached = new Set([README, ...direct]);
    for (const page of direct) for (const p of linkedFrom(page)) reached.add(p);
    const unreached = pages.filter((p) => !reached.has(p));
    expect(
      unreached,
      unreached
        .map((p) => `${p} is not reachable from README.md: add it to the documentation map in README.md, or link it from a page the map links to`)
        .join('\n'),
    ).toEqual([]);
  });
});
