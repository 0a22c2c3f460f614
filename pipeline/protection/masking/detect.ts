import type { ColumnRule, MaskingPolicy } from '../../policy/masking.ts';

/**
 * Which columns look like personal data, from their name and type: the lint (a migration adding one
 * without a masking rule) and the scan after masking (whose original values must be gone) use this one
 * judgement. A heuristic on purpose: a bare `name` is a product's or an account's as often as a person's,
 * so it is not flagged; a column the heuristic misses is masked by naming it in policies/masking.yaml.
 */
export type PersonalKind = 'email' | 'name' | 'phone' | 'address' | 'birth_date' | 'tax_id' | 'ip' | 'iban';

export interface PersonalColumn {
  kind: PersonalKind;
  /** For humans: "an e-mail address". */
  label: string;
  /** The rule a policy would typically give it. */
  suggested: ColumnRule;
}

const LABELS: Record<PersonalKind, string> = {
  email: 'an e-mail address',
  name: "a person's name",
  phone: 'a phone number',
  address: 'a postal address',
  birth_date: 'a birth date',
  tax_id: 'a tax or national id',
  ip: 'an IP address',
  iban: 'a bank account (IBAN)',
};

/** `displayName`, `display_name`, `DisplayName` → ['display', 'name']. */
export function words(identifier: string): string[] {
  return identifier
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
}

/** The type without schema, modifiers or array brackets, in PostgreSQL's internal spelling. */
export function baseType(type: string): string {
  const t = type
    .toLowerCase()
    .replace(/\[\]$/, '')
    .replace(/\(.*\)/, '')
    .replace(/^.*\./, '')
    .replace(/"/g, '')
    .trim();
  const aliases: Record<string, string> = {
    'character varying': 'varchar',
    character: 'bpchar',
    char: 'bpchar',
    'timestamp with time zone': 'timestamptz',
    'timestamp without time zone': 'timestamp',
    'time with time zone': 'timetz',
    'time without time zone': 'time',
    'double precision': 'float8',
    integer: 'int4',
    int: 'int4',
    smallint: 'int2',
    bigint: 'int8',
    boolean: 'bool',
    real: 'float4',
  };
  return aliases[t] ?? t;
}

const NOT_TEXT =
  /^(bool|int2|int4|int8|serial|serial4|serial8|bigserial|smallserial|numeric|decimal|float4|float8|money|uuid|bytea|timestamp|timestamptz|time|timetz|date|interval|oid|bit|varbit|point|tsvector)$/;
const DATES = /^(date|timestamp|timestamptz)$/;

const NAME_QUALIFIERS = new Set([
  'first',
  'last',
  'middle',
  'given',
  'family',
  'full',
  'display',
  'maiden',
  'legal',
  'contact',
  'person',
  'holder',
  'cardholder',
  'nick',
]);
const NAME_WORDS = new Set(['surname', 'forename', 'firstname', 'lastname', 'fullname', 'givenname', 'familyname', 'middlename', 'displayname', 'nickname']);

function kindOfName(identifier: string): PersonalKind | undefined {
  const w = words(identifier);
  const compact = w.join('');
  const last = w.at(-1) ?? '';
  if (compact.includes('email') || last === 'mail' || compact === 'mailaddress') return 'email';
  if (compact.includes('ipaddress') || last === 'ip' || compact === 'ipv4' || compact === 'ipv6') return 'ip';
  if (compact.includes('iban') || compact.includes('bankaccount')) return 'iban';
  if (compact.includes('birth') || compact === 'dob') return 'birth_date';
  if (/(taxid|taxnumber|taxcode|vatid|vatnumber|ssn|socialsecurity|nationalid|nationalnumber|passport)/.test(compact) || compact === 'tin') return 'tax_id';
  if (/(phone|mobile|msisdn)/.test(compact) || last === 'fax' || last === 'tel') return 'phone';
  if (/(street|addressline|postcode|postalcode|zipcode)/.test(compact) || last === 'address' || last === 'zip') return 'address';
  if (NAME_WORDS.has(compact) || (last === 'name' && w.length > 1 && NAME_QUALIFIERS.has(w.at(-2)!))) return 'name';
  return undefined;
}

function suggestion(kind: PersonalKind, column: string): ColumnRule {
  const w = words(column);
  switch (kind) {
    case 'email':
      return { rule: 'fake', as: 'email' };
    case 'name':
      return {
        rule: 'fake',
        as:
          w.includes('first') || w.includes('given') || w.includes('forename')
            ? 'first_name'
            : w.includes('last') || w.includes('family') || w.includes('surname')
              ? 'last_name'
              : 'full_name',
      };
    case 'phone':
      return { rule: 'fake', as: 'phone' };
    case 'address':
      return { rule: 'fake', as: /(postcode|postalcode|zip)/.test(w.join('')) ? 'postal_code' : 'street_address' };
    case 'birth_date':
      return { rule: 'fake', as: 'birth_date' };
    case 'tax_id':
      return { rule: 'fake', as: 'tax_id' };
    case 'ip':
      return { rule: 'fake', as: 'ip' };
    case 'iban':
      return { rule: 'fake', as: 'iban' };
  }
}

/**
 * Whether a column looks personal: by its name (an `emailVerifiedAt` timestamp does not), or by its type
 * (inet; a domain named like a personal kind, e.g. `email_address`).
 */
export function personalColumn(column: string, type?: string): PersonalColumn | undefined {
  const base = type === undefined ? undefined : baseType(type);
  let kind: PersonalKind | undefined = kindOfName(column);
  if (kind && base !== undefined && NOT_TEXT.test(base)) {
    // A date can be a birth date; any other non-text type holds no such value (a flag, a count, a time).
    if (!(kind === 'birth_date' && DATES.test(base))) kind = undefined;
  }
  if (!kind && base !== undefined) {
    if (base === 'inet' || base === 'cidr') kind = 'ip';
    else if (!NOT_TEXT.test(base)) kind = kindOfName(base);
  }
  return kind ? { kind, label: LABELS[kind], suggested: suggestion(kind, column) } : undefined;
}

// ---- the policy's rules ---------------------------------------------------------------------------------

/** `schema.Table` keys name their schema; the others are in the policy's `schema`. */
export function tableKey(policy: MaskingPolicy, key: string): { schema: string; table: string } {
  const dot = key.indexOf('.');
  return dot > 0 ? { schema: key.slice(0, dot), table: key.slice(dot + 1) } : { schema: policy.schema, table: key };
}

/** The rule policies/masking.yaml gives a column, if any. */
export function ruleFor(policy: MaskingPolicy, schema: string, table: string, column: string): ColumnRule | undefined {
  for (const [key, columns] of Object.entries(policy.tables)) {
    const t = tableKey(policy, key);
    if (t.schema === schema && t.table === table && columns[column]) return columns[column];
  }
  return undefined;
}

/** A rule leaves personal data as it is: `keep` without a `not_personal` reason. */
export const keepsPersonalData = (rule: ColumnRule | undefined): boolean => rule === undefined || (rule.rule === 'keep' && rule.not_personal === undefined);

/** The YAML to add under `tables:` for a column, as the lint's help shows it. */
export function ruleSnippet(table: string, column: string, rule: ColumnRule): string {
  const body = Object.entries(rule)
    .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(', ');
  return `tables:\n  ${table}:\n    ${column}: { ${body} }`;
}
