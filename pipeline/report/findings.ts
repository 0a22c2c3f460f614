import type { LoadedReport } from './store.ts';
import { type Finding, type Verdict, SEVERITY_ORDER } from '../core/result.ts';
import type { LintData } from '../change/lint/index.ts';
import type { RollbacksData } from '../change/rollbacks/index.ts';

const VERDICT_RANK: Record<Verdict, number> = { fail: 3, warn: 2, pass: 1, skip: 0 };

/** fail beats warn beats pass beats skip. */
export const worstVerdict = (verdicts: Verdict[]): Verdict =>
  verdicts.reduce<Verdict>((worst, v) => (VERDICT_RANK[v] > VERDICT_RANK[worst] ? v : worst), 'skip');

export interface Counts {
  error: number;
  warning: number;
  notice: number;
}

export function countFindings(findings: readonly Finding[]): Counts {
  const counts: Counts = { error: 0, warning: 0, notice: 0 };
  for (const f of findings) counts[f.severity]++;
  return counts;
}

/** A finding with the step that reported it and a file position to point at, when one can be found. */
export interface PlacedFinding extends Finding {
  step: string;
  /** The file to point at: the finding's own, else its migration's SQL file. */
  path?: string;
}

/**
 * Where a migration's SQL lives, from what the reports say: lint lists the files it read, rollbacks check
 * names the migrations folder. Measured findings (rehearse) name only the migration, and a reviewer wants
 * them on the file all the same (annotation, code scanning alert).
 */
export function migrationPaths(reports: readonly LoadedReport[]): (migration: string) => string {
  const known = new Map<string, string>();
  let migrationsDir = 'prisma/migrations';
  for (const { report } of reports) {
    if (report.data === null) continue;
    if (report.step === 'lint') for (const f of (report.data as LintData).files) if (f.kind === 'migration') known.set(f.migration, f.path);
    if (report.step === 'rollbacks') migrationsDir = (report.data as RollbacksData).migrationsDir;
  }
  return (migration) => known.get(migration) ?? `${migrationsDir.replace(/\/+$/, '')}/${migration}/migration.sql`;
}

const normalizePath = (p: string) => p.replace(/\\/g, '/').replace(/^\.\//, '');

/**
 * Every finding of every report, errors first, then by file and line; a finding about a migration gets its
 * file. Steps overlap (lint and rollbacks check both report an irreversible rollback): the same rule on
 * the same spot with the same message is listed, annotated and uploaded once.
 */
export function allFindings(reports: readonly LoadedReport[]): PlacedFinding[] {
  const pathOf = migrationPaths(reports);
  const placed: PlacedFinding[] = [];
  const seen = new Set<string>();
  for (const { report } of reports) {
    for (const f of report.findings) {
      const path = f.file ? normalizePath(f.file) : f.migration ? pathOf(f.migration) : undefined;
      const key = JSON.stringify([f.rule, f.severity, path, f.line, f.column, f.message]);
      if (seen.has(key)) continue;
      seen.add(key);
      placed.push({ ...f, step: report.step, ...(path ? { path } : {}) });
    }
  }
  return placed.sort(
    (a, b) =>
      SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] ||
      (a.path ?? '\uffff').localeCompare(b.path ?? '\uffff') ||
      (a.line ?? 0) - (b.line ?? 0) ||
      (a.column ?? 0) - (b.column ?? 0),
  );
}

/** `file:line:column` as a human reads it, or the migration, or nothing. */
export function locationText(f: Finding): string | undefined {
  if (f.file) return [f.file, f.line, f.line !== undefined ? f.column : undefined].filter((p) => p !== undefined).join(':');
  return f.migration;
}
