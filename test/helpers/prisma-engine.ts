/**
 * Prisma's own schema engine (Rust, compiled to WASM: @prisma/schema-engine-wasm 7.10) driven the way
 * the Prisma 7.10 CLI drives it for `migrate deploy` / `status` / `resolve`, over @prisma/adapter-pg.
 *
 * - The migrations folder is read the way the CLI reads it (prisma/prisma `listMigrations.ts`):
 *   directories only (symlinks skipped), sorted with `localeCompare`, `migration.sql` read as UTF-8
 *   (a missing file becomes an error entry), `migration_lock.toml` as UTF-8 or null.
 * - Like the CLI, which starts one engine process per command, every call gets a fresh engine and a
 *   fresh pg pool, and both are disposed when the call returns. That is also what releases Prisma's
 *   session advisory lock (72707369), which the engine never unlocks explicitly: with a long-lived
 *   pool the lock would stay held and a following `dbops` command would time out with P1002.
 * - Adapter workarounds (@prisma/adapter-pg 7.10.1):
 *   1. the pool gets host/port/user/password/database, never a connectionString;
 *   2. `executeScript` sends the whole migration script as ONE simple query (no naive `;` split, no
 *      spreading statements over pool connections), as native Prisma ≤ 7.3 does (≥ 7.4 splits with
 *      sqlparser; identical for the single-statement scripts used with it);
 *   3. result columns of PostgreSQL's internal `"char"` type (oid 18), which the adapter rejects as
 *      UnsupportedNativeDataType, are reported as Character.
 * - Engine errors are rethrown as {@link PrismaEngineError} with the Prisma code (P3009, P3018, …)
 *   pulled out of the thrown value.
 */
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { PrismaPg } from '@prisma/adapter-pg';
import { bindMigrationAwareSqlAdapterFactory, ColumnTypeEnum } from '@prisma/driver-adapter-utils';
import * as bg from '@prisma/schema-engine-wasm/schema_engine_bg';
import type { DiagnoseMigrationHistoryOutput, MigrationDirectory, MigrationList, SchemaEngine } from '@prisma/schema-engine-wasm/schema_engine_bg';

export type { DiagnoseMigrationHistoryOutput, MigrationList };

export const NO_FILTERS = { externalTables: [], externalEnums: [] };

/** An error thrown by Prisma's engine, with its user-facing code when it has one (null otherwise). */
export class PrismaEngineError extends Error {
  code: string | null;
  raw: unknown;
  constructor(message: string, code: string | null, raw: unknown) {
    super(code ? `${code}: ${message}` : message);
    this.name = 'PrismaEngineError';
    this.code = code;
    this.raw = raw;
  }
}

/**
 * Where the code sits: wasm-bindgen turns the engine's JSON-RPC-style error into a JS Error whose
 * `message` is the user-facing message and which carries `code` (e.g. "P3009") and `meta` as own
 * properties. Searched defensively (own props, then a `Pxxxx` at the start of the text).
 */
export function toEngineError(e: unknown): PrismaEngineError {
  const obj = (typeof e === 'object' && e !== null ? e : {}) as Record<string, unknown>;
  const message = typeof obj['message'] === 'string' ? (obj['message'] as string) : String(e);
  const direct = [obj['code'], obj['error_code'], obj['errorCode'], (obj['meta'] as Record<string, unknown> | undefined)?.['code']].find(
    (c) => typeof c === 'string' && /^P\d{4}$/.test(c),
  ) as string | undefined;
  const code = direct ?? /^(P\d{4})\b/.exec(message)?.[1] ?? null;
  return new PrismaEngineError(message, code, e);
}

let wasmReady: Promise<void> | undefined;
/** Instantiates the engine's .wasm once per process (Node 20 cannot import .wasm modules). */
function loadWasm(): Promise<void> {
  wasmReady ??= (async () => {
    const require = createRequire(import.meta.url);
    const wasmPath = require.resolve('@prisma/schema-engine-wasm/schema_engine_bg').replace(/\.js$/, '.wasm');
    // (typed locally: this project's lib settings do not declare the WebAssembly global)
    const wasm = (
      globalThis as unknown as {
        WebAssembly: { instantiate(bytes: Uint8Array, imports: object): Promise<{ instance: { exports: { __wbindgen_start(): void } } }> };
      }
    ).WebAssembly;
    const { instance } = await wasm.instantiate(await readFile(wasmPath), { './schema_engine_bg.js': bg });
    bg.__wbg_set_wasm(instance.exports);
    instance.exports.__wbindgen_start();
  })();
  return wasmReady;
}

/** Reads a migrations folder exactly like the Prisma ≥ 6.6 CLI. */
export async function loadMigrationsList(dir: string): Promise<MigrationList> {
  const baseDir = resolve(dir);
  let lockContent: string | null = null;
  try {
    lockContent = await readFile(join(baseDir, 'migration_lock.toml'), 'utf-8');
  } catch {
    /* missing lock file: no provider check */
  }
  let names: string[] = [];
  try {
    names = (await readdir(baseDir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch {
    /* any listing error: no migrations */
  }
  names.sort((a, b) => a.localeCompare(b));
  const migrationDirectories: MigrationDirectory[] = [];
  for (const name of names) {
    let content: MigrationDirectory['migrationFile']['content'];
    try {
      content = { tag: 'ok', value: await readFile(join(baseDir, name, 'migration.sql'), 'utf-8') };
    } catch (e) {
      content = { tag: 'error', value: e instanceof Error ? e.message : String(e) };
    }
    migrationDirectories.push({ path: name, migrationFile: { path: 'migration.sql', content } });
  }
  return { baseDir, lockfile: { path: 'migration_lock.toml', content: lockContent }, shadowDbInitScript: '', migrationDirectories };
}

interface PgQueryableInternals {
  client: { query(text: string): Promise<unknown> };
  onError(e: unknown): never;
  performIO(q: unknown): Promise<{ fields: Array<{ dataTypeID: number }>; rows: unknown[] }>;
  queryRaw(q: unknown): Promise<{ columnTypes: number[] }>;
  executeScript(script: string): Promise<void>;
  dispose(): Promise<void>;
}

const PG_CHAR = 18;
const PG_TEXT = 25;

/** PrismaPg with the three workarounds; remembers every adapter it hands out so they can be disposed. */
function patchedFactory(config: { host: string; port: number; user: string; password: string; database: string }, open: Set<PgQueryableInternals>) {
  const factory = new PrismaPg(config);
  const connect = factory.connect.bind(factory);
  const patch = (adapter: PgQueryableInternals): PgQueryableInternals => {
    open.add(adapter);
    // (2) the whole script in one simple-query message, on one pool connection.
    adapter.executeScript = async (script: string) => {
      try {
        await adapter.client.query(script);
      } catch (e) {
        adapter.onError(e);
      }
    };
    // (3) "char" columns: let the adapter see text, then report them as Character (keyed by query object).
    const performIO = adapter.performIO.bind(adapter);
    const queryRaw = adapter.queryRaw.bind(adapter);
    const charColumns = new WeakMap<object, number[]>();
    adapter.performIO = async (q) => {
      const res = await performIO(q);
      const chars: number[] = [];
      res.fields.forEach((f, i) => {
        if (f.dataTypeID === PG_CHAR) {
          chars.push(i);
          f.dataTypeID = PG_TEXT;
        }
      });
      if (chars.length > 0 && typeof q === 'object' && q !== null) charColumns.set(q, chars);
      return res;
    };
    adapter.queryRaw = async (q) => {
      const res = await queryRaw(q);
      for (const i of (typeof q === 'object' && q !== null && charColumns.get(q)) || []) res.columnTypes[i] = ColumnTypeEnum.Character;
      return res;
    };
    const dispose = adapter.dispose.bind(adapter);
    adapter.dispose = async () => {
      open.delete(adapter);
      await dispose();
    };
    return adapter;
  };
  factory.connect = async () => patch((await connect()) as unknown as PgQueryableInternals) as never;
  factory.connectToShadowDb = async () => {
    throw new Error('prisma-engine helper: no shadow database (optInToShadowDatabase must be false)');
  };
  return factory;
}

/** The engine's adapter (patched, unbound) for `url`; the caller must `dispose()` what `connect()` returns. */
export function prismaPgAdapterFactory(url: string) {
  return patchedFactory(pgConfig(url), new Set());
}

function pgConfig(url: string) {
  const u = new URL(url);
  if (u.searchParams.has('schema')) throw new Error('prisma-engine helper: ?schema= is not supported');
  return {
    host: decodeURIComponent(u.hostname.replace(/^\[|\]$/g, '')) || 'localhost',
    port: Number(u.port || 5432),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database: decodeURIComponent(u.pathname.slice(1)),
  };
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

/** Prisma's engine against one database. `url` is a postgres:// URL (no `schema` parameter support). */
export async function openPrismaEngine(url: string): Promise<PrismaEngine> {
  await loadWasm();
  const config = pgConfig(url);
  const open = new Set<PgQueryableInternals>();
  const engines = new Set<SchemaEngine>();
  const logs: string[] = [];

  async function withEngine<T>(fn: (engine: SchemaEngine) => Promise<T>): Promise<T> {
    const adapterFactory = bindMigrationAwareSqlAdapterFactory(patchedFactory(config, open));
    const engine = await bg.SchemaEngine.new(
      { datamodels: undefined },
      (line: unknown) => {
        logs.push(String(line));
      },
      adapterFactory,
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
