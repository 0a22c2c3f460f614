import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { packageRequire } from './package.ts';
import { redact } from './redact.ts';

export type { Logger };

/** The levels DBOPS_LOG_LEVEL may name: pino's own, and silent. */
export const LOG_LEVELS: readonly string[] = [...Object.keys(pino.levels.values), 'silent'];

export interface LoggerOptions {
  level?: string;
  /** Where lines go; stderr by default so stdout stays for the report and --json. */
  stream?: NodeJS.WritableStream;
  /** Human-readable lines (a terminal); JSON lines otherwise (CI, files). */
  pretty?: boolean;
}

/**
 * pino on stderr. Every line passes through `redact()` on its way out, so a connection string that
 * reaches a log field or an error message is masked even where no redact path names it.
 */
export function createLogger({ level = 'info', stream = process.stderr, pretty: usePretty = false }: LoggerOptions = {}): Logger {
  const scrubbed = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      stream.write(redact(chunk.toString()));
      done();
    },
  });
  // pino-pretty costs ~30 ms to load; only a terminal needs it.
  const destination = usePretty
    ? (packageRequire('pino-pretty') as typeof import('pino-pretty'))({
        destination: scrubbed,
        colorize: true,
        ignore: 'pid,hostname',
        translateTime: 'HH:MM:ss.l',
        sync: true,
      })
    : scrubbed;
  return pino(
    {
      level,
      base: undefined,
      redact: { paths: ['password', '*.password', 'connectionString', '*.connectionString', 'url', '*.url', 'databaseUrl'], censor: '***' },
    },
    destination,
  );
}

/** A logger that drops everything: for library use and tests that do not look at logs. */
export const silentLogger = (): Logger => pino({ level: 'silent' });
