// Applies two generated histories on one server, alternating dbops and psql, five times each: with
// `./dbops migrate deploy` (its own process, started the way the README says, bookkeeping included) and with
// one psql session running the same files, each in its own transaction. The 320 generated migrations are
// bigger steps (data loads, indexes); the ~150-migration real-world-style history is many small files
// (extensions, enums and ADD VALUE, functions with $$ bodies, backfills), where start-up counts.
// Goals: dbops ≤ 1.2 × psql on the first, ≤ 1.2 × psql + 150 ms on the second.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { findPgBinaries, pgTool } from '../../pipeline/infra/pg/binaries.ts';
import { ROOT } from '../helpers/cli.ts';
import { queryUrl } from '../helpers/db.ts';
import type { BenchResult } from './run.ts';

const run = promisify(execFile);
const COUNT = 320;
const REAL_WORLD = 150;
/** The README's way: the repository's ./dbops. */
const DBOPS = join(ROOT, 'dbops');

/** A deterministic, varied history: tables, columns with defaults, indexes, foreign keys, small data loads. */
export function generateHistory(count: number): Array<{ name: string; sql: string }> {
  const out: Array<{ name: string; sql: string }> = [];
  let table = 0;
  for (let i = 1; i <= count; i++) {
    const ts = `2024${String(1 + (Math.floor((i - 1) / 28) % 12)).padStart(2, '0')}${String(1 + ((i - 1) % 28)).padStart(2, '0')}${String(100000 + i).slice(-6)}`;
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
        sql =
          table > 1
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

/**
 * A deterministic history shaped like a real product's: extensions first, enums that grow (ALTER TYPE …
 * ADD VALUE), trigger functions with $$ bodies, views, backfills and many one-line changes.
 */
export function generateRealWorld(count: number): Array<{ name: string; sql: string }> {
  const out: Array<{ name: string; sql: string }> = [];
  let table = 0;
  let values = 0;
  for (let i = 1; i <= count; i++) {
    const ts = `2023${String(1 + (Math.floor((i - 1) / 28) % 12)).padStart(2, '0')}${String(1 + ((i - 1) % 28)).padStart(2, '0')}${String(120000 + i).slice(-6)}`;
    const t = `"Account${table}"`;
    let sql: string;
    if (i === 1) {
      sql = `-- CreateExtension\nCREATE EXTENSION IF NOT EXISTS "pgcrypto";\n\n-- CreateExtension\nCREATE EXTENSION IF NOT EXISTS "citext";\n\n-- CreateEnum\nCREATE TYPE "AccountStatus" AS ENUM ('ACTIVE', 'SUSPENDED');\n\n-- CreateFunction\nCREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n  NEW."updatedAt" := now();\n  RETURN NEW;\nEND;\n$$;\n`;
    } else {
      switch (i % 12) {
        case 2:
          table++;
          sql = `-- CreateTable\nCREATE TABLE "Account${table}" (\n    "id" UUID NOT NULL DEFAULT gen_random_uuid(),\n    "email" CITEXT NOT NULL,\n    "status" "AccountStatus" NOT NULL DEFAULT 'ACTIVE',\n    "balance" DECIMAL(19,4) NOT NULL DEFAULT 0,\n    "createdAt" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,\n    "updatedAt" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,\n\n    CONSTRAINT "Account${table}_pkey" PRIMARY KEY ("id")\n);\n\n-- CreateIndex\nCREATE UNIQUE INDEX "Account${table}_email_key" ON "Account${table}"("email");\n`;
          break;
        case 3:
          sql = `CREATE TRIGGER "Account${table}_updated_at" BEFORE UPDATE ON ${t} FOR EACH ROW EXECUTE FUNCTION set_updated_at();\n`;
          break;
        case 4:
          sql = `-- Backfill\nINSERT INTO ${t} ("email", "balance") SELECT 'user' || g || '@example.com', g * 2.5 FROM generate_series(1, 300) g;\n`;
          break;
        case 5:
          values++;
          sql = `-- AlterEnum\nALTER TYPE "AccountStatus" ADD VALUE 'STATE_${values}';\n`;
          break;
        case 6:
          sql = `-- AlterTable\nALTER TABLE ${t} ADD COLUMN "nickname" TEXT;\n`;
          break;
        case 7:
          sql = `-- Backfill\nUPDATE ${t} SET "nickname" = split_part("email"::text, '@', 1) WHERE "nickname" IS NULL;\n`;
          break;
        case 8:
          sql = `-- CreateIndex\nCREATE INDEX "Account${table}_status_createdAt_idx" ON ${t}("status", "createdAt");\n`;
          break;
        case 9:
          sql = `CREATE OR REPLACE FUNCTION account${table}_total() RETURNS numeric LANGUAGE sql STABLE AS $fn$\n  SELECT coalesce(sum("balance"), 0) FROM ${t};\n$fn$;\n`;
          break;
        case 10:
          sql = `CREATE VIEW "ActiveAccount${table}" AS SELECT "id", "email", "balance" FROM ${t} WHERE "status" = 'ACTIVE';\n`;
          break;
        case 11:
          sql = `COMMENT ON COLUMN ${t}."balance" IS 'in the organization''s currency';\n`;
          break;
        case 0:
          sql = `-- AlterTable\nALTER TABLE ${t} ALTER COLUMN "nickname" SET DEFAULT '';\n`;
          break;
        default:
          sql = `-- AlterTable\nALTER TABLE ${t} ADD CONSTRAINT "Account${table}_balance_check" CHECK ("balance" >= 0);\n`;
      }
    }
    out.push({ name: `${ts}_change_${i}`, sql });
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
  const rows = await queryUrl(
    url,
    `SELECT string_agg(format('%s.%s %s', table_name, column_name, data_type), E'\\n' ORDER BY table_name, column_name) AS s FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> '_prisma_migrations'`,
  );
  return rows[0]!['s'] as string;
}

interface Comparison {
  dbopsMs: number;
  psqlMs: number;
  insideMs: number;
}

/** dbops and psql alternated, each on a fresh database; medians; the two schemas must be equal. */
async function compare(admin: string, label: string, history: Array<{ name: string; sql: string }>, rounds: number): Promise<Comparison> {
  const work = await mkdtemp(join(tmpdir(), `dbops-bench-${label}-`));
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
    const dbopsMs: number[] = [];
    const insideMs: number[] = [];
    const psqlMs: number[] = [];
    let dbopsSchema = '';
    let psqlSchema = '';
    const viaDbops = async (r: number) => {
      const a = await createDb(admin, `bench_${label}_dbops_${r}`);
      const t = performance.now();
      const { stdout } = await run(DBOPS, ['migrate', 'deploy', '--database-url', a, '--migrations-dir', dir, '--quiet', '--json'], {
        maxBuffer: 64 * 1024 * 1024,
      });
      dbopsMs.push(performance.now() - t);
      insideMs.push((JSON.parse(stdout).data.applied as Array<{ durationMs: number }>).reduce((sum, m) => sum + m.durationMs, 0));
      dbopsSchema = await schemaOf(a);
    };
    const viaPsql = async (r: number) => {
      const b = await createDb(admin, `bench_${label}_psql_${r}`);
      const t = performance.now();
      await run(psql, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', b, '-f', wrapper], { maxBuffer: 64 * 1024 * 1024 });
      psqlMs.push(performance.now() - t);
      psqlSchema = await schemaOf(b);
    };
    // Alternated, and each goes first every other round: the one that runs after the other's writes pays
    // for the checkpoints and background writes they cause.
    for (let r = 0; r < rounds; r++) {
      if (r % 2 === 0) {
        await viaDbops(r);
        await viaPsql(r);
      } else {
        await viaPsql(r);
        await viaDbops(r);
      }
    }
    if (dbopsSchema !== psqlSchema) throw new Error(`${label}: dbops and psql produced different schemas`);
    return { dbopsMs: median(dbopsMs), psqlMs: median(psqlMs), insideMs: median(insideMs) };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const seconds = (ms: number) => (ms / 1000).toFixed(2);

export async function bench(): Promise<BenchResult> {
  const admin = process.env['BENCH_DATABASE_URL'];
  if (!admin) throw new Error('BENCH_DATABASE_URL is not set (run through `npm run bench`)');
  const rounds = 5;
  const big = await compare(admin, 'generated', generateHistory(COUNT), rounds);
  const small = await compare(admin, 'realworld', generateRealWorld(REAL_WORLD), rounds);
  const bigRatio = big.dbopsMs / big.psqlMs;
  const smallRatio = small.dbopsMs / small.psqlMs;
  const smallAllowance = (small.dbopsMs - 150) / small.psqlMs;
  return {
    name: `migrate deploy as the README runs it (./dbops), against one psql session; median of ${rounds} alternated runs`,
    metrics: {
      [`${COUNT} generated: dbops (s)`]: seconds(big.dbopsMs),
      [`${COUNT} generated: psql (s)`]: seconds(big.psqlMs),
      [`${COUNT} generated: ratio dbops/psql`]: bigRatio.toFixed(2),
      [`${COUNT} generated: inside the migrations/psql`]: (big.insideMs / big.psqlMs).toFixed(2),
      [`${REAL_WORLD} real-world: dbops (s)`]: seconds(small.dbopsMs),
      [`${REAL_WORLD} real-world: psql (s)`]: seconds(small.psqlMs),
      [`${REAL_WORLD} real-world: ratio dbops/psql`]: smallRatio.toFixed(2),
      [`${REAL_WORLD} real-world: (dbops − 150 ms)/psql`]: smallAllowance.toFixed(2),
      [`${REAL_WORLD} real-world: dbops outside the migrations (s)`]: seconds(small.dbopsMs - small.insideMs),
    },
    goal: {
      description: `dbops ≤ 1.2 × psql on ${COUNT} generated migrations, ≤ 1.2 × psql + 150 ms on ${REAL_WORLD} real-world ones`,
      met: bigRatio <= 1.2 && smallAllowance <= 1.2,
    },
  };
}
