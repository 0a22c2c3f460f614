import { createHash } from 'node:crypto';
import type { Log, Region, ReportingDescriptor, Result } from 'sarif';
import { allFindings, type PlacedFinding } from './findings.ts';
import type { LoadedReport } from './store.ts';
import { type Severity } from '../core/result.ts';

/**
 * SARIF 2.1.0 for GitHub code scanning (github/codeql-action/upload-sarif): one run, tool `dbops`, a rule
 * per finding rule id, results with a region on the migration file. Findings that name only a migration
 * (rehearse measurements) point at its migration.sql, line 1.
 */

export const SARIF_SCHEMA = 'https://json.schemastore.org/sarif-2.1.0.json';
const LEVEL: Record<Severity, Result.level> = { error: 'error', warning: 'warning', notice: 'note' };

/** `squawk/adding-field-with-default` → "Adding field with default (squawk)". */
export function ruleTitle(id: string): string {
  const [head, ...rest] = id.split('/');
  const name = (rest.length ? rest.join(' ') : head!).replace(/[-_]+/g, ' ').trim();
  const sentence = name.charAt(0).toUpperCase() + name.slice(1);
  return rest.length ? `${sentence} (${head})` : sentence;
}

/** squawk documents each rule at a stable URL named after it. */
const helpUri = (id: string) => (id.startsWith('squawk/') ? `https://squawkhq.com/docs/${id.slice('squawk/'.length)}` : undefined);

/** 1-based; SARIF's endColumn is exclusive, a finding's is inclusive. GitHub needs at least startLine. */
function region(f: PlacedFinding): Region {
  const startLine = f.line ?? 1;
  const endLine = f.endLine !== undefined && f.endLine >= startLine ? f.endLine : undefined;
  const r: Region = { startLine };
  if (f.column !== undefined) r.startColumn = f.column;
  if (endLine !== undefined) r.endLine = endLine;
  if (f.endColumn !== undefined && (f.column === undefined || (endLine ?? startLine) > startLine || f.endColumn >= f.column)) r.endColumn = f.endColumn + 1;
  return r;
}

/**
 * Stable across runs of the same change: rule, file (or migration) and the message with its numbers taken
 * out (measured durations differ from run to run), plus an occurrence counter for identical findings.
 * Line numbers are left out so that a finding keeps its identity when lines are added above it.
 */
function fingerprints(findings: PlacedFinding[]): string[] {
  const seen = new Map<string, number>();
  return findings.map((f) => {
    const key = [f.rule, f.path ?? f.migration ?? '', f.message.replace(/\d+(?:[.,]\d+)*/g, '#')].join('\u0000');
    const n = (seen.get(key) ?? 0) + 1;
    seen.set(key, n);
    return `${createHash('sha256').update(key).digest('hex').slice(0, 32)}:${n}`;
  });
}

export function toSarif(reports: LoadedReport[], dbopsVersion: string): Log {
  // GitHub code scanning rejects the whole file when one result has no location ("locationFromSarifResult:
  // expected at least one location"). A finding about no file (a backup that failed verification) is about
  // operations, not code: it goes to the invocation's notifications, which need none.
  const placed = allFindings(reports);
  const findings = placed.filter((f) => f.path !== undefined);
  const unlocated = placed.filter((f) => f.path === undefined);
  const rules: ReportingDescriptor[] = [];
  const ruleIndex = new Map<string, number>();
  for (const f of findings) {
    if (ruleIndex.has(f.rule)) continue;
    ruleIndex.set(f.rule, rules.length);
    const uri = helpUri(f.rule);
    const help = f.help ?? `Reported by dbops ${f.step}.${uri ? ` See ${uri}` : ''}`;
    rules.push({
      id: f.rule,
      name: f.rule.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : '')),
      shortDescription: { text: ruleTitle(f.rule) },
      help: { text: help },
      ...(uri ? { helpUri: uri } : {}),
      defaultConfiguration: { level: LEVEL[f.severity] },
      properties: { tags: ['dbops', f.step] },
    });
  }
  const prints = fingerprints(findings);
  const results: Result[] = findings.map((f, i) => ({
    ruleId: f.rule,
    ruleIndex: ruleIndex.get(f.rule)!,
    level: LEVEL[f.severity],
    message: { text: f.help ? `${f.message}\n\n${f.help}` : f.message },
    ...(f.path ? { locations: [{ physicalLocation: { artifactLocation: { uri: f.path }, region: region(f) } }] } : {}),
    partialFingerprints: { 'dbopsFinding/v1': prints[i]! },
    properties: { step: f.step, ...(f.migration ? { migration: f.migration } : {}) },
  }));
  const stopped = reports.filter((r) => r.report.error);
  return {
    $schema: SARIF_SCHEMA,
    version: '2.1.0',
    runs: [
      {
        tool: { driver: { name: 'dbops', version: dbopsVersion, semanticVersion: dbopsVersion, rules } },
        invocations: [
          {
            executionSuccessful: stopped.length === 0,
            toolExecutionNotifications: [
              ...stopped.map(({ report }) => ({
                level: 'error' as const,
                message: { text: `dbops ${report.command} stopped: ${report.error!.message}${report.error!.hint ? ` Fix: ${report.error!.hint}` : ''}` },
              })),
              ...unlocated.map((f) => ({ level: LEVEL[f.severity], message: { text: `${f.rule}: ${f.message}${f.help ? ` Fix: ${f.help}` : ''}` } })),
            ],
          },
        ],
        results,
      },
    ],
  };
}
