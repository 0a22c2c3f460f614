import { describe, expect, it } from 'vitest';
import { pgEnv } from '../../pipeline/infra/db/libpq.ts';
import { parseDatabaseUrl } from '../../pipeline/infra/db/url.ts';

describe('libpq environment of client tools', () => {
  // node-postgres reads sslmode=require as verify-full; the client tool must not check less than dbops itself.
  it('carries the URL (password included) and drops inherited variables that would connect or run elsewhere', () => {
    const inherited = {
      PATH: '/bin',
      PGHOSTADDR: '10.0.0.9',
      PGSERVICE: 'prod',
      PGOPTIONS: '-c default_transaction_read_only=on',
      PGSSLROOTCERT: 'root.crt',
      PGCONNECT_TIMEOUT: '99',
    };
    const env = pgEnv(parseDatabaseUrl('postgresql://app:s3cr%40t@db.internal:6432/astro?sslmode=require'), inherited, 'dbops test');
    expect(env).toMatchObject({
      PATH: '/bin',
      PGHOST: 'db.internal',
      PGPORT: '6432',
      PGUSER: 'app',
      PGDATABASE: 'astro',
      PGPASSWORD: 's3cr@t',
      PGAPPNAME: 'dbops test',
      PGSSLMODE: 'verify-full',
      PGSSLROOTCERT: 'root.crt',
      PGCONNECT_TIMEOUT: '10',
    });
    for (const key of ['PGHOSTADDR', 'PGSERVICE', 'PGOPTIONS']) expect(env).not.toHaveProperty(key);
  });

  it('keeps the options the URL itself gives, and an inherited password when the URL has none', () => {
    const env = pgEnv(parseDatabaseUrl('postgresql://app@db:5432/astro?options=-c%20search_path%3Dledger'), { PGPASSWORD: 'from-env' }, 'dbops test');
    expect(env['PGOPTIONS']).toBe('-c search_path=ledger');
    expect(env['PGPASSWORD']).toBe('from-env');
  });
});
