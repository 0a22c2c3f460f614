// Applies a generated history of 320 migrations twice on one server: with `dbops migrate deploy` (a real
// process, bookkeeping included) and with one psql session running the same files, each in its own
// transaction. Goal: dbops within 1.2× of psql.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { findPgBinaries, pgTool } from '../../pipeline/infra/pg/binaries.ts';
import { BIN } from '../helpers/cli.ts';
import { queryUrl } from '../helpers/db.ts';
import type { BenchResult } from './run.ts';

const run = promisify(execFile);
const COUNT = 320;

/** A deterministic, varied history: tables, columns with defaults, indexes, foreign keys, small data loads. */
export function generateHistory(count: number): Array<{ name: string; sql: string }> {
  const out: Array<{ name: string; sql: string }> = [];
  let table = 0;
  for (let i = 1; i <= count; i++) {
    const ts = `2024${String(1 + Math.floor((i - 1) / 28) % 12).padStart(2, '0')}${String(1 + ((i - 1) % 28)).padStart(2, '0')}${String(100000 + i).slice(-6)}`;
    let sql: string;
    switch (i % 8) {
      case 1:
        table++;
        sql = `-- CreateTable\nCREATE TABLE "T${table}" (\n    "id" BIGSERIAL NOT NULL,\n    "organizationId" INTEGER NOT NULL,\n    "name" TEXT NOT NULL,\n    "createdAt" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,\n\n    CONSTRAINT "T${table}_pkey" PRIMARY KEY ("id")\n);\n`;
        break;
      case 2:
        sql = `-- AlterTable\nALTER TABLE "T${table}" ADD COLUMN "amount" DECIMAL(19,4) NOT NULL DEFAULT 0,\nADD COLUMN "note" TEXT;\n`;
        break;
      case 3:
        sql = `INSERT INTO "T${table}" ("organizationId", "name", "amount") SELECT g % 7, 'row ' || g, g * 1.5 FROM generate_series(1, 2000) g;\n`;
        break;
      case 4:
        sql = `-- CreateIndex\nCREATE INDEX "T${table}_organizationId_createdAt_idx" ON "T${table}"("organizationId", "createdAt");\n`;
        break;
      case 5:
        sql = table > 1
          ? `-- AlterTable\nALTER TABLE "T${table}" ADD COLUMN "parentId" BIGINT;\n\n-- AddForeignKey\nALTER TABLE "T${table}" ADD CONSTRAINT "T${table}_parentId_fkey" FOREIGN KEY ("parentId") REFERENCES "T${table - 1}"("id") ON DELETE SET NULL ON UPDATE CASCADE;\n`
          : `SELECT 1;\n`;
        break;
      case 6:
        sql = `-- CreateIndex\nCREATE UNIQUE INDEX "T${table}_organizationId_name_key" ON "T${table}"("organizationId", "name");\n`;
        break;
      case 7:
        sql = `UPDATE "T${table}" SET "note" = 'checked' WHERE "amount" > 1000;\n`;
        break;
      default:
        sql = `-- CreateEnum\nCREATE TYPE "S${table}" AS ENUM ('DRAFT', 'POSTED', 'VOID');\n\n-- AlterTable\nALTER TABLE "T${table}" ADD COLUMN "status" "S${table}" NOT NULL DEFAULT 'DRAFT';\n`;
    }
    out.push({ name: `${ts}_step_${i}`, sql });
  }
  return out;
}

async function createDb(admin: string, name: string): Promise<string> {
  await queryUrl(admin, `CREATE DATABASE "${name}"`);
  const u = new URL(admin);
  u.pathname = `/${name}`;
  return u.toString();
}

async function schemaOf(url: string): Promise<string> {
  const rows = await queryUrl(url, `SELECT string_agg(format('%s.%s %s', table_name, column_name, data_type), E'\\n' ORDER BY table_name, column_name) AS s FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> '_prisma_migrations'`);
  return rows[0]!['s'] as string;
}

export async function bench(): Promise<BenchResult> {
  const admin = process.env['BENCH_DATABASE_URL'];
  if (!admin) throw new Error('BENCH_DATABASE_URL is not set (run through `npm run bench`)');
  const history = generateHistory(COUNT);
  const work = await mkdtemp(join(tmpdir(), 'dbops-bench-migrate-'));
  try {
    const dir = join(work, 'migrations');
    for (const m of history) {
      await mkdir(join(dir, m.name), { recursive: true });
      await writeFile(join(dir, m.name, 'migration.sql'), m.sql);
    }
    // psql: one session, every file in its own transaction, stop on the first error.
    const wrapper = join(work, 'all.sql');
    await writeFile(wrapper, history.map((m) => `BEGIN;\n\\i ${join(dir, m.name, 'migration.sql')}\nCOMMIT;\n`).join(''));
    const psql = await pgTool(await findPgBinaries(), 'psql');

    const rounds = 5;
    const dbopsMs: number[] = [];
    const insideMs: number[] = [];
    const psqlMs: number[] = [];
    let dbopsSchema = '';
    let psqlSchema = '';
    for (let r = 0; r < rounds; r++) {
      const a = await createDb(admin, `bench_dbops_${r}`);
      let t = performance.now();
      const { stdout } = await run(process.execPath, [BIN, 'migrate', 'deploy', '--database-url', a, '--migrations-dir', dir, '--quiet', '--json'], { maxBuffer: 64 * 1024 * 1024 });
      dbopsMs.push(performance.now() - t);
      insideMs.push((JSON.parse(stdout).data.applied as Array<{ durationMs: number }>).reduce((sum, m) => sum + m.durationMs, 0));
      dbopsSchema = await schemaOf(a);

      const b = await createDb(admin, `bench_psql_${r}`);
      t = performance.now();
      await run(psql, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', b, '-f', wrapper], { maxBuffer: 64 * 1024 * 1024 });
      psqlMs.push(performance.now() - t);
      psqlSchema = await schemaOf(b);
    }
    if (dbopsSchema !== psqlSchema) throw new Error('dbops and psql produced different schemas');
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    const ratio = median(dbopsMs) / median(psqlMs);
    return {
      name: `migrate deploy: ${COUNT} generated migrations, median of ${rounds} runs`,
      metrics: {
        'dbops migrate deploy (s)': (median(dbopsMs) / 1000).toFixed(2),
        'psql, one session (s)': (median(psqlMs) / 1000).toFixed(2),
        'ratio dbops/psql': ratio.toFixed(2),
        'dbops per migration (ms)': (median(dbopsMs) / COUNT).toFixed(1),
        'dbops inside migrations (s)': (median(insideMs) / 1000).toFixed(2),
        'dbops start-up, reading, lock (s)': ((median(dbopsMs) - median(insideMs)) / 1000).toFixed(2),
        'ratio inside migrations/psql': (median(insideMs) / median(psqlMs)).toFixed(2),
      },
      goal: { description: 'dbops ≤ 1.2 × psql', met: ratio <= 1.2 },
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
