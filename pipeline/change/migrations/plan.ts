import { ConfigError } from '../../core/errors.ts';

/**
 * How one migration file is sent to PostgreSQL.
 * - `atomic`: the whole file as one simple-query message inside one transaction together with its
 *   `_prisma_migrations` row, so a crash or failure can never leave half a migration or a row that lies.
 * - `split`: the file holds statements that cannot run in a transaction block (or manages its own
 *   transactions); it runs as segments: runs of ordinary statements share one implicit transaction, each
 *   non-transactional statement runs alone, and BEGIN…COMMIT written in the file is honoured.
 */
export type ExecutionPlan = { mode: 'atomic' } | { mode: 'split'; segments: Segment[]; reasons: SplitReason[] };

export interface Segment {
  /** Exactly the file's text of these statements (comments and line breaks between them kept). */
  sql: string;
  /** 1-based line in the file where `sql` starts. */
  line: number;
  /** What runs here, for messages: "CREATE INDEX CONCURRENTLY", "3 statements", … */
  label: string;
  /** Index of the segment to restart from after a lock timeout: the segment itself, or the BEGIN of an enclosing explicit transaction. */
  retryFrom: number;
  /** The index a CREATE INDEX CONCURRENTLY statement builds (an invalid leftover must be dropped before a retry). */
  concurrentIndex?: string | undefined;
  concurrent: boolean;
}

export interface SplitReason {
  line: number;
  statement: string;
  why: string;
}

// Cheap pre-filter: a file without any of these words cannot need splitting, so the parser is not even loaded.
const MAYBE_SPECIAL =
  /concurrently|vacuum|database|tablespace|system|add\s+value|begin|commit|start\s+transaction|rollback|\bend\b|abort|subscription|cluster|savepoint/i;

type Node = Record<string, any>;
let parser: Promise<typeof import('libpg-query')> | undefined;

/** Why a statement cannot run inside a transaction block, or undefined when it can. */
function nonTransactional(stmt: Node): string | undefined {
  const [type, node] = Object.entries(stmt)[0] as [string, Node];
  switch (type) {
    case 'IndexStmt':
      return node['concurrent'] ? 'CREATE INDEX CONCURRENTLY' : undefined;
    case 'DropStmt':
      return node['concurrent'] ? 'DROP INDEX CONCURRENTLY' : undefined;
    case 'ReindexStmt':
      if ((node['params'] as Node[] | undefined)?.some((p) => p['DefElem']?.defname === 'concurrently')) return 'REINDEX CONCURRENTLY';
      return node['kind'] === 'REINDEX_OBJECT_DATABASE' || node['kind'] === 'REINDEX_OBJECT_SYSTEM' ? 'REINDEX DATABASE/SYSTEM' : undefined;
    case 'VacuumStmt':
      return node['is_vacuumcmd'] ? 'VACUUM' : undefined;
    case 'CreatedbStmt':
      return 'CREATE DATABASE';
    case 'DropdbStmt':
      return 'DROP DATABASE';
    case 'CreateTableSpaceStmt':
      return 'CREATE TABLESPACE';
    case 'DropTableSpaceStmt':
      return 'DROP TABLESPACE';
    case 'AlterSystemStmt':
      return 'ALTER SYSTEM';
    case 'CreateSubscriptionStmt':
    case 'AlterSubscriptionStmt':
    case 'DropSubscriptionStmt':
      return 'a SUBSCRIPTION command';
    case 'ClusterStmt':
      return node['relation'] ? undefined : 'CLUSTER without a table';
    case 'AlterTableStmt':
      return (node['cmds'] as Node[] | undefined)?.some((c) => c['AlterTableCmd']?.def?.PartitionCmd?.concurrent) ? 'DETACH PARTITION CONCURRENTLY' : undefined;
    default:
      return undefined;
  }
}

/** All string constants in a statement: a later statement that uses a freshly added enum value names it as one. */
function stringConstants(node: unknown, found = new Set<string>()): Set<string> {
  if (Array.isArray(node)) for (const n of node) stringConstants(n, found);
  else if (node && typeof node === 'object') {
    const aConst = (node as Node)['A_Const'];
    if (aConst?.sval?.sval !== undefined) found.add(aConst.sval.sval as string);
    for (const v of Object.values(node)) stringConstants(v, found);
  }
  return found;
}

const LABELS: Record<string, string> = {
  CreateStmt: 'CREATE TABLE',
  AlterTableStmt: 'ALTER TABLE',
  IndexStmt: 'CREATE INDEX',
  DropStmt: 'DROP',
  CreateEnumStmt: 'CREATE TYPE',
  AlterEnumStmt: 'ALTER TYPE … ADD VALUE',
  CreateFunctionStmt: 'CREATE FUNCTION',
  CreateTrigStmt: 'CREATE TRIGGER',
  InsertStmt: 'INSERT',
  UpdateStmt: 'UPDATE',
  DeleteStmt: 'DELETE',
  SelectStmt: 'SELECT',
};
const TRANSACTION_LABELS: Record<string, string> = {
  TRANS_STMT_BEGIN: 'BEGIN',
  TRANS_STMT_START: 'BEGIN',
  TRANS_STMT_COMMIT: 'COMMIT',
  TRANS_STMT_ROLLBACK: 'ROLLBACK',
};

const statementLabel = (stmt: Node): string => {
  const type = Object.keys(stmt)[0] ?? 'statement';
  if (type === 'TransactionStmt') return TRANSACTION_LABELS[stmt[type]?.kind as string] ?? 'transaction control';
  return (
    LABELS[type] ??
    type
      .replace(/Stmt$/, '')
      .replace(/([a-z])([A-Z])/g, '$1 $2')
      .toUpperCase()
  );
};

/** 1-based line of the first character that is neither whitespace nor part of a `--` or block comment. */
function firstCodeLine(text: string, from: number): number {
  let i = from;
  for (;;) {
    while (i < text.length && /\s/.test(text[i]!)) i++;
    if (text.startsWith('--', i)) {
      const nl = text.indexOf('\n', i);
      i = nl === -1 ? text.length : nl + 1;
      continue;
    }
    if (text.startsWith('/*', i)) {
      const end = text.indexOf('*/', i + 2);
      i = end === -1 ? text.length : end + 2;
      continue;
    }
    break;
  }
  return text.slice(0, i).split('\n').length;
}

export interface Parsed {
  stmt: Node;
  /** Byte offsets of the statement in the file (the parser's locations skip leading comments). */
  start: number;
  end: number;
  line: number;
}

export interface ParsedFile {
  bytes: Buffer;
  statements: Parsed[];
}

/**
 * Starts loading PostgreSQL's parser (WebAssembly, ~50 ms) when one of the scripts will need it, so it
 * compiles while a deploy connects and takes its locks instead of when the first plan is made. Only for
 * callers that will plan: a pending load keeps a short command (migrate status) alive until it ends.
 */
export function warmParser(scripts: Iterable<string | undefined>): void {
  for (const script of scripts) {
    if (script === undefined || !MAYBE_SPECIAL.test(script)) continue;
    parser ??= import('libpg-query');
    parser.then((lib) => lib.loadModule()).catch(() => undefined); // a failure shows when the plan needs it
    return;
  }
}

/** The file's statements with byte offsets and 1-based lines, or undefined when the parser rejects it. */
export async function parseStatements(script: string): Promise<ParsedFile | undefined> {
  let result: { stmts?: Array<{ stmt: Node; stmt_location?: number; stmt_len?: number }> };
  try {
    // Loaded on first need: most migration files never reach the parser. The promise is kept because a
    // dynamic import costs ~0.5 ms per call under tsx even when the module is loaded (lint plans 1,000 files).
    const { parse } = await (parser ??= import('libpg-query'));
    result = (await parse(script)) as typeof result;
  } catch {
    return undefined; // not valid SQL for the parser: run it whole and let the server report the error with its position
  }
  // Offsets are in bytes of the UTF-8 text.
  const bytes = Buffer.from(script, 'utf8');
  const statements = (result.stmts ?? []).map(({ stmt, stmt_location = 0, stmt_len }) => {
    const end = stmt_len ? stmt_location + stmt_len : bytes.length;
    const prefix = bytes.subarray(0, stmt_location).toString('utf8');
    return { stmt, start: stmt_location, end, line: firstCodeLine(script, prefix.length) };
  });
  return { bytes, statements };
}

/** Decides how a migration runs; see ExecutionPlan. `file` is only used in error messages. */
export async function planExecution(script: string, file: string): Promise<ExecutionPlan> {
  if (!MAYBE_SPECIAL.test(script)) return { mode: 'atomic' };
  const parsed = await parseStatements(script);
  if (!parsed) return { mode: 'atomic' };
  const { statements, bytes } = parsed;

  const reasons: SplitReason[] = [];
  let explicitTx = false;
  let depth = 0;
  for (const [i, s] of statements.entries()) {
    const why = nonTransactional(s.stmt);
    if (why) reasons.push({ line: s.line, statement: why, why: `${why} cannot run inside a transaction block` });
    const tx = s.stmt['TransactionStmt'] as Node | undefined;
    if (tx) {
      const kind = tx['kind'] as string;
      if (kind === 'TRANS_STMT_BEGIN' || kind === 'TRANS_STMT_START') {
        explicitTx = true;
        depth++;
      }
      if (kind === 'TRANS_STMT_COMMIT' || kind === 'TRANS_STMT_ROLLBACK') depth = Math.max(0, depth - 1);
    }
    const newVal = s.stmt['AlterEnumStmt']?.['newVal'] as string | undefined;
    if (newVal !== undefined && s.stmt['AlterEnumStmt']?.['oldVal'] === undefined) {
      const usedAt = statements.slice(i + 1).find((later) => stringConstants(later.stmt).has(newVal));
      if (usedAt)
        reasons.push({
          line: s.line,
          statement: 'ALTER TYPE … ADD VALUE',
          why: `the new enum value '${newVal}' is used at line ${usedAt.line}, which PostgreSQL allows only after the ALTER TYPE has committed`,
        });
    }
  }
  if (depth > 0) {
    throw new ConfigError(`${file} opens a transaction (BEGIN) that it never commits.`, {
      hint: 'Add the matching COMMIT; or remove BEGIN: dbops already runs every ordinary migration file in one transaction.',
    });
  }
  if (explicitTx) {
    const line = statements.find((s) => s.stmt['TransactionStmt'])?.line ?? 1;
    reasons.push({ line, statement: 'BEGIN/COMMIT', why: 'the file manages its own transactions, so it runs statement by statement as written' });
  }
  if (reasons.length === 0) return { mode: 'atomic' };
  const segments = explicitTx ? oneByOne(statements, bytes) : grouped(statements, bytes);
  return { mode: 'split', segments, reasons: reasons.sort((a, b) => a.line - b.line) };
}

/** Files with their own BEGIN/COMMIT: every statement is its own message; a retry restarts at the enclosing BEGIN. */
function oneByOne(statements: Parsed[], bytes: Buffer): Segment[] {
  let txStart = -1;
  return statements.map((s, i) => {
    const kind = s.stmt['TransactionStmt']?.['kind'] as string | undefined;
    if (kind === 'TRANS_STMT_BEGIN' || kind === 'TRANS_STMT_START') txStart = i;
    const segment = toSegment([s], txStart >= 0 ? txStart : i, bytes);
    if (kind === 'TRANS_STMT_COMMIT' || kind === 'TRANS_STMT_ROLLBACK') txStart = -1;
    return segment;
  });
}

/** Runs of ordinary statements stay together (one implicit transaction each); special statements stand alone. */
function grouped(statements: Parsed[], bytes: Buffer): Segment[] {
  const segments: Segment[] = [];
  let run: Parsed[] = [];
  const flush = () => {
    if (run.length > 0) {
      segments.push(toSegment(run, segments.length, bytes));
      run = [];
    }
  };
  for (const [i, s] of statements.entries()) {
    if (nonTransactional(s.stmt)) {
      flush();
      segments.push(toSegment([s], segments.length, bytes));
      continue;
    }
    run.push(s);
    const newVal = s.stmt['AlterEnumStmt']?.['newVal'] as string | undefined;
    if (newVal !== undefined && statements.slice(i + 1).some((later) => stringConstants(later.stmt).has(newVal))) flush();
  }
  flush();
  return segments;
}

/** The file's own text from the first statement of the run to the end of the last one. */
function toSegment(run: Parsed[], retryFrom: number, bytes: Buffer): Segment {
  const first = run[0]!;
  const index = first.stmt['IndexStmt'] as Node | undefined;
  const special = nonTransactional(first.stmt);
  return {
    sql: bytes.subarray(first.start, run.at(-1)!.end).toString('utf8'),
    line: first.line,
    label: run.length > 1 ? `${run.length} statements` : (special ?? statementLabel(first.stmt)),
    retryFrom,
    concurrent: special !== undefined && /CONCURRENTLY/.test(special),
    concurrentIndex: index?.['concurrent'] ? (index['idxname'] as string | undefined) : undefined,
  };
}
