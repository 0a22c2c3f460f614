// `dbops lint --all` on 500 generated Prisma-style migrations with their rollbacks (1,000 files), timed as
// the step's run() in this process (no Node/tsx start-up), against one raw call of the squawk binary on the
// same files. The first run is reported apart: it also loads the PostgreSQL parser (WebAssembly). The real
// CLI (its own process) is timed for reference.
// Goal: the warm median within 1.5× of squawk alone.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createContext } from '../../pipeline/cli/context.ts';
import { silentLogger } from '../../pipeline/core/logger.ts';
import { LintInputs } from '../../pipeline/commands/lint/spec.ts';
import { run as lint } from '../../pipeline/commands/lint/run.ts';
import { squawkBinary } from '../../pipeline/change/lint/squawk.ts';
import { BIN } from '../helpers/cli.ts';
import type { BenchResult } from './run.ts';

const exec = promisify(execFile);
const COUNT = 500;
const ROUNDS = 9;

/** Prisma's own output shapes: new tables with indexes and foreign keys, added columns, type changes, enums, drops, a CONCURRENTLY index. */
export function generate(count: number): Array<{ name: string; migration: string; rollback: string }> {
  const out: Array<{ name: string; migration: string; rollback: string }> = [];
  let t = 0;
  for (let i = 1; i <= count; i++) {
    const name = `2025${String(1 + (Math.floor(i / 28) % 12)).padStart(2, '0')}${String(1 + (i % 28)).padStart(2, '0')}${String(100000 + i).slice(-6)}_step_${i}`;
    let migration: string;
    let rollback: string;
    switch (i % 6) {
      case 1:
        t++;
        migration = `-- CreateEnum\nCREATE TYPE "Status${t}" AS ENUM ('DRAFT', 'POSTED');\n\n-- CreateTable\nCREATE TABLE "T${t}" (\n    "id" UUID NOT NULL,\n    "organizationId" UUID NOT NULL,\n    "name" VARCHAR(120) NOT NULL,\n    "amount" DECIMAL(19,4) NOT NULL DEFAULT 0,\n    "status" "Status${t}" NOT NULL DEFAULT 'DRAFT',\n    "createdAt" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,\n\n    CONSTRAINT "T${t}_pkey" PRIMARY KEY ("id")\n);\n\n-- CreateIndex\nCREATE UNIQUE INDEX "T${t}_organizationId_name_key" ON "T${t}"("organizationId", "name");\n\n-- CreateIndex\nCREATE INDEX "T${t}_createdAt_idx" ON "T${t}"("createdAt");\n${t > 1 ? `\n-- AddForeignKey\nALTER TABLE "T${t}" ADD CONSTRAINT "T${t}_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "T${t - 1}"("id") ON DELETE RESTRICT ON UPDATE CASCADE;\n` : ''}`;
        rollback = `-- DropTable\nDROP TABLE "T${t}";\n\n-- DropEnum\nDROP TYPE "Status${t}";\n`;
        break;
      case 2:
        migration = `-- AlterTable\nALTER TABLE "T${t}" ADD COLUMN     "note" TEXT,\nADD COLUMN     "reference" VARCHAR(64);\n`;
        rollback = `-- AlterTable\nALTER TABLE "T${t}" DROP COLUMN "note",\nDROP COLUMN "reference";\n`;
        break;
      case 3:
        migration = `-- CreateIndex\nCREATE INDEX "T${t}_organizationId_createdAt_idx" ON "T${t}"("organizationId", "createdAt" DESC);\n`;
        rollback = `-- DropIndex\nDROP INDEX "T${t}_organizationId_createdAt_idx";\n`;
        break;
      case 4:
        migration = `-- AlterTable\nALTER TABLE "T${t}" ALTER COLUMN "name" SET DATA TYPE VARCHAR(200);\n`;
        rollback = `-- AlterTable\nALTER TABLE "T${t}" ALTER COLUMN "name" SET DATA TYPE VARCHAR(120);\n`;
        break;
      case 5:
        migration = `-- AlterEnum\nALTER TYPE "Status${t}" ADD VALUE 'VOID';\n`;
        rollback = `-- dbops:irreversible PostgreSQL cannot drop an enum value; recreating the type is left to a later migration\nSELECT 1;\n`;
        break;
      default:
        migration =
          i % 12 === 0
            ? `-- CreateIndex\nCREATE INDEX CONCURRENTLY "T${t}_amount_idx" ON "T${t}"("amount");\n`
            : `/*\n  Warnings:\n\n  - You are about to drop the column \`reference\` on the \`T${t}\` table. All the data in the column will be lost.\n\n*/\n-- AlterTable\nALTER TABLE "T${t}" DROP COLUMN "reference";\n`;
        rollback =
          i % 12 === 0
            ? `-- DropIndex\nDROP INDEX CONCURRENTLY "T${t}_amount_idx";\n`
            : `-- dbops:irreversible the column's data is gone\nALTER TABLE "T${t}" ADD COLUMN "reference" VARCHAR(64);\n`;
    }
    out.push({ name, migration, rollback });
  }
  return out;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function bench(): Promise<BenchResult> {
  const work = await mkdtemp(join(tmpdir(), 'dbops-bench-lint-'));
  try {
    const migrationsDir = join(work, 'prisma', 'migrations');
    const rollbacksDir = join(work, 'rollbacks');
    await mkdir(rollbacksDir, { recursive: true });
    const files: string[] = [];
    for (const m of generate(COUNT)) {
      await mkdir(join(migrationsDir, m.name), { recursive: true });
      await writeFile(join(migrationsDir, m.name, 'migration.sql'), m.migration);
      await writeFile(join(rollbacksDir, `${m.name}.sql`), m.rollback);
      files.push(join(migrationsDir, m.name, 'migration.sql'), join(rollbacksDir, `${m.name}.sql`));
    }
    const input = LintInputs.parse({ all: true, migrationsDir, rollbacksDir, policiesDir: join(work, 'policies'), json: true });
    const once = async () => {
      const ctx = createContext({ log: silentLogger(), signal: new AbortController().signal, policiesDir: input.policiesDir });
      const started = performance.now();
      const result = await lint(input, ctx);
      return { ms: performance.now() - started, result };
    };
    const bin = squawkBinary();
    const raw = async () => {
      const started = performance.now();
      // Exit 1 means findings; execFile rejects on it, with the output attached.
      const out = await exec(bin.command, [...bin.prefix, '--reporter', 'json', '--pg-version', '15', ...files], { maxBuffer: 256 * 1024 * 1024 }).catch(
        (e: { code?: number; stdout?: string }) => {
          if (e.code !== 1) throw e;
          return { stdout: e.stdout ?? '[]' };
        },
      );
      return { ms: performance.now() - started, findings: (JSON.parse(out.stdout) as unknown[]).length };
    };

    const cold = await once();
    const dbopsMs: number[] = [];
    const insideMs: number[] = [];
    const squawkMs: number[] = [];
    let rawFindings = 0;
    for (let r = 0; r < ROUNDS; r++) {
      const s = await raw();
      squawkMs.push(s.ms);
      rawFindings = s.findings;
      const warm = await once();
      dbopsMs.push(warm.ms);
      insideMs.push(warm.result.data.squawk?.durationMs ?? 0);
    }
    // For reference: the real CLI, a process of its own (Node and tsx start-up, module loading, parser load).
    const cliMs: number[] = [];
    for (let r = 0; r < 3; r++) {
      const started = performance.now();
      await exec(
        process.execPath,
        [
          BIN,
          'lint',
          '--all',
          '--json',
          '--quiet',
          '--migrations-dir',
          migrationsDir,
          '--rollbacks-dir',
          rollbacksDir,
          '--policies-dir',
          input.policiesDir,
          '--reports-dir',
          join(work, 'reports'),
        ],
        { maxBuffer: 256 * 1024 * 1024 },
      ).catch((e: { code?: number }) => {
        if (e.code !== 1) throw e;
      });
      cliMs.push(performance.now() - started);
    }
    const { result } = cold;
    const ratio = median(dbopsMs) / median(squawkMs);
    return {
      name: `lint --all: ${COUNT} generated Prisma migrations + ${COUNT} rollbacks (step run in-process, median of ${ROUNDS})`,
      metrics: {
        'dbops lint, warm (ms)': median(dbopsMs).toFixed(0),
        'dbops lint, first run incl. parser load (ms)': cold.ms.toFixed(0),
        'of which waiting for its squawk calls (ms)': median(insideMs).toFixed(0),
        'squawk alone, one call (ms)': median(squawkMs).toFixed(0),
        'ratio dbops/squawk (warm)': ratio.toFixed(2),
        // Other work on the machine inflates medians; the fastest runs of each show the intrinsic cost.
        'ratio dbops/squawk (fastest of each)': (Math.min(...dbopsMs) / Math.min(...squawkMs)).toFixed(2),
        'ratio dbops/squawk (first run)': (cold.ms / median(squawkMs)).toFixed(2),
        'real CLI, own process, median of 3 (ms)': median(cliMs).toFixed(0),
        'squawk processes started by dbops': result.data.squawk?.invocations ?? 0,
        'findings: plain squawk / dbops shown': `${rawFindings} / ${result.findings.length} (${result.data.squawk?.excluded?.length ?? 0} squawk rules not run, ${result.data.suppressed} findings hidden by the prisma profile)`,
        'per migration: plain squawk / dbops': `${(rawFindings / COUNT).toFixed(2)} / ${(result.findings.length / COUNT).toFixed(2)}`,
      },
      goal: { description: 'dbops lint ≤ 1.5 × one squawk call (warm)', met: ratio <= 1.5 },
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
