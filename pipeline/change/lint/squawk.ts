import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { packageRequire } from '../../core/package.ts';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { EnvError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { SourceText } from './text.ts';
import { type Finding } from '../../core/result.ts';

// squawk-cli 2.x `--reporter json`: one flat array for all files (files without findings are absent),
// 0-based line and column, columns counted in UTF-8 bytes. Validated so a changed format fails loudly.
export const SquawkFinding = z.object({
  file: z.string(),
  line: z.number().int().nonnegative(),
  column: z.number().int().nonnegative(),
  line_end: z.number().int().nonnegative(),
  column_end: z.number().int().nonnegative(),
  level: z.string(),
  message: z.string(),
  help: z.string().nullable().optional(),
  rule_name: z.string(),
});
export type SquawkFinding = z.output<typeof SquawkFinding>;

export interface SquawkBinary {
  command: string;
  /** Arguments before squawk's own (the script path when the Node shim is the fallback). */
  prefix: string[];
  version: string;
}

const require = packageRequire;
const versionOf = (pkgJson: string) => (JSON.parse(readFileSync(pkgJson, 'utf8')) as { version: string }).version;

let cached: SquawkBinary | undefined;

/**
 * The platform binary that squawk-cli installs as an optional dependency, called directly: its `squawk`
 * shim is a Node script that costs a Node start-up (~0.4 s) before squawk even starts. The shim (run with
 * this Node) is the fallback for platforms whose package is missing.
 */
export function squawkBinary(): SquawkBinary {
  if (cached) return cached;
  const exe = process.platform === 'win32' ? 'squawk.exe' : 'squawk';
  try {
    const pkg = require.resolve(`@squawk-cli/${process.platform}-${process.arch}/package.json`);
    const bin = join(dirname(pkg), 'bin', exe);
    if (existsSync(bin)) return (cached = { command: bin, prefix: [], version: versionOf(pkg) });
  } catch {
    /* no platform package: try the shim */
  }
  try {
    const pkg = require.resolve('squawk-cli/package.json');
    return (cached = { command: process.execPath, prefix: [join(dirname(pkg), 'js', 'bin', 'squawk')], version: versionOf(pkg) });
  } catch {
    throw new EnvError('squawk is not installed (npm package squawk-cli).', {
      hint: 'Run `npm ci` (squawk-cli and its platform binary are dependencies of dbops; optional dependencies must not be skipped).',
    });
  }
}

export interface SquawkGroup {
  files: string[];
  /** Matches how the executor runs these files: one transaction (atomic) or statement by statement (split). */
  assumeInTransaction: boolean;
  /** Rules whose findings would all be hidden: not computed, which saves squawk about a quarter of its time and most of its output. */
  exclude: string[];
}

export interface SquawkRun {
  findings: SquawkFinding[];
  version: string;
  durationMs: number;
  invocations: number;
  /** Rules excluded from every call. */
  excluded: string[];
}

function exec(command: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }),
    );
  });
}

/**
 * Runs squawk once per flag set (at most two: atomic and split files) over every file at once: one
 * process for all files is what keeps linting cheap (500 files: one call ≈ 0.2 s, one call per file ≈ 28 s).
 * Spawned directly rather than through the zx shell: no bash in between and no quoting of a thousand paths.
 */
export async function runSquawk(groups: SquawkGroup[], pgVersion: string, log: Logger): Promise<SquawkRun> {
  const bin = squawkBinary();
  const started = performance.now();
  const calls = groups.filter((g) => g.files.length > 0);
  let excludedEverywhere = calls.length === 0 ? [] : calls.map((g) => g.exclude).reduce((a, b) => a.filter((r) => b.includes(r)));
  const outputs = await Promise.all(
    calls.map(async ({ files, assumeInTransaction, exclude }) => {
      // --no-assume-in-transaction too, so a .squawk.toml in the repository cannot contradict the executor.
      const flags = ['--reporter', 'json', '--pg-version', pgVersion, assumeInTransaction ? '--assume-in-transaction' : '--no-assume-in-transaction'];
      const call = async (excluded: string[]) => {
        const all = excluded.length > 0 ? [...flags, `--exclude=${excluded.join(',')}`] : flags;
        log.debug({ cmd: `${[bin.command, ...bin.prefix, ...all].join(' ')} -- <${files.length} files>` }, 'exec');
        return exec(bin.command, [...bin.prefix, ...all, '--', ...files]).catch((e: Error) => {
          throw new EnvError(`squawk could not be started: ${e.message}`, { hint: 'Run `npm ci` to reinstall squawk-cli and its platform binary.' });
        });
      };
      let out = await call(exclude);
      // Another squawk version may not know a rule name dbops excludes (clap rejects it with exit 2): run everything then.
      if (out.code === 2 && exclude.length > 0 && /--exclude/.test(out.stderr)) {
        log.warn({ version: bin.version, stderr: out.stderr.trim() }, 'squawk rejected a rule name in --exclude; running every rule');
        excludedEverywhere = [];
        out = await call([]);
      }
      // Exit 1 means "findings", not a failure; anything else (2 = usage error, a crash) is.
      if (out.code !== 0 && out.code !== 1) {
        throw new EnvError(`squawk ${bin.version} failed (exit ${out.code}): ${out.stderr.trim() || out.stdout.trim()}`, {
          hint: 'Run `npm ci` to reinstall it; if it persists, run the command with --verbose to see the squawk command line.',
        });
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(out.stdout.trim() === '' ? '[]' : out.stdout);
      } catch {
        throw new EnvError(`squawk ${bin.version} printed something that is not JSON: ${out.stdout.slice(0, 200)}`, {
          hint: `stderr: ${out.stderr.trim().slice(0, 500)}`,
        });
      }
      const findings = z.array(SquawkFinding).safeParse(parsed);
      if (!findings.success)
        throw new EnvError(`squawk ${bin.version} changed its JSON format: ${findings.error.issues[0]?.message ?? ''}`, {
          hint: 'Pin squawk-cli to a 2.x version dbops supports (package.json).',
        });
      return findings.data;
    }),
  );
  const durationMs = Math.round(performance.now() - started);
  const findings = outputs.flat();
  log.info(
    { files: calls.reduce((n, g) => n + g.files.length, 0), invocations: calls.length, findings: findings.length, ms: durationMs, version: bin.version },
    'squawk done',
  );
  return { findings, version: bin.version, durationMs, invocations: calls.length, excluded: excludedEverywhere };
}

/**
 * A squawk finding with dbops positions: squawk's lines are 0-based and its columns 0-based UTF-8 byte
 * offsets in the line; a Finding has 1-based lines and 1-based character columns. The severity is set by
 * the caller from the profile and policy.
 */
export function mapSquawkFinding(s: SquawkFinding, file: { path: string; migration: string; source: SourceText }, note?: string): Finding {
  const column = file.source.column(s.line, s.column);
  // squawk's end is exclusive: the character before it is the last one of the span.
  const endColumn = Math.max(s.line_end === s.line ? column : 1, file.source.column(s.line_end, s.column_end) - 1);
  const help = [s.help, note].filter(Boolean).join(' ');
  return {
    rule: `squawk/${s.rule_name}`,
    severity: s.level === 'Error' ? 'error' : 'warning',
    message: s.message,
    file: file.path,
    line: s.line + 1,
    column,
    endLine: s.line_end + 1,
    endColumn,
    migration: file.migration,
    ...(help ? { help } : {}),
  };
}
