import { z } from 'zod';

/** What a masking rule may turn a value into (docs/policies.md, masking.yaml). */
export const FAKE_KINDS = [
  'email',
  'first_name',
  'last_name',
  'full_name',
  'company',
  'phone',
  'street_address',
  'city',
  'postal_code',
  'birth_date',
  'tax_id',
  'ip',
  'iban',
  'text',
] as const;
export type FakeKind = (typeof FAKE_KINDS)[number];

const EnvName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name such as DBOPS_MASKING_SEED');
const Identifier = z.string().min(1).max(63);

export const ColumnRule = z.discriminatedUnion('rule', [
  z
    .strictObject({
      rule: z.literal('hash'),
      length: z
        .number()
        .int()
        .min(12)
        .max(64)
        .default(16)
        .describe('Hexadecimal characters kept of the keyed SHA-256 (shortened further to fit a varchar(n)).'),
    })
    .describe('A keyed SHA-256 of the value, in hexadecimal: equal values give equal hashes in every table, so keys still join.'),
  z
    .strictObject({
      rule: z.literal('partial'),
      keep_start: z.number().int().min(0).max(8).default(0).describe('Characters kept at the start.'),
      keep_end: z.number().int().min(0).max(8).default(4).describe('Characters kept at the end (the last 4 digits of a phone number or IBAN).'),
      mask_char: z.string().length(1).default('*').describe('What every other character becomes.'),
    })
    .describe('Keeps the first and last few characters and masks the rest; a value no longer than what is kept is masked whole.'),
  z
    .strictObject({
      rule: z.literal('fake'),
      as: z.enum(FAKE_KINDS).describe('The kind of value made up. Chosen by the keyed hash of the original, so the same original gives the same fake value.'),
    })
    .describe('A made-up value of the same kind, chosen deterministically.'),
  z.strictObject({ rule: z.literal('null') }).describe('NULL (only for a nullable column).'),
  z
    .strictObject({
      rule: z.literal('keep'),
      not_personal: z
        .string()
        .min(1)
        .optional()
        .describe(
          'Why a column whose name looks personal holds no personal data (a shared support address, a product name). Without it, `keep` on such a column fails the scan and the lint, since its values stay as they are.',
        ),
    })
    .describe('The value stays as it is.'),
]);
export type ColumnRule = z.output<typeof ColumnRule>;

export const MaskingPolicy = z
  .strictObject({
    version: z.literal(1).describe('Policy file format version.'),
    seed_env: EnvName.default('DBOPS_MASKING_SEED').describe(
      'Environment variable holding the masking seed (a secret of at least 16 characters). The same seed gives the same masked values on every run; another seed other ones. The seed never leaves dbops: the database sees only a key derived from it.',
    ),
    schema: Identifier.default('public').describe('Schema of the tables named without one in `tables`.'),
    tables: z
      .record(z.string().min(1), z.record(Identifier, ColumnRule))
      .default({})
      .describe('Rules per column: `Table: { column: { rule: … } }`, or `schema.Table` for a table outside `schema`. Columns not named keep their values.'),
    snapshot: z
      .strictObject({
        location: z
          .string()
          .regex(/^(local|[a-z][a-z0-9_-]*)$/, 'expected local or an environment name of policies/environments.yaml')
          .default('local')
          .describe(
            'Where the masked template database lives: local (the embedded cluster), or an environment of policies/environments.yaml whose server holds it (typically staging).',
          ),
        database: Identifier.default('dbops_masked').describe(
          'Name of the template database that `dbops rehearse --snapshot masked` clones; replaced atomically by each `snapshot mask`.',
        ),
        backup_target: z
          .string()
          .min(1)
          .optional()
          .describe('Storage target of policies/backups.yaml the backups are read from (default: the primary target).'),
      })
      .prefault({})
      .describe('The masked snapshot.'),
    scan: z
      .strictObject({
        min_length: z
          .number()
          .int()
          .min(1)
          .default(4)
          .describe('Original values shorter than this are not searched for: two letters appear everywhere without being anybody’s data.'),
      })
      .prefault({})
      .describe(
        'The proof after masking: every text-like column of the masked database (whole values, words of free text, strings inside JSON) is searched for the original values of the masked columns and of every column that looks personal.',
      ),
    checks: z
      .array(
        z.strictObject({
          name: z.string().min(1).describe('What the check proves, as the report shows it.'),
          sql: z.string().min(1).describe('A query returning the rows that break the rule: the check passes when it returns none.'),
        }),
      )
      .default([])
      .describe('Invariants the masked database must still hold (ledger balances …), on top of every foreign key, which is always checked.'),
  })
  .describe('policies/masking.yaml: how production data is masked into the snapshot rehearsals and non-production environments use.');
export type MaskingPolicy = z.output<typeof MaskingPolicy>;
