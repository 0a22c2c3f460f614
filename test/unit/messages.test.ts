import { describe, expect, it } from 'vitest';
import { chronoUtc, p3018Message } from '../../pipeline/change/migrations/messages.ts';

describe('Prisma message formats', () => {
  it.each([
    ['2026-11-23T23:43:01.978000Z', '2026-11-23 23:43:01.978 UTC'],
    ['2023-06-15T18:12:37.505388Z', '2023-06-15 18:12:37.505388 UTC'],
    ['2023-06-15T18:12:37.000000Z', '2023-06-15 18:12:37 UTC'],
  ])('chrono renders %s as %s', (iso, text) => expect(chronoUtc(iso)).toBe(text));

  it('P3018 shows the SQLSTATE, the server message and the file position', () => {
    const error = Object.assign(new Error('syntax error at or near "TABL"'), { code: '42601', severity: 'ERROR', position: '31' });
    const script = 'CREATE TABLE a(id int);\nCREATE TABL b(id int);\n';
    const text = p3018Message('20240101000000_x', error, { script, sent: script, sentStartLine: 1 });
    expect(text).toContain('Migration name: 20240101000000_x\n\nDatabase error code: 42601\n\nDatabase error:\nERROR: syntax error at or near "TABL"');
    expect(text).toContain('Position:\n1   CREATE TABLE a(id int);\n2 > CREATE TABL b(id int);');
  });
});
