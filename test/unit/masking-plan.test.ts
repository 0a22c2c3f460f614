// The masking planner on catalog facts: which UPDATEs it writes, which columns the scan searches and for
// whose values, every policy problem at once with the key to fix; and the fake vocabulary, which must never
// make a real name (a fake equal to an original would read as an original left behind).
import { describe, expect, it } from 'vitest';
import { MaskingPolicy } from '../../pipeline/policy/masking.ts';
import { planMasking, type ColumnFact } from '../../pipeline/protection/masking/plan.ts';
import { fakeNameParts, maskExpression } from '../../pipeline/protection/masking/rules.ts';
import { FIRST_NAMES, LAST_NAMES } from '../../pipeline/seed/catalog.ts';

const col = (table: string, column: string, base: string, extra: Partial<ColumnFact> = {}): ColumnFact => ({
  schema: 'public',
  table,
  column,
  type: base === 'varchar' ? 'character varying(32)' : base,
  base,
  category: ['text', 'varchar'].includes(base) ? 'S' : base === 'jsonb' ? 'U' : base === 'inet' ? 'I' : 'N',
  element: null,
  notNull: false,
  maxLength: base === 'varchar' ? 32 : null,
  generated: false,
  ...extra,
});

const facts = [
  col('User', 'id', 'uuid', { notNull: true }),
  col('User', 'email', 'text', { notNull: true }),
  col('User', 'displayName', 'text', { notNull: true }),
  col('User', 'phoneNumber', 'text'),
  col('Customer', 'taxId', 'varchar'),
  col('Customer', 'supportEmail', 'text'),
  col('Invoice', 'notes', 'text'),
  col('AuditEvent', 'payload', 'jsonb'),
  col('AuditEvent', 'ipAddress', 'inet'),
  col('Invoice', 'total', 'numeric'),
];

const policy = (tables: Record<string, unknown>) => MaskingPolicy.parse({ version: 1, tables });

describe('planMasking', () => {
  it('writes one UPDATE per table and searches every unmasked text-like column for the originals of masked and personal-looking columns', () => {
    const { plan, problems } = planMasking(
      policy({
        User: { email: { rule: 'fake', as: 'email' }, displayName: { rule: 'hash' } },
        Customer: { taxId: { rule: 'partial' }, supportEmail: { rule: 'keep', not_personal: 'the shared support desk' } },
        AuditEvent: { ipAddress: { rule: 'fake', as: 'ip' } },
      }),
      facts,
      4,
    );
    expect(problems).toEqual([]);
    expect(plan.tables.map((t) => [t.table, t.columns.map((c) => c.fact.column)])).toEqual([
      ['User', ['email', 'displayName']],
      ['Customer', ['taxId']],
      ['AuditEvent', ['ipAddress']],
    ]);
    expect(plan.tables[0]!.sql).toMatch(
      /^UPDATE "public"\."User"\n {3}SET "email" = .*\n.*"displayName" = .*\n WHERE "email" IS NOT NULL OR "displayName" IS NOT NULL$/s,
    );
    // A varchar(32) is cut to 32 characters, inet is read through host().
    expect(plan.tables[1]!.sql).toContain('::character varying(32)');
    expect(plan.tables[2]!.sql).toContain('host("ipAddress")');
    // Masked columns hold only what their rule wrote; everything else text-like is searched, JSON included.
    expect(plan.haystack.map((h) => `${h.fact.table}.${h.fact.column}:${h.kind}`)).toEqual([
      'User.phoneNumber:text',
      'Customer.supportEmail:text',
      'Invoice.notes:text',
      'AuditEvent.payload:json',
    ]);
    // Originals of the masked columns, and of phoneNumber (looks personal, no rule); not of the support desk address.
    expect(plan.needles.map((n) => `${n.fact.table}.${n.fact.column}:${n.reason}`)).toEqual([
      'User.email:masked',
      'User.displayName:masked',
      'User.phoneNumber:personal',
      'Customer.taxId:masked',
      'AuditEvent.ipAddress:masked',
    ]);
    expect(plan.needles[0]!.sql).toContain('length("email"::text) >= 4');
  });

  it('names every rule that does not fit the database, with its key', () => {
    const { problems } = planMasking(
      policy({
        User: { emial: { rule: 'hash' }, displayName: { rule: 'null' }, id: { rule: 'fake', as: 'email' } },
        Invoice: { total: { rule: 'hash' }, notes: { rule: 'fake', as: 'birth_date' } },
        Invoices: { notes: { rule: 'null' } },
        'audit.Log': { line: { rule: 'null' } },
      }),
      [...facts, col('Invoice', 'totalText', 'text', { generated: true })],
      4,
    );
    expect(problems).toEqual([
      'tables.User.emial: public.User has no column emial. Did you mean "email"?',
      'tables.User.displayName: rule null cannot mask User.displayName: it is NOT NULL.',
      'tables.User.id: rule fake cannot mask User.id: its type is uuid; fake as email makes text (use null, or a rule on a text column).',
      'tables.Invoice.total: rule hash cannot mask Invoice.total: its type is numeric; hash makes text (use null, or a rule on a text column).',
      'tables.Invoices: the database has no table public.Invoices. Did you mean "Invoice"?',
      'tables.audit.Log: the database has no table audit.Log.',
    ]);
  });

  it('keeps NULL as NULL and leaves keep columns out of the UPDATE', () => {
    const c = { ident: '"x"', type: 'text', maxLength: null, network: false };
    expect(maskExpression({ rule: 'keep' }, c)).toBeUndefined();
    expect(maskExpression({ rule: 'null' }, c)).toBe('NULL');
    // Partial: a value no longer than what is kept is masked whole.
    expect(maskExpression({ rule: 'partial', keep_start: 0, keep_end: 4, mask_char: '*' }, c)).toContain('WHEN length("x"::text) <= 4 THEN repeat');
  });
});

describe('fake person names', () => {
  it('never make a name of the synthetic dataset', () => {
    const { first, last } = fakeNameParts();
    expect(first.length * last.length).toBeGreaterThan(10_000);
    const real = new Set([...FIRST_NAMES, ...LAST_NAMES].map((n) => n.toLowerCase()));
    expect([...first, ...last].filter((n) => real.has(n.toLowerCase()))).toEqual([]);
  });
});
