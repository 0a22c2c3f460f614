// Personal data a migration adds without a masking rule in policies/masking.yaml
// (masking/personal-data-unmasked), found in PostgreSQL's AST (libpg-query), and the detector it uses.
import { describe, expect, it } from 'vitest';
import type { LocalMigration } from '../../pipeline/change/migrations/folder.ts';
import { analyzeMigrations } from '../../pipeline/change/lint/analyze.ts';
import { maybePersonalColumn } from '../../pipeline/change/lint/masking.ts';
import { DBOPS_RULES } from '../../pipeline/change/lint/profile.ts';
import { SourceText } from '../../pipeline/change/lint/text.ts';
import { MaskingPolicy } from '../../pipeline/policy/masking.ts';
import { personalColumn } from '../../pipeline/protection/masking/index.ts';

const policy = (tables: Record<string, unknown> = {}) => MaskingPolicy.parse({ version: 1, tables });

/** `null`: no policies/masking.yaml (the caller passes none). */
async function lint(script: string, masking: MaskingPolicy | null = policy(), schema = 'public') {
  const all: LocalMigration[] = [{ name: '1_m', file: 'prisma/migrations/1_m/migration.sql', script }];
  const result = (
    await analyzeMigrations(
      all,
      new Set(['1_m']),
      { policyFile: 'policies/access.yaml', schema },
      {
        policy: masking ?? undefined,
        policyFile: 'policies/masking.yaml',
        schema,
      },
    )
  ).get('1_m');
  const source = new SourceText(script);
  expect(result?.parseError).toBeUndefined();
  return (result?.masking ?? []).map((h) => ({ rule: h.rule, line: source.at(h.offset).line, message: h.message, help: h.help }));
}

const ADD = [
  '-- AlterTable',
  'ALTER TABLE "Customer" ADD COLUMN "phone" TEXT,',
  'ADD COLUMN "email" TEXT,',
  'ADD COLUMN "birthDate" DATE,',
  'ADD COLUMN "ipAddress" INET;',
  '',
].join('\n');

describe('masking/personal-data-unmasked', () => {
  it('columns that look personal without a rule: one finding each, naming Table.column and the YAML to add', async () => {
    const found = await lint(ADD);
    expect(found.map((h) => [h.rule, h.line, h.message.split(' looks')[0]])).toEqual([
      ['masking/personal-data-unmasked', 2, 'Customer.phone'],
      ['masking/personal-data-unmasked', 3, 'Customer.email'],
      ['masking/personal-data-unmasked', 4, 'Customer.birthDate'],
      ['masking/personal-data-unmasked', 5, 'Customer.ipAddress'],
    ]);
    expect(found[0]!.message).toBe(
      'Customer.phone looks like a phone number, and policies/masking.yaml has no masking rule for it: the masked snapshot would carry it unmasked.',
    );
    expect(found[0]!.help).toBe(
      'Add a masking rule to policies/masking.yaml:\ntables:\n  Customer:\n    phone: { rule: fake, as: phone }\nor `{ rule: keep, not_personal: "why" }` when it holds no personal data.',
    );
    expect(found[1]!.help).toContain('    email: { rule: fake, as: email }');
    expect(found[3]!.message).toContain('looks like an IP address');
    expect(DBOPS_RULES['masking/personal-data-unmasked']).toBe('error');
  });

  it('CREATE TABLE columns count too; a schema outside the policy schema is keyed schema.Table', async () => {
    const found = await lint('CREATE TABLE billing."Payer" ("id" UUID NOT NULL, "iban" VARCHAR(34), "firstName" TEXT);\n');
    expect(found.map((h) => h.message.split(' looks')[0])).toEqual(['billing.Payer.iban', 'billing.Payer.firstName']);
    expect(found[1]!.help).toContain('  billing.Payer:\n    firstName: { rule: fake, as: first_name }');
  });

  it('a masking rule satisfies it; `keep` without not_personal does not; `keep` with not_personal does', async () => {
    const masked = policy({
      Customer: { phone: { rule: 'partial' }, email: { rule: 'hash' }, birthDate: { rule: 'null' }, ipAddress: { rule: 'fake', as: 'ip' } },
    });
    expect(await lint(ADD, masked)).toEqual([]);
    const kept = await lint('ALTER TABLE "Customer" ADD COLUMN "phone" TEXT;\n', policy({ Customer: { phone: { rule: 'keep' } } }));
    expect(kept.map((h) => h.message)).toEqual([
      'Customer.phone looks like a phone number, and policies/masking.yaml keeps it as it is (`rule: keep` without not_personal): the masked snapshot would carry it unmasked.',
    ]);
    expect(kept[0]!.help).toContain('phone: { rule: fake, as: phone }');
    const reasoned = policy({ Customer: { phone: { rule: 'keep', not_personal: 'the support hotline' } } });
    expect(await lint('ALTER TABLE "Customer" ADD COLUMN "phone" TEXT;\n', reasoned)).toEqual([]);
  });

  it('the policy schema and schema-qualified keys are matched', async () => {
    const qualified = policy({ 'billing.Payer': { email: { rule: 'hash' } } });
    expect(await lint('ALTER TABLE billing."Payer" ADD COLUMN "email" TEXT;\n', qualified)).toEqual([]);
    expect(await lint('ALTER TABLE "Payer" ADD COLUMN "email" TEXT;\n', qualified, 'billing')).toEqual([]);
    expect((await lint('ALTER TABLE "Payer" ADD COLUMN "email" TEXT;\n', qualified)).map((h) => h.message.split(' looks')[0])).toEqual(['Payer.email']);
  });

  it('a timestamp named after an e-mail, a bare name and ordinary columns are no finding', async () => {
    expect(
      await lint('CREATE TABLE "User" ("id" UUID NOT NULL, "emailVerifiedAt" TIMESTAMP(3), "name" TEXT, "phoneCount" INTEGER, "createdAt" TIMESTAMP(3));\n'),
    ).toEqual([]);
  });

  it('RENAME COLUMN is judged by the new name; a column dropped or renamed again in the file by its final state', async () => {
    const found = await lint('ALTER TABLE "Customer" RENAME COLUMN "contact" TO "email";\n');
    expect(found.map((h) => [h.line, h.message.split(' looks')[0]])).toEqual([[1, 'Customer.email']]);
    expect(
      await lint(
        'ALTER TABLE "Customer" ADD COLUMN "phone" TEXT;\nALTER TABLE "Customer" RENAME COLUMN "phone" TO "notes";\nCREATE TABLE "T" ("email" TEXT);\nDROP TABLE "T";\n',
      ),
    ).toEqual([]);
    // The type of a column added in the same file still counts after a rename.
    expect(await lint('ALTER TABLE "User" ADD COLUMN "x" TIMESTAMP(3);\nALTER TABLE "User" RENAME COLUMN "x" TO "emailVerifiedAt";\n')).toEqual([]);
  });

  it('does nothing without policies/masking.yaml; the text pre-filter skips files without candidate words', async () => {
    expect(await lint(ADD, null)).toEqual([]);
    expect(maybePersonalColumn(ADD)).toBe(true);
    expect(maybePersonalColumn('ALTER TABLE "Order" ADD COLUMN "total" DECIMAL(65,30);\n')).toBe(false);
    expect(await lint('ALTER TABLE "Order" ADD COLUMN "total" DECIMAL(65,30);\n')).toEqual([]);
  });
});

describe('personalColumn (the detector)', () => {
  it('judges by name and type', () => {
    expect(personalColumn('phone', 'text')?.kind).toBe('phone');
    expect(personalColumn('email', 'varchar')?.kind).toBe('email');
    expect(personalColumn('birthDate', 'date')?.kind).toBe('birth_date');
    expect(personalColumn('lastLoginFrom', 'inet')?.kind).toBe('ip');
    expect(personalColumn('emailVerifiedAt', 'timestamp')).toBeUndefined();
    expect(personalColumn('name', 'text')).toBeUndefined();
    expect(personalColumn('firstName')?.suggested).toEqual({ rule: 'fake', as: 'first_name' });
  });
});
