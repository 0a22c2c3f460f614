import type { LocalMigration } from '../migrations/index.ts';
import {
  coverageActive,
  findAccessStatements,
  findUncoveredTables,
  maybeAccessStatement,
  maybeCreatesTable,
  type AccessContext,
  type AccessHit,
} from './access.ts';
import { findUnmaskedColumns, maybePersonalColumn, type MaskingContext, type MaskingHit } from './masking.ts';
import { altersType, ColumnModel, findDestructive, type Hit, type ParsedStatement } from './destructive.ts';
import type { SourceText } from './text.ts';
import { type Finding } from '../../core/result.ts';

export interface ParseError {
  message: string;
  /** 0-based byte offset, when the parser gave one. */
  offset: number | undefined;
}

export interface FileAnalysis {
  hits: Hit[];
  /** Access statements and tables the access policy does not cover (access.ts). */
  access: AccessHit[];
  /** Columns that look personal and policies/masking.yaml leaves unmasked (masking.ts). */
  masking: MaskingHit[];
  parseError?: ParseError;
}

// Cheap pre-filter: a file without DROP, TRUNCATE or TYPE (CREATE / ALTER TYPE aside) holds no
// destructive statement, so it is not parsed unless the column model needs it. The verdict always comes
// from the AST.
const maybeDestructive = (script: string): boolean =>
  /\b(drop|truncate)\b/i.test(script) || /\btype\b/i.test(script.replace(/\b(create|alter)\s+type\b/gi, ''));

type Lib = typeof import('libpg-query');
type Scanned = Awaited<ReturnType<Lib['scan']>>;

let parsedSinceYield = 0;

async function parseFile(lib: Lib, script: string): Promise<ParsedStatement[] | ParseError> {
  // The parser's promise settles without passing through the event loop, so a long run of parses would
  // keep squawk's output unread; its pipe fills and squawk stalls. Let I/O in every few files.
  if (++parsedSinceYield % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
  try {
    const result = (await lib.parse(script)) as { stmts?: Array<{ stmt: Record<string, any>; stmt_location?: number; stmt_len?: number }> };
    const size = Buffer.byteLength(script, 'utf8');
    return (result.stmts ?? []).map(({ stmt, stmt_location = 0, stmt_len = 0 }) => ({
      stmt,
      location: stmt_location,
      length: stmt_len || size - stmt_location,
    }));
  } catch (e) {
    const details = (e as { sqlDetails?: { message?: string; cursorPosition?: number } }).sqlDetails;
    return { message: details?.message ?? (e as Error).message, offset: details?.cursorPosition };
  }
}

/** The identifier as PostgreSQL reads it: quoted names exactly, unquoted ones folded to lower case. */
const identifier = (token: string) => (token.startsWith('"') ? token.slice(1, -1).replaceAll('""', '"') : token.toLowerCase());

const relationOf = (stmt: Record<string, any>): string | undefined => (Object.values(stmt)[0] as Record<string, any> | undefined)?.['relation']?.relname;

/**
 * The earlier migrations the column model needs: those that name a table whose column type an in-scope
 * file changes. Walking backwards, a table renamed into such a name brings its old name along. The text
 * test is only a pre-filter (a superset: names are compared case-insensitively); what a file does to the
 * model comes from its AST.
 */
async function modelInputs(lib: Lib, upTo: LocalMigration[], parsed: Map<string, ParsedStatement[] | ParseError>): Promise<Map<string, ParsedStatement[]>> {
  const tracked = new Set<string>();
  for (const p of parsed.values()) if (Array.isArray(p)) for (const s of p) if (altersType(s.stmt)) tracked.add(relationOf(s.stmt)!.toLowerCase());
  const inputs = new Map<string, ParsedStatement[]>();
  for (let i = upTo.length - 1; i >= 0; i--) {
    const m = upTo[i]!;
    if (m.script === undefined) continue;
    const lower = m.script.toLowerCase();
    let statements = parsed.get(m.name);
    if (statements === undefined) {
      if (![...tracked].some((t) => lower.includes(t))) continue;
      statements = await parseFile(lib, m.script);
      if (Array.isArray(statements)) inputs.set(m.name, statements);
    }
    if (!Array.isArray(statements)) continue;
    for (const s of statements) {
      const rename = s.stmt['RenameStmt'] as Record<string, any> | undefined;
      if (rename?.['renameType'] === 'OBJECT_TABLE' && tracked.has(String(rename['newname']).toLowerCase()))
        tracked.add(String(rename['relation']?.relname).toLowerCase());
    }
  }
  return inputs;
}

/**
 * Destructive statements and access statements of the in-scope migrations (and, with an access policy
 * that declares roles, the tables they create that it does not cover; with a masking policy, the columns
 * they add that look personal and it leaves unmasked). Earlier migrations are parsed
 * too, but only when an in-scope file changes a column type: narrowing is judged against the type they
 * leave behind.
 */
export async function analyzeMigrations(
  all: LocalMigration[],
  inScope: Set<string>,
  access: AccessContext = { policyFile: 'policies/access.yaml', schema: 'public' },
  masking: MaskingContext = { policyFile: 'policies/masking.yaml', schema: access.schema },
): Promise<Map<string, FileAnalysis>> {
  const out = new Map<string, FileAnalysis>();
  const coverage = coverageActive(access.coverage);
  const personal = masking.policy !== undefined;
  const worthParsing = (script: string) =>
    maybeDestructive(script) || maybeAccessStatement(script) || (coverage && maybeCreatesTable(script)) || (personal && maybePersonalColumn(script));
  const candidates = all.filter((m) => inScope.has(m.name) && m.script !== undefined && worthParsing(m.script));
  if (candidates.length === 0) return out;
  const lib = await import('libpg-query');
  const parsed = new Map<string, ParsedStatement[] | ParseError>();
  for (const m of candidates) parsed.set(m.name, await parseFile(lib, m.script!));
  const needsModel = (name: string) => {
    const p = parsed.get(name);
    return Array.isArray(p) && p.some((s) => altersType(s.stmt));
  };
  const lastNeeding = all.findLastIndex((m) => needsModel(m.name));
  const replay = lastNeeding < 0 ? new Map<string, ParsedStatement[]>() : await modelInputs(lib, all.slice(0, lastNeeding + 1), parsed);
  const model = new ColumnModel();
  for (const m of all) {
    const statements = parsed.get(m.name);
    if (statements === undefined) {
      for (const s of replay.get(m.name) ?? []) model.apply(s.stmt);
      continue;
    }
    if (!Array.isArray(statements)) {
      out.set(m.name, { hits: [], access: [], masking: [], parseError: statements });
      continue;
    }
    let tokens: Scanned | undefined;
    const script = m.script!;
    const locate = (s: ParsedStatement, column: string): number | undefined => {
      tokens ??= lib.scanSync(script);
      const inside = tokens.tokens.filter(
        (t) => t.start >= s.location && t.end <= s.location + s.length && t.tokenName !== 'SQL_COMMENT' && t.tokenName !== 'C_COMMENT',
      );
      for (let k = 0; k < inside.length; k++) {
        if (inside[k]!.text.toUpperCase() !== 'DROP') continue;
        let j = k + 1;
        if (inside[j]?.text.toUpperCase() === 'COLUMN') j++;
        if (inside[j]?.text.toUpperCase() === 'IF' && inside[j + 1]?.text.toUpperCase() === 'EXISTS') j += 2;
        const name = inside[j];
        if (name && identifier(name.text) === column) return inside[k]!.start;
      }
      return undefined;
    };
    out.set(m.name, {
      hits: findDestructive(statements, model, locate),
      access: [...findAccessStatements(statements, script, access), ...findUncoveredTables(statements, access)].sort((a, b) => a.offset - b.offset),
      masking: findUnmaskedColumns(statements, masking),
    });
  }
  return out;
}

export function parseErrorFinding(error: ParseError, file: string, migration: string, source: SourceText): Finding {
  const at = error.offset === undefined ? undefined : source.at(error.offset);
  return {
    rule: 'sql/parse-error',
    severity: 'error',
    message: `PostgreSQL's parser rejects this file: ${error.message}.`,
    file,
    migration,
    ...(at ? { line: at.line, column: at.column } : {}),
    help: 'Fix the SQL; the migration would fail at this point when deployed.',
  };
}
