import type { PlacedFinding } from '../report/index.ts';
import type { Severity } from '../core/result.ts';
import type { Annotation } from '../infra/github/actions.ts';

export type { Annotation };

/**
 * GitHub shows at most 10 error and 10 warning annotations per workflow step (notices are capped alike)
 * and 50 per job; the rest are dropped silently. So dbops chooses: errors first, 10 of each severity,
 * and says how many were left out (the job summary, the PR comment and code scanning list them all).
 */
export const PER_STEP: Record<Severity, number> = { error: 10, warning: 10, notice: 10 };
export const PER_JOB = 50;

export interface AnnotationPlan {
  shown: Annotation[];
  omitted: number;
}

function annotationOf(f: PlacedFinding): Annotation {
  const a: Annotation = { severity: f.severity, message: f.help ? `${f.message}\n${f.help}` : f.message, title: `dbops ${f.step}: ${f.rule}` };
  if (!f.path) return a;
  a.file = f.path;
  // A finding about a whole migration (a measurement) goes on the first line of its file.
  a.startLine = f.line ?? 1;
  const endLine = f.endLine !== undefined && f.endLine >= a.startLine ? f.endLine : a.startLine;
  a.endLine = endLine;
  // GitHub takes columns only for a single-line annotation.
  if (endLine === a.startLine && f.column !== undefined) {
    a.startColumn = f.column;
    if (f.endColumn !== undefined && f.endColumn >= f.column) a.endColumn = f.endColumn;
  }
  return a;
}

/** `findings` must be sorted errors first (allFindings does). */
export function planAnnotations(findings: readonly PlacedFinding[], budget = PER_JOB): AnnotationPlan {
  const used: Record<Severity, number> = { error: 0, warning: 0, notice: 0 };
  const shown: Annotation[] = [];
  for (const f of findings) {
    if (used[f.severity] >= PER_STEP[f.severity] || shown.length >= budget) continue;
    used[f.severity]++;
    shown.push(annotationOf(f));
  }
  return { shown, omitted: findings.length - shown.length };
}
