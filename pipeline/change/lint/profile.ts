import type { LintPolicy } from '../../policy/lint.ts';
import { MALFORMED_RULES } from '../migrations/index.ts';
import { type Severity } from '../../core/result.ts';

export type Level = Severity | 'off';

/** What decides a squawk finding's level besides its rule. */
export interface FileContext {
  kind: 'migration' | 'rollback';
  mode: 'atomic' | 'split' | null;
  /** Steps the executor runs a split file in (1 for atomic files). */
  steps: number;
}

interface Entry {
  level: Level;
  /** Why the profile chose this level; shown as part of the help when the rule fires. */
  note?: string;
  /** Level in split files that run in more than one step (no single transaction to undo a failure). */
  multiStep?: Level;
}

const TIMEOUTS =
  '`dbops migrate deploy` sets lock_timeout and statement_timeout itself around every migration (executor.lock_timeout / executor.statement_timeout in policies/migrations.yaml, with retries on lock timeouts), so the prisma profile turns this rule off.';
const TYPES =
  'A column-type preference rather than a lock or data risk; the prisma profile turns it off because Prisma emits these types from the schema (change the type in schema.prisma if you want another).';
const REPLACED = (id: string) =>
  `dbops reports this as ${id} (an error unless the pull request carries an allow label), so the prisma profile turns squawk's rule off.`;

/**
 * The `prisma` profile: levels for squawk's rules on Prisma-generated SQL run by the dbops executor.
 * Files the executor runs atomically are linted with --assume-in-transaction, which already silences
 * what Prisma output trips on for tables created in the same file (indexes and foreign keys on a new,
 * empty table). What remains are locks and rewrites on existing tables, statements that fail at run
 * time, and data loss. Unknown (newer) squawk rules are warnings.
 */
export const PRISMA_PROFILE: Record<string, Entry> = {
  // Fails at run time or corrupts the run.
  'syntax-error': { level: 'error' },
  'ban-drop-database': { level: 'error' },
  'ban-concurrent-index-creation-in-transaction': {
    level: 'error',
    note: 'CONCURRENTLY inside BEGIN … COMMIT fails at run time; dbops runs a CONCURRENTLY statement on its own when the file has no explicit transaction.',
  },
  'ban-uncommitted-transaction': { level: 'error' },
  'transaction-nesting': { level: 'error', note: 'dbops already runs an ordinary migration file in one transaction; a stray COMMIT or BEGIN breaks that.' },
  'adding-required-field': {
    level: 'error',
    note: 'A NOT NULL column without a default cannot be added to a table that has rows: the migration fails in production even if it passed on an empty development database.',
  },
  'ban-duplicate-column-assignments': { level: 'error' },
  // Locks and rewrites on existing tables.
  'adding-field-with-default': { level: 'warning' },
  'adding-foreign-key-constraint': { level: 'warning' },
  'adding-not-nullable-field': { level: 'warning' },
  'adding-serial-primary-key-field': { level: 'warning' },
  'changing-column-type': { level: 'warning' },
  'constraint-missing-not-valid': { level: 'warning' },
  'disallowed-unique-constraint': { level: 'warning' },
  'require-concurrent-index-creation': {
    level: 'warning',
    note: 'dbops runs a CREATE INDEX CONCURRENTLY statement outside the transaction by itself; write it in the file (Prisma generates the plain form).',
  },
  'require-concurrent-index-deletion': { level: 'warning' },
  'require-concurrent-reindex': { level: 'warning' },
  'require-concurrent-partition-detach': { level: 'warning' },
  'prefer-repack': { level: 'warning' },
  // Breaks the application version still running during the deploy.
  'renaming-column': { level: 'warning' },
  'renaming-table': { level: 'warning' },
  'ban-drop-not-null': { level: 'warning' },
  'ban-alter-domain-with-add-constraint': { level: 'warning' },
  'ban-create-domain-with-constraint': { level: 'warning' },
  'identifier-too-long': {
    level: 'warning',
    note: 'PostgreSQL truncates identifiers to 63 bytes, so the object gets another name than the one Prisma expects.',
  },
  // Worth knowing, never blocking.
  'require-enum-value-ordering': { level: 'notice', note: 'Prisma always appends enum values; ordering only matters where the enum is sorted or compared.' },
  'unused-ignore': { level: 'notice' },
  // Noise for Prisma output run by dbops.
  'prefer-robust-stmts': {
    level: 'off',
    multiStep: 'warning',
    note: 'dbops runs an ordinary migration file in one transaction, so a failure leaves nothing to re-run around and the prisma profile turns this rule off there. This file runs in several steps (see the plan in `dbops migrate deploy`), so a failure after the first step leaves earlier steps committed: make them re-runnable.',
  },
  'require-lock-timeout': { level: 'off', note: TIMEOUTS },
  'require-statement-timeout': { level: 'off', note: TIMEOUTS },
  'prefer-bigint-over-int': { level: 'off', note: TYPES },
  'prefer-bigint-over-smallint': { level: 'off', note: TYPES },
  'prefer-identity': { level: 'off', note: TYPES },
  'prefer-text-field': { level: 'off', note: TYPES },
  'prefer-timestamp-tz': { level: 'off', note: TYPES },
  'prefer-timestamptz': { level: 'off', note: TYPES },
  'ban-char-field': { level: 'off', note: TYPES },
  'ban-drop-column': { level: 'off', note: REPLACED('destructive/drop-column') },
  'ban-drop-table': { level: 'off', note: REPLACED('destructive/drop-table') },
  'ban-truncate-cascade': { level: 'off', note: REPLACED('destructive/truncate') },
};

/** Default levels of the dbops rules (the policy's lint.rules overrides them like squawk's). */
export const DBOPS_RULES: Record<string, Level> = {
  'history/edited': 'error',
  'history/renamed': 'error',
  'history/deleted': 'error',
  'history/out-of-order': 'error',
  'rollbacks/missing': 'error',
  'rollbacks/orphan': 'error',
  'rollbacks/empty': 'error',
  'rollbacks/irreversible': 'notice',
  'rollbacks/irreversible-without-reason': 'error',
  'rollbacks/misplaced-marker': 'warning',
  'destructive/drop-table': 'error',
  'destructive/drop-column': 'error',
  'destructive/drop-schema': 'error',
  'destructive/truncate': 'error',
  'destructive/narrow-type': 'error',
  'access/in-migration': 'error',
  'access/grant-to-public': 'error',
  'access/table-not-covered': 'error',
  'masking/personal-data-unmasked': 'error',
  // Malformed files: always errors, the policy cannot change them.
  ...Object.fromEntries(MALFORMED_RULES.map((rule) => [rule, 'error' as const])),
  'sql/parse-error': 'error',
  'lint/unknown-rule': 'notice',
};

export const SQUAWK_PREFIX = 'squawk/';

/** Level and profile note of a squawk rule for one file, before the policy's per-rule overrides. */
export function profileLevel(profile: LintPolicy['profile'], rule: string, file: FileContext): { level: Level; note: string | undefined } {
  if (profile === 'squawk') return { level: rule === 'syntax-error' ? 'error' : 'warning', note: undefined };
  const entry = PRISMA_PROFILE[rule];
  if (!entry) return { level: 'warning', note: undefined };
  if (entry.multiStep && file.mode === 'split' && file.steps > 1) return { level: entry.multiStep, note: entry.note };
  return { level: entry.level, note: entry.note };
}

/** The policy's level for a rule id (`squawk/<name>` also answers to the bare squawk name). */
export function policyLevel(rules: LintPolicy['rules'], id: string): Level | undefined {
  return rules[id] ?? (id.startsWith(SQUAWK_PREFIX) ? rules[id.slice(SQUAWK_PREFIX.length)] : undefined);
}

/** Policy keys that name no rule dbops knows (a misspelling silently changes nothing otherwise). */
export function unknownRuleKeys(rules: LintPolicy['rules']): string[] {
  return Object.keys(rules).filter((key) => {
    const bare = key.startsWith(SQUAWK_PREFIX) ? key.slice(SQUAWK_PREFIX.length) : key;
    return !(key in DBOPS_RULES) && !(bare in PRISMA_PROFILE);
  });
}
