/**
 * Prisma's own schema engine (@prisma/schema-engine-wasm, the Rust code of Prisma 7.10) driven the way the
 * Prisma 7.10 CLI drives it for `migrate deploy` / `status` / `resolve`, for the interoperability tests. The
 * engine, the migrations folder reader and the adapter with its workarounds are dbops's own
 * (pipeline/infra/prisma/schema-engine.ts); what this adds is the CLI's lifecycle:
 * - like the CLI, which starts one engine process per command, every call gets a fresh engine and a fresh pg
 *   pool, both disposed when the call returns. That is also what releases Prisma's session advisory lock
 *   (72707369), which the engine never unlocks explicitly: with a long-lived pool the lock would stay held and
 *   a following `dbops` command would time out with P1002;
 * - engine errors are rethrown as {@link PrismaEngineError} with the Prisma code (P3009, P3018, …).
 */
import * as bg from '@prisma/schema-engine-wasm/schema_engine_bg';
import type { DiagnoseMigrationHistoryOutput, MigrationList, SchemaEngine } from '@prisma/schema-engine-wasm/schema_engine_bg';
import { parseDatabaseUrl } from '../../pipeline/infra/db/url.ts';
import {
  engineAdapterFactory,
  loadMigrationsList,
  loadSchemaEngine,
  NO_FILTERS,
  patchedPrismaPg,
  toEngineError,
} from '../../pipeline/infra/prisma/schema-engine.ts';

export type { DiagnoseMigrationHistoryOutput, MigrationList };
export { PrismaEngineError } from '../../pipeline/infra/prisma/schema-engine.ts';

type Open = Parameters<typeof patchedPrismaPg>[2];

/** The engine's adapter (patched, unbound) for `url`; the caller must `dispose()` what `connect()` returns. */
export async function prismaPgAdapterFactory(url: string) {
  const target = parseDatabaseUrl(url);
  return patchedPrismaPg(target, target.database, new Set());
}

export interface PrismaEngine {
  /** `prisma migrate deploy` (engine applyMigrations): names applied by this call. */
  deploy(dir: string): Promise<string[]>;
  /** `prisma migrate status` (engine diagnoseMigrationHistory, no shadow database). */
  diagnose(dir: string): Promise<DiagnoseMigrationHistoryOutput>;
  /** `prisma migrate resolve --applied <name>`. */
  markApplied(dir: string, name: string): Promise<void>;
  /** `prisma migrate resolve --rolled-back <name>`. */
  markRolledBack(name: string): Promise<void>;
  /** Log lines the engine emitted (e.g. "Applying migration `x`"), across calls. */
  logs: string[];
  /** Disposes anything still open (pools are normally closed after every call). */
  close(): Promise<void>;
}

/** Prisma's engine against one database. `url` is a postgres:// URL . */
export async function openPrismaEngine(url: string): Promise<PrismaEngine> {
  await loadSchemaEngine();
  const target = parseDatabaseUrl(url);
  const open: Open = new Set();
  const engines = new Set<SchemaEngine>();
  const logs: string[] = [];

  async function withEngine<T>(fn: (engine: SchemaEngine) => Promise<T>): Promise<T> {
    const adapterFactory = await engineAdapterFactory(target, target.database, open);
    const engine = await bg.SchemaEngine.new(
      { datamodels: undefined },
      (line: unknown) => {
        logs.push(String(line));
      },
      adapterFactory as never,
    );
    engines.add(engine);
    try {
      return await fn(engine);
    } catch (e) {
      throw toEngineError(e);
    } finally {
      engines.delete(engine);
      engine.free();
      await Promise.all([...open].map((a) => a.dispose()));
    }
  }

  return {
    logs,
    deploy: async (dir) => {
      const migrationsList = await loadMigrationsList(dir);
      return (await withEngine((e) => e.applyMigrations({ migrationsList, filters: NO_FILTERS }))).appliedMigrationNames;
    },
    diagnose: async (dir) => {
      const migrationsList = await loadMigrationsList(dir);
      return withEngine((e) => e.diagnoseMigrationHistory({ migrationsList, optInToShadowDatabase: false, filters: NO_FILTERS }));
    },
    markApplied: async (dir, migrationName) => {
      const migrationsList = await loadMigrationsList(dir);
      await withEngine((e) => e.markMigrationApplied({ migrationsList, migrationName }));
    },
    markRolledBack: async (migrationName) => {
      await withEngine((e) => e.markMigrationRolledBack({ migrationName }));
    },
    close: async () => {
      for (const e of engines) e.free();
      engines.clear();
      await Promise.all([...open].map((a) => a.dispose()));
    },
  };
}
