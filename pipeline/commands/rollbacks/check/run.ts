import type { RollbacksInputs } from './spec.ts';
import { readRollbacksFolder, pairRollbacks, type RollbacksData } from '../../../change/rollbacks/index.ts';
import { ExitCode } from '../../../core/errors.ts';
import { checkSqlFiles, problemFinding, readMigrationsFolder } from '../../../change/migrations/index.ts';
import { plural } from '../../../core/format.ts';
import type { Finding, StepResult } from '../../../core/result.ts';
import type { StepContext } from '../../../cli/contract.ts';

/** `dbops rollbacks check`: every migration has a non-empty rollbacks/<name>.sql and every rollback a migration. */
export async function run(input: RollbacksInputs, ctx: StepContext): Promise<StepResult<RollbacksData>> {
  const folder = await readMigrationsFolder(input.migrationsDir);
  const rollbacks = await readRollbacksFolder(input.rollbacksDir);
  if (!rollbacks.exists) ctx.log.warn({ dir: input.rollbacksDir }, 'the rollbacks folder does not exist');
  const { pairs, findings } = pairRollbacks({
    migrations: folder.migrations.map((m) => m.name),
    rollbacks: rollbacks.files,
    migrationsDir: input.migrationsDir,
    rollbacksDir: input.rollbacksDir,
  });
  // A script the executor would refuse cannot roll anything back: the same check as lint and deploy (exit 2).
  const { problems } = await checkSqlFiles([], rollbacks.files);
  findings.push(...problems.map(problemFinding));
  const data: RollbacksData = { migrationsDir: input.migrationsDir, rollbacksDir: input.rollbacksDir, pairs };
  const verdict =
    pairs.length === 0 ? 'skip' : findings.some((f) => f.severity === 'error') ? 'fail' : findings.some((f) => f.severity === 'warning') ? 'warn' : 'pass';
  ctx.log.info({ pairs: pairs.length, findings: findings.length, verdict }, 'rollbacks checked');
  if (problems.length === 0) return { verdict, findings, data };
  return {
    verdict,
    findings,
    data,
    exitCode: ExitCode.Usage,
    error: {
      message: `${plural(problems.length, 'rollback script')} cannot be run as written.`,
      hint: 'Fix the files named above (each finding says how), then check again.',
    },
  };
}

const STATUS: Record<RollbacksData['pairs'][number]['status'], string> = {
  paired: 'paired',
  irreversible: 'irreversible',
  missing: 'MISSING',
  empty: 'EMPTY',
  orphan: 'ORPHAN',
};

const findingLine = (f: Finding) =>
  `  ${f.file ?? ''}${f.line ? `:${f.line}:${f.column ?? 1}` : ''}  ${f.severity}  ${f.rule}  ${f.message}${f.help ? `\n      help: ${f.help}` : ''}`;

export function render(result: StepResult<RollbacksData>): string {
  const { pairs, migrationsDir, rollbacksDir } = result.data;
  if (pairs.length === 0) return `No migrations in ${migrationsDir} and no rollbacks in ${rollbacksDir}: nothing to check.\n`;
  const width = Math.max(...Object.values(STATUS).map((s) => s.length));
  const lines = [`Rollbacks in ${rollbacksDir}/ for the migrations in ${migrationsDir}/:`, ''];
  for (const p of pairs) {
    const name = p.migration ?? p.rollback ?? '';
    lines.push(`  ${STATUS[p.status].padEnd(width)}  ${name}${p.reason ? `  (${p.reason})` : ''}`);
  }
  const problems = result.findings.filter((f) => f.severity !== 'notice');
  if (problems.length > 0) lines.push('', ...problems.map(findingLine));
  const count = (s: keyof typeof STATUS) => pairs.filter((p) => p.status === s).length;
  lines.push(
    '',
    `${count('paired')} paired, ${count('irreversible')} irreversible, ${count('missing')} missing, ${count('empty')} empty, ${count('orphan')} orphaned.`,
  );
  return `${lines.join('\n')}\n`;
}
