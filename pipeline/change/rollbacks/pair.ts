import { join } from 'node:path';
import type { EncodingFault } from '../../core/encoding.ts';
import { type Finding } from '../../core/result.ts';
import type { RollbackPair } from './model.ts';

/**
 * Pairing of migrations with their rollback scripts (`rollbacks/<migration>.sql`). Pure: shared by
 * `dbops rollbacks check` (every migration) and `dbops lint` (the files a change touches).
 */

export type { RollbackPair };

export interface RollbackFile {
  /** File name without `.sql`: the migration it belongs to. */
  name: string;
  /** Path as shown in findings, e.g. rollbacks/20260112093000_init.sql. */
  path: string;
  text: string;
  /** Set when the file is not valid UTF-8 or holds a NUL byte (the executor refuses it). */
  fault?: EncodingFault | undefined;
}

export interface Marker {
  /** 1-based line of the marker. */
  line: number;
  /** The reason written after the marker; null when there is none. */
  reason: string | null;
}

export interface RollbackInspection {
  /** Nothing but comments, whitespace and semicolons. */
  empty: boolean;
  /** `-- dbops:irreversible <reason>` as the first non-blank line. */
  marker: Marker | undefined;
  /** Lines holding the marker somewhere else, where it has no effect. */
  misplaced: number[];
}

const MARKER = /^--\s*dbops:irreversible\b(.*)$/;

/**
 * Hand-written rather than a SQL tokenizer because the question is only "is there anything but
 * comments?": the first character outside a `--` or (nested) block comment that is not whitespace or
 * `;` answers it, so string literals and dollar quotes never need to be understood.
 */
function onlyComments(text: string): boolean {
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '-' && text[i + 1] === '-') {
      const nl = text.indexOf('\n', i);
      i = nl === -1 ? text.length : nl + 1;
    } else if (c === '/' && text[i + 1] === '*') {
      let depth = 1;
      i += 2;
      while (i < text.length && depth > 0) {
        if (text.startsWith('/*', i)) {
          depth++;
          i += 2;
        } else if (text.startsWith('*/', i)) {
          depth--;
          i += 2;
        } else i++;
      }
    } else if (/\s|;|\uFEFF/.test(c)) i++;
    else return false;
  }
  return true;
}

export function inspectRollback(text: string): RollbackInspection {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const first = lines.findIndex((l) => l.trim() !== '');
  let marker: Marker | undefined;
  const misplaced: number[] = [];
  lines.forEach((raw, i) => {
    const m = MARKER.exec(raw.trim());
    if (!m) return;
    if (i === first) {
      const reason = m[1]!.replace(/^[\s:–—-]+/, '').trim();
      marker = { line: i + 1, reason: reason === '' ? null : reason };
    } else misplaced.push(i + 1);
  });
  return { empty: onlyComments(text), marker, misplaced };
}

export interface PairingInput {
  /** Migration folder names. */
  migrations: string[];
  rollbacks: RollbackFile[];
  migrationsDir: string;
  rollbacksDir: string;
}

export interface Pairing {
  pairs: RollbackPair[];
  findings: Finding[];
}

const migrationFile = (dir: string, name: string) => join(dir, name, 'migration.sql');

const HELP = {
  missing: (file: string) =>
    `Add ${file} with the SQL that returns the schema to its state before the migration; Prisma generates most of it with \`prisma migrate diff --from-schema <schema after> --to-schema <schema before> --script\`. Hand-written SQL in the migration needs its inverse written by hand. If the migration destroys data that cannot be brought back, still write the script and start it with \`-- dbops:irreversible <reason>\`.`,
  orphan: (dir: string, name: string) =>
    `Rename it after its migration folder (the names must match exactly), or delete it if ${join(dir, name)}/ was removed on purpose.`,
  empty: (name: string) =>
    `Write the SQL that undoes ${name}. If it cannot be undone (it destroys data), say so on the first line: \`-- dbops:irreversible <why>\`, followed by whatever part of the schema can be restored.`,
  irreversible:
    'The rollback restores the schema but not the data the migration destroys. Make sure a verified backup exists before this migration is deployed.',
  noReason: 'Write why after the marker, e.g. `-- dbops:irreversible drops "Organization"."legacyErpId" with its data`.',
  misplaced: 'The marker counts only as the first line of the file: move it there (with its reason) or remove it.',
};

/**
 * Pairs every migration with `rollbacks/<name>.sql` and reports, with stable rule ids:
 * rollbacks/missing, rollbacks/orphan, rollbacks/empty (errors), rollbacks/irreversible (notice),
 * rollbacks/irreversible-without-reason (error), rollbacks/misplaced-marker (warning).
 * A file holding only the marker (with its reason) is irreversible, not empty: the author said there
 * is nothing to undo.
 */
export function pairRollbacks({ migrations, rollbacks, migrationsDir, rollbacksDir }: PairingInput): Pairing {
  const byName = new Map(rollbacks.map((r) => [r.name, r]));
  const known = new Set(migrations);
  const pairs: RollbackPair[] = [];
  const findings: Finding[] = [];
  for (const name of [...migrations].sort((a, b) => a.localeCompare(b))) {
    const rollback = byName.get(name);
    const expected = join(rollbacksDir, `${name}.sql`);
    if (!rollback) {
      pairs.push({ migration: name, rollback: null, status: 'missing', reason: `expected ${expected}` });
      findings.push({
        rule: 'rollbacks/missing',
        severity: 'error',
        migration: name,
        file: migrationFile(migrationsDir, name),
        message: `${name} has no rollback: ${expected} does not exist.`,
        help: HELP.missing(expected),
      });
      continue;
    }
    const { empty, marker, misplaced } = inspectRollback(rollback.text);
    for (const line of misplaced) {
      findings.push({
        rule: 'rollbacks/misplaced-marker',
        severity: 'warning',
        migration: name,
        file: rollback.path,
        line,
        column: 1,
        message: '`-- dbops:irreversible` is not the first line of the rollback, so it has no effect.',
        help: HELP.misplaced,
      });
    }
    if (marker) {
      pairs.push({ migration: name, rollback: rollback.path, status: 'irreversible', ...(marker.reason ? { reason: marker.reason } : {}) });
      if (marker.reason) {
        findings.push({
          rule: 'rollbacks/irreversible',
          severity: 'notice',
          migration: name,
          file: rollback.path,
          line: marker.line,
          column: 1,
          message: `${name} is irreversible: ${marker.reason}`,
          help: HELP.irreversible,
        });
      } else {
        findings.push({
          rule: 'rollbacks/irreversible-without-reason',
          severity: 'error',
          migration: name,
          file: rollback.path,
          line: marker.line,
          column: 1,
          message: `${rollback.path} is marked irreversible without a reason.`,
          help: HELP.noReason,
        });
      }
    } else if (empty) {
      pairs.push({ migration: name, rollback: rollback.path, status: 'empty', reason: 'only comments or whitespace' });
      findings.push({
        rule: 'rollbacks/empty',
        severity: 'error',
        migration: name,
        file: rollback.path,
        message: `${rollback.path} is empty (only comments or whitespace), so it cannot undo ${name}.`,
        help: HELP.empty(name),
      });
    } else {
      pairs.push({ migration: name, rollback: rollback.path, status: 'paired' });
    }
  }
  for (const r of [...rollbacks].sort((a, b) => a.name.localeCompare(b.name))) {
    if (known.has(r.name)) continue;
    pairs.push({ migration: null, rollback: r.path, status: 'orphan', reason: `no migration folder ${join(migrationsDir, r.name)}/` });
    findings.push({
      rule: 'rollbacks/orphan',
      severity: 'error',
      file: r.path,
      message: `${r.path} belongs to no migration: ${join(migrationsDir, r.name)}/ does not exist.`,
      help: HELP.orphan(migrationsDir, r.name),
    });
  }
  return { pairs, findings };
}
