import { describe, expect, it } from 'vitest';
import { UsageError } from '../../pipeline/core/errors.ts';
import { redact, registerSecret } from '../../pipeline/core/redact.ts';
import { parseDatabaseUrl } from '../../pipeline/infra/db/url.ts';

describe('redact', () => {
  it('masks passwords in URLs and key=value strings, and registered secrets anywhere', () => {
    expect(redact('postgresql://app:s3cr%40t@db:5432/x and postgres://u:p@h/d')).toBe('postgresql://app:***@db:5432/x and postgres://u:***@h/d');
    expect(redact('host=db password=hunter22 user=x')).toBe('host=db password=*** user=x');
    registerSecret('Zebra!Secret');
    expect(redact('auth failed for Zebra!Secret and Zebra%21Secret')).toBe('auth failed for *** and ***');
    expect(redact('postgresql://nopass@h/d')).toBe('postgresql://nopass@h/d');
  });
});

describe('parseDatabaseUrl', () => {
  it("takes Prisma's schema parameter and keeps it away from node-postgres", () => {
    const t = parseDatabaseUrl('postgresql://app:pw%2Fx@db.internal:6543/astro?schema=Tenant1&connection_limit=5&sslmode=disable');
    expect(t).toMatchObject({ schema: 'Tenant1', schemaExplicit: true, host: 'db.internal', port: 6543, database: 'astro', user: 'app' });
    expect(t.config.password).toBe('pw/x');
    expect(JSON.stringify(t.config)).not.toContain('Tenant1');
    expect(JSON.stringify(t.config)).not.toContain('connection_limit');
    expect(t.display).toBe('postgresql://app:***@db.internal:6543/astro?schema=Tenant1&connection_limit=5&sslmode=disable');
  });

  it('defaults to public and lets --schema override', () => {
    expect(parseDatabaseUrl('postgres://u@h/d')).toMatchObject({ schema: 'public', schemaExplicit: false });
    expect(parseDatabaseUrl('postgres://u@h/d?schema=a', 'b')).toMatchObject({ schema: 'b', schemaExplicit: true });
  });

  it('rejects what is not a PostgreSQL URL (P1013, exit 2) without echoing it', () => {
    expect(() => parseDatabaseUrl('mysql://u:topsecret@h/d')).toThrow(UsageError);
    try {
      parseDatabaseUrl('not a url with topsecret');
    } catch (e) {
      expect((e as UsageError).code).toBe('P1013');
      expect((e as Error).message).not.toContain('topsecret');
    }
  });
});
