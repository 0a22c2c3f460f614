/**
 * Prisma's own schema engine (Rust, compiled to WebAssembly: @prisma/schema-engine-wasm, the build that
 * matches the `prisma` package) driven over @prisma/adapter-pg, so that `migrate new` and `drift` compute
 * exactly the SQL `prisma migrate dev --create-only` and `prisma migrate diff` would, with no native engine
 * to download and no network.
 *
 * What the WebAssembly build needs that the CLI's native engine does itself:
 * - A shadow database. The engine asks the adapter factory (`connectToShadowDb`) for one each time it
 *   replays a migrations folder and never resets it, so every call gets a fresh empty database of its own
 *   on the server given, dropped when the session closes (marked with this process, so a later session
 *   sweeps the ones a killed run left).
 * - `createMigration` reads the migrations' schema only from the engine's cache, which `devDiagnostic`
 *   fills: as in `migrate dev`, the migrations are applied to a main throwaway database first, then
 *   `devDiagnostic`, then `createMigration` (without the cache it fails with "PostgreSQL shadow DB must be
 *   provided through an external factory").
 * - Adapter workarounds (@prisma/adapter-pg 7.10): the pool gets host/port/user/password/database, never a
 *   connection string; a script is sent as ONE simple query (as the native engine does; the adapter would
 *   split it); columns of PostgreSQL's internal `"char"` type, which the adapter rejects, are reported as
 *   Character.
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import type { ClientConfig } from 'pg';
import { ConfigError, EnvError, UsageError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { connect } from '../db/client.ts';
import { dropDatabase, markOwner, onDatabase, ownership, sweepOrphans } from '../db/clone.ts';
import { quoteIdent, type DbTarget } from '../db/url.ts';

type Bg = typeof import('@prisma/schema-engine-wasm/schema_engine_bg');
type Engine = import('@prisma/schema-engine-wasm/schema_engine_bg').SchemaEngine;
export type MigrationList = import('@prisma/schema-engine-wasm/schema_engine_bg').MigrationList;
export type DiffTarget = import('@prisma/schema-engine-wasm/schema_engine_bg').DiffTarget;
export type SchemaFile = { path: string; content: string };

/** Prefix of every database an engine session creates (main and shadow databases). */
export const ENGINE_PREFIX = 'dbops_engine_';
/** No externally managed tables or enums (prisma.config.ts `tables.external`): dbops manages the whole schema. */
export const NO_FILTERS = { externalTables: [], externalEnums: [] };

/** An error of Prisma's engine, with its user-facing code (P1012, P3006, …) when it has one. */
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
 * wasm-bindgen turns the engine's error into a JS Error whose message is the user-facing text and which
 * carries `code` as an own property; searched defensively (own props, then a `Pxxxx` at the start).
 */
export function toEngineError(e: unknown): PrismaEngineError {
  if (e instanceof PrismaEngineError) return e;
  const obj = (typeof e === 'object' && e !== null ? e : {}) as Record<string, unknown>;
  const message = typeof obj['message'] === 'string' ? (obj['message'] as string) : String(e);
  const direct = [obj['code'], obj['error_code'], obj['errorCode'], (obj['meta'] as Record<string, unknown> | undefined)?.['code']].find(
    (c) => typeof c === 'string' && /^P\d{4}$/.test(c),
  ) as string | undefined;
  const code = direct ?? /^(P\d{4})\b/.exec(message)?.[1] ?? null;
  return new PrismaEngineError(message, code, e);
}

let loaded: Promise<Bg> | undefined;
/** Instantiates the engine's .wasm once per process (Node 20 cannot import .wasm modules). */
export function loadSchemaEngine(): Promise<Bg> {
  loaded ??= (async () => {
    const bg = await import('@prisma/schema-engine-wasm/schema_engine_bg');
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
    return bg;
  })();
  loaded.catch(() => (loaded = undefined));
  return loaded;
}

/** The engine's version: the prisma-engines commit it was built from. */
export const schemaEngineVersion = async (): Promise<string> => (await loadSchemaEngine()).version();

/** Reads a migrations folder exactly as the Prisma ≥ 6.6 CLI does (directories only, localeCompare order, UTF-8). */
export async function loadMigrationsList(dir: string): Promise<MigrationList> {
  const baseDir = resolve(dir);
  const lockContent = await readFile(join(baseDir, 'migration_lock.toml'), 'utf-8').catch(() => null);
  const names = await readdir(baseDir, { withFileTypes: true }).then(
    (entries) => entries.filter((d) => d.isDirectory()).map((d) => d.name),
    () => [] as string[],
  );
  names.sort((a, b) => a.localeCompare(b));
  const migrationDirectories: MigrationList['migrationDirectories'] = [];
  for (const name of names) {
    const content = await readFile(join(baseDir, name, 'migration.sql'), 'utf-8').then(
      (value) => ({ tag: 'ok' as const, value }),
      (e: Error) => ({ tag: 'error' as const, value: e.message }),
    );
    migrationDirectories.push({ path: name, migrationFile: { path: 'migration.sql', content } });
  }
  return { baseDir, lockfile: { path: 'migration_lock.toml', content: lockContent }, shadowDbInitScript: '', migrationDirectories };
}

/** The list with one more migration, held in memory (nothing written). */
export const withMigration = (list: MigrationList, name: string, script: string): MigrationList => ({
  ...list,
  migrationDirectories: [...list.migrationDirectories, { path: name, migrationFile: { path: 'migration.sql', content: { tag: 'ok', value: script } } }],
});

interface AdapterInternals {
  client: { query(text: string): Promise<unknown> };
  onError(e: unknown): never;
  performIO(q: unknown): Promise<{ fields: Array<{ dataTypeID: number }>; rows: unknown[] }>;
  queryRaw(q: unknown): Promise<{ columnTypes: number[] }>;
  executeScript(script: string): Promise<void>;
  dispose(): Promise<void>;
}

const PG_CHAR = 18;
const PG_TEXT = 25;

/** node-postgres settings the adapter accepts: discrete fields of the target, another database. */
function poolConfig(target: DbTarget, database: string): ClientConfig {
  const { connectionString: _ignored, ...rest } = target.config as ClientConfig & { connectionString?: string };
  return { ...rest, database };
}

/**
 * PrismaPg with the workarounds (not yet bound for the engine: `bindMigrationAwareSqlAdapterFactory` does
 * that); every adapter it hands out is remembered so it can be disposed.
 */
export async function patchedPrismaPg(target: DbTarget, database: string, open: Set<AdapterInternals>, shadow?: () => Promise<string>) {
  const [{ PrismaPg }, { ColumnTypeEnum }] = await Promise.all([import('@prisma/adapter-pg'), import('@prisma/driver-adapter-utils')]);
  const patch = (adapter: AdapterInternals): AdapterInternals => {
    open.add(adapter);
    adapter.executeScript = async (script: string) => {
      try {
        await adapter.client.query(script);
      } catch (e) {
        adapter.onError(e);
      }
    };
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
  const factory = new PrismaPg(poolConfig(target, database));
  const connectMain = factory.connect.bind(factory);
  factory.connect = async () => patch((await connectMain()) as unknown as AdapterInternals) as never;
  factory.connectToShadowDb = async () => {
    if (!shadow) throw new Error('no shadow database for this engine');
    const name = await shadow();
    return patch((await new PrismaPg(poolConfig(target, name)).connect()) as unknown as AdapterInternals) as never;
  };
  return factory;
}

/** The patched factory bound the way the engine takes it. */
export async function engineAdapterFactory(...args: Parameters<typeof patchedPrismaPg>): Promise<unknown> {
  const [{ bindMigrationAwareSqlAdapterFactory }, factory] = await Promise.all([import('@prisma/driver-adapter-utils'), patchedPrismaPg(...args)]);
  return bindMigrationAwareSqlAdapterFactory(factory);
}

export interface CreatedMigration {
  /** `<UTC timestamp>_<name>`, as the engine generates it. */
  directory: string;
  /** migration.sql as Prisma writes it; null when the schema matches the migrations. */
  script: string | null;
}

export interface DiffOutput {
  empty: boolean;
  /** The SQL script (`script: true`) or the engine's human summary. */
  text: string;
}

/** One engine with its throwaway databases on a server. */
export interface SchemaEngineSession {
  /** `prisma migrate dev --create-only --name NAME`, without touching any real database. */
  createMigration(input: { schema: SchemaFile[]; migrations: MigrationList; name: string }): Promise<CreatedMigration>;
  /** `prisma migrate diff --from … --to … [--script]`. */
  diff(from: DiffTarget, to: DiffTarget, opts: { script: boolean }): Promise<DiffOutput>;
  /** Another empty throwaway database on the same server (the caller fills it), dropped by `close()` like the others. */
  database(label: string): Promise<DbTarget>;
  /** Drops every database the session created; never throws. */
  close(): Promise<void>;
}

/**
 * An engine whose main and shadow databases are throwaway databases on `server` (the embedded cluster, or
 * a server the caller names), created with `template0` and dropped by `close()`.
 */
export async function openSchemaEngine(server: DbTarget, log: Logger): Promise<SchemaEngineSession> {
  const bg = await loadSchemaEngine();
  const admin = await connect(server, { log, applicationName: 'dbops schema engine (admin)' });
  const run = randomBytes(3).toString('hex');
  const created: string[] = [];
  const open = new Set<AdapterInternals>();
  let serial = 0;
  let diffMain: Promise<string> | undefined;
  const createDb = async (role: string): Promise<string> => {
    const name = `${ENGINE_PREFIX}${run}_${role}${serial++}`;
    try {
      await admin.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0`);
    } catch (e) {
      throw new EnvError(`Cannot create the throwaway database ${name} on ${server.display}: ${(e as Error).message}.`, {
        hint: 'The schema engine replays the migrations on throwaway databases: the role needs CREATEDB on that server (the embedded cluster has it; `dbops local up`).',
        cause: e,
      });
    }
    created.push(name);
    await markOwner(admin, name, ownership());
    return name;
  };
  try {
    await sweepOrphans(admin, ENGINE_PREFIX, log);
  } catch (e) {
    await admin.end().catch(() => undefined);
    throw e;
  }

  async function withEngine<T>(main: string, fn: (engine: Engine) => Promise<T>): Promise<T> {
    const factory = await engineAdapterFactory(server, main, open, () => createDb('shadow'));
    const logs: string[] = [];
    let engine: Engine | undefined;
    try {
      engine = await bg.SchemaEngine.new({ datamodels: undefined }, (line: unknown) => void logs.push(String(line)), factory as never);
      return await fn(engine);
    } catch (e) {
      throw toEngineError(e);
    } finally {
      engine?.free();
      await Promise.all([...open].map((a) => a.dispose().catch(() => undefined)));
      log.debug({ lines: logs.length }, 'schema engine log');
    }
  }

  return {
    createMigration: async ({ schema, migrations, name }) => {
      const main = await createDb('main');
      return withEngine(main, async (engine) => {
        await engine.applyMigrations({ migrationsList: migrations, filters: NO_FILTERS });
        const diagnostic = await engine.devDiagnostic({ migrationsList: migrations, filters: NO_FILTERS });
        if (diagnostic.action.tag === 'reset')
          throw new ConfigError(`Prisma's engine cannot create a migration on top of these migrations: ${diagnostic.action.reason}`, {
            hint: 'Check that every migration applies cleanly to an empty database (`dbops rehearse --all`).',
          });
        const out = await engine.createMigration({
          draft: false,
          migrationName: name,
          migrationsList: migrations,
          schema: { files: schema },
          filters: NO_FILTERS,
        });
        return { directory: out.generatedMigrationName, script: out.migrationScript };
      });
    },
    diff: async (from, to, { script }) => {
      // A diff of migrations and datamodels only needs a main connection to start the engine: one database serves every diff.
      const main = await (diffMain ??= createDb('main'));
      return withEngine(main, async (engine) => {
        const out = await engine.diff({ from, to, script, exitCode: true, filters: NO_FILTERS });
        return { empty: out.exitCode === 0, text: out.stdout ?? '' };
      });
    },
    database: async (label) => onDatabase(server, await createDb(label.replace(/[^a-z0-9]+/g, '_'))),
    close: async () => {
      await Promise.all([...open].map((a) => a.dispose().catch(() => undefined)));
      for (const name of created.splice(0))
        await dropDatabase(admin, name).catch((e: unknown) => log.warn({ database: name, err: (e as Error).message }, 'could not drop a throwaway database'));
      await admin.end().catch(() => undefined);
    },
  };
}

/**
 * The engine's errors in dbops's terms: an invalid schema.prisma is a usage error naming the file (the
 * engine's text has the line and column), a migration that does not replay is a configuration error
 * naming it; anything else stays as it is.
 */
export function explainEngineError(e: unknown, files: { schema: string; migrationsDir: string }): unknown {
  if (!(e instanceof PrismaEngineError)) return e;
  if (e.code === 'P1012' || /error validating|schema parsing|Prisma schema validation/i.test(e.message))
    return new UsageError(`${files.schema} is not a valid Prisma schema:\n${e.message.replace(/^P1012: /, '')}`, {
      hint: `Fix the lines named above (\`npx prisma validate --schema ${files.schema}\` shows the same).`,
      cause: e,
    });
  if (e.code === 'P3006' || /failed to apply cleanly to the shadow database/.test(e.message))
    return new ConfigError(`A migration of ${files.migrationsDir} does not apply to an empty database: ${firstLines(e.message)}`, {
      hint: 'Fix that migration (or its order) first; `dbops rehearse --all` replays them all.',
      cause: e,
    });
  return e;
}

const firstLines = (text: string): string =>
  text
    .replace(/^P\d{4}: /, '')
    .split('\n')
    .filter((l) => l.trim() && !/^\s+\d+: |^\s+(with|at) /.test(l))
    .slice(0, 4)
    .join(' ');
