// squawk's JSON mapped to dbops findings (recorded from squawk-cli 2.66.0 on the fixture files), text
// positions in multi-byte files, and the profile's levels.
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { profileLevel, policyLevel, unknownRuleKeys, PRISMA_PROFILE } from '../../pipeline/change/lint/profile.ts';
import { silentLogger } from '../../pipeline/core/logger.ts';
import { mapSquawkFinding, runSquawk, SquawkFinding, squawkBinary } from '../../pipeline/change/lint/squawk.ts';
import { SourceText } from '../../pipeline/change/lint/text.ts';

const fixture = (name: string) => readFile(new URL(`../fixtures/lint/squawk/${name}`, import.meta.url), 'utf8');

describe('squawk findings', () => {
  it('become 1-based lines and 1-based character columns, also after multi-byte characters', async () => {
    const recorded = z.array(SquawkFinding).parse(JSON.parse(await fixture('squawk-2.66.0.json')));
    const source = new SourceText(await fixture('unicode.sql'));
    const fk = recorded.find((f) => f.file === 'unicode.sql' && f.rule_name === 'constraint-missing-not-valid')!;
    // squawk: line 1 (0-based), byte column 23; "Währung" holds one two-byte character before it.
    expect(fk).toMatchObject({ line: 1, column: 23, column_end: 109 });
    const mapped = mapSquawkFinding(fk, { path: 'prisma/migrations/x/migration.sql', migration: 'x', source }, 'profile note');
    expect(mapped).toEqual({
      rule: 'squawk/constraint-missing-not-valid',
      severity: 'warning',
      message: fk.message,
      file: 'prisma/migrations/x/migration.sql',
      line: 2,
      column: 23,
      endLine: 2,
      endColumn: 107,
      migration: 'x',
      help: 'Use `NOT VALID` with a later `VALIDATE CONSTRAINT` call. profile note',
    });
    const text = source.text.split('\n')[1]!;
    expect(text.slice(mapped.column! - 1, mapped.column! + 2)).toBe('ADD');
    expect(text[mapped.endColumn! - 1]).toBe(')'); // the span ends on the constraint's last character
    const index = mapSquawkFinding(
      recorded.find((f) => f.rule_name === 'require-concurrent-index-creation')!,
      { path: 'p', migration: 'x', source },
    );
    expect([index.line, index.column]).toEqual([4, 1]);
  });

  it('keeps syntax errors as errors with their position', async () => {
    const recorded = z.array(SquawkFinding).parse(JSON.parse(await fixture('squawk-2.66.0.json')));
    const first = recorded.find((f) => f.file === 'syntax-error.sql')!;
    const mapped = mapSquawkFinding(first, { path: 'f.sql', migration: 'x', source: new SourceText(await fixture('syntax-error.sql')) });
    expect(mapped).toMatchObject({ rule: 'squawk/syntax-error', severity: 'error', line: 2, column: 1 });
  });

  it('resolves the platform binary directly, not the Node shim', () => {
    const bin = squawkBinary();
    expect(bin.prefix).toEqual([]);
    expect(bin.command).toMatch(/@squawk-cli[\\/][a-z0-9]+-[a-z0-9]+[\\/]bin[\\/]squawk(\.exe)?$/);
    expect(bin.version).toMatch(/^2\.\d+\.\d+$/);
  });
});

describe('runSquawk', () => {
  const file = new URL('../fixtures/lint/squawk/unicode.sql', import.meta.url).pathname;

  it('excluded rules are not computed; a rule name squawk rejects falls back to running every rule', async () => {
    const all = await runSquawk([{ files: [file], assumeInTransaction: false, exclude: [] }], '15', silentLogger());
    expect(all.findings.map((f) => f.rule_name)).toContain('require-lock-timeout');
    const some = await runSquawk(
      [{ files: [file], assumeInTransaction: false, exclude: ['require-lock-timeout', 'require-statement-timeout'] }],
      '15',
      silentLogger(),
    );
    expect(some.findings.map((f) => f.rule_name)).not.toContain('require-lock-timeout');
    expect(some).toMatchObject({ invocations: 1, excluded: ['require-lock-timeout', 'require-statement-timeout'] });
    const unknown = await runSquawk([{ files: [file], assumeInTransaction: false, exclude: ['a-rule-squawk-never-had'] }], '15', silentLogger());
    expect(unknown.findings).toHaveLength(all.findings.length);
    expect(unknown.excluded).toEqual([]);
  });
});

describe('SourceText', () => {
  it('maps byte offsets to 1-based lines and character columns', () => {
    const s = new SourceText('ab\nçé x\n\nlast');
    expect(s.at(0)).toEqual({ line: 1, column: 1 });
    expect(s.at(3)).toEqual({ line: 2, column: 1 });
    expect(s.at(8)).toEqual({ line: 2, column: 4 }); // "x" after two 2-byte characters and a space
    expect(s.at(11)).toEqual({ line: 4, column: 1 });
    expect(s.column(1, 5)).toBe(4);
  });
});

describe('the prisma profile', () => {
  const atomic = { kind: 'migration', mode: 'atomic', steps: 1 } as const;
  it('turns off type preferences, timeouts and squawk rules dbops replaces, keeps locks and run-time failures', () => {
    for (const rule of [
      'prefer-text-field',
      'prefer-bigint-over-int',
      'prefer-identity',
      'prefer-timestamp-tz',
      'ban-char-field',
      'require-lock-timeout',
      'require-statement-timeout',
      'ban-drop-column',
      'prefer-robust-stmts',
    ]) {
      expect(profileLevel('prisma', rule, atomic).level, rule).toBe('off');
    }
    expect(profileLevel('prisma', 'require-lock-timeout', atomic).note).toContain('dbops migrate deploy` sets lock_timeout and statement_timeout');
    expect(profileLevel('prisma', 'require-concurrent-index-creation', atomic).level).toBe('warning');
    expect(profileLevel('prisma', 'ban-concurrent-index-creation-in-transaction', atomic).level).toBe('error');
    expect(profileLevel('prisma', 'a-rule-from-a-newer-squawk', atomic).level).toBe('warning');
  });

  it('reports prefer-robust-stmts only in files the executor runs in several steps', () => {
    expect(profileLevel('prisma', 'prefer-robust-stmts', { kind: 'migration', mode: 'split', steps: 1 }).level).toBe('off');
    expect(profileLevel('prisma', 'prefer-robust-stmts', { kind: 'migration', mode: 'split', steps: 3 }).level).toBe('warning');
  });

  it('the squawk profile keeps every rule as a warning', () => {
    expect(profileLevel('squawk', 'prefer-text-field', atomic).level).toBe('warning');
    expect(profileLevel('squawk', 'syntax-error', atomic).level).toBe('error');
  });

  it('policy levels answer to squawk/<rule> and the bare squawk name; unknown keys are found', () => {
    expect(policyLevel({ 'prefer-text-field': 'error' }, 'squawk/prefer-text-field')).toBe('error');
    expect(policyLevel({ 'squawk/prefer-text-field': 'notice' }, 'squawk/prefer-text-field')).toBe('notice');
    expect(policyLevel({ 'destructive/drop-column': 'off' }, 'destructive/drop-column')).toBe('off');
    expect(unknownRuleKeys({ 'prefer-txt-field': 'off', 'squawk/prefer-text-field': 'off', 'history/edited': 'warning' })).toEqual(['prefer-txt-field']);
    expect(Object.keys(PRISMA_PROFILE).length).toBeGreaterThan(30);
  });
});
