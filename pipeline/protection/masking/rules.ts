import type { ColumnRule, FakeKind } from '../../policy/masking.ts';
import { quoteLiteral } from '../../infra/db/url.ts';

/**
 * The SQL each rule becomes: one expression of the original value, evaluated by the server inside a
 * set-based UPDATE. Every expression depends on the value alone (and the key), never on the table or row,
 * so equal originals give equal masked values everywhere and foreign keys still join.
 *
 * The key is derived from the seed in dbops (HMAC-SHA256) and handed to the session as the setting
 * `dbops.mask_key`; `pg_temp.dbops_h(v)` is SHA-256 over key and value, the source of every choice.
 *
 * Fake values are picked from the word lists below by bytes of that hash (bytes 4‥9 also make the hex
 * part of an e-mail address, 6‥7 of a company name; the picks read bytes 0‥3 and 8‥11). The lists are written here
 * rather than taken from a fake-data library on purpose: the choice happens in SQL (set-based, no row
 * leaves the server), and the same seed must give the same snapshot next year, which a library's lists
 * (changed between versions) would not.
 */

// Person names are built from syllables that make names no register holds ("Calwyn Therrowick"): a fake
// name never equals somebody's real one, so it cannot be mistaken for an original left behind.
const FIRST_START = `Aer Bryn Cal Dov Eld Fen Gal Hal Ist Jor Kel Lor Mer Nyl Orv Pell Quen Ryl Syl Tam Ulv Vey Wyn Xan Yor Zev`.split(/\s+/);
const FIRST_END = `ara elle ian ios ira ivo olin ora ueth wyn yssa`.split(/\s+/);
const LAST_START = `Ash Brom Corr Dral Ever Fross Grim Harl Ith Jess Kell Lorn Morr Nesh Orr Penn Quill Ross Sten Therr Uld Vorn Wess Yarr`.split(/\s+/);
const LAST_END = `ack ander bury dane ford holt mere owick ridge stane wright`.split(/\s+/);
/** Every first and last name the fake rules can make (for the test that none is a real one). */
export const fakeNameParts = () => ({
  first: FIRST_START.flatMap((a) => FIRST_END.map((b) => a + b)),
  last: LAST_START.flatMap((a) => LAST_END.map((b) => a + b)),
});
const firstName = (h: string) => `${pick(FIRST_START, h, 0)} || ${pick(FIRST_END, h, 8)}`;
const lastName = (h: string) => `${pick(LAST_START, h, 2)} || ${pick(LAST_END, h, 10)}`;

const COMPANY_WORDS = `Amber Apex Arbor Atlas Beacon Birch Blue Bright Cedar Clear Cobalt Coral Crest Delta Ember Evergreen Falcon
Fjord Granite Harbor Horizon Iron Juniper Keystone Lark Linden Maple Meridian Nimbus North Oak Orbit Pine Prism Quarry
Raven River Sage Silver Slate Spruce Summit Tidal Trail Vale Willow`.split(/\s+/);
const COMPANY_NOUNS = `Analytics Bakery Builders Consulting Designs Foods Freight Goods Labs Logistics Media Partners Retail Studio
Supplies Systems Textiles Tools Trading Works`.split(/\s+/);
const COMPANY_SUFFIXES = ['Ltd', 'GmbH', 'AS', 'AB', 'Inc', 'LLC', 'SA', 'BV'];

const STREETS = `Acacia Alder Ash Bay Beech Bridge Brook Castle Chapel Church Cliff Elm Field Forest Garden Glen Green Grove
Hazel High Hill Lake Laurel Meadow Mill Park Pond Quay Ridge Rose School Spring Station Valley View Water Wood`.split(/\s+/);
const STREET_KINDS = ['Street', 'Road', 'Lane', 'Avenue', 'Way', 'Place', 'Close', 'Terrace'];
const CITY_START = `Ald Bram Cor Dun Ell Fair Glen Grey Hol Kings Lin Marsh Nor Oak Pin Red Ros Sel Thorn Wil`.split(/\s+/);
const CITY_END = `bourne brook by cester dale haven mouth stead thorpe wick`.split(/\s+/);

/** A text[] literal of a word list, embedded once per statement. */
const words = (list: readonly string[]) => `${quoteLiteral(`{${list.join(',')}}`)}::text[]`;

/** `n`: an integer 0‥65535 from two bytes of the hash `h` at `at` (different choices read different bytes). */
const n16 = (h: string, at: number) => `(get_byte(${h}, ${at}) * 256 + get_byte(${h}, ${at + 1}))`;
/** An integer 0‥2^31-1 from four bytes. */
const n31 = (h: string, at: number) => `((get_byte(${h}, ${at}) & 127) * 16777216 + get_byte(${h}, ${at + 1}) * 65536 + ${n16(h, at + 2)})`;
const pick = (list: readonly string[], h: string, at: number) => `(${words(list)})[1 + ${n16(h, at)} % ${list.length}]`;
const hex = (h: string, from: number, chars: number) => `substr(encode(${h}, 'hex'), ${from * 2 + 1}, ${chars})`;
const digits = (h: string, at: number, count: number) => `lpad((${n31(h, at)} % ${10 ** Math.min(count, 9)})::text, ${Math.min(count, 9)}, '0')`;

/** The session's helpers: run once per session before the UPDATEs (the key is a setting of the same session). */
export const SESSION_FUNCTIONS = `CREATE OR REPLACE FUNCTION pg_temp.dbops_h(v text) RETURNS bytea LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT sha256(convert_to(current_setting('dbops.mask_key') || v, 'UTF8')) $$;`;

function fake(kind: FakeKind, h: string): string {
  switch (kind) {
    case 'email':
      return `lower(${firstName(h)} || '.' || ${lastName(h)}) || '.' || ${hex(h, 4, 12)} || '@example.com'`;
    case 'first_name':
      return firstName(h);
    case 'last_name':
      return lastName(h);
    case 'full_name':
      return `${firstName(h)} || ' ' || ${lastName(h)}`;
    case 'company':
      return `${pick(COMPANY_WORDS, h, 0)} || ' ' || ${pick(COMPANY_NOUNS, h, 2)} || ' ' || ${pick(COMPANY_SUFFIXES, h, 4)} || ' ' || upper(${hex(h, 6, 4)})`;
    case 'phone':
      return `'+1555' || ${digits(h, 0, 7)}`;
    case 'street_address':
      return `(1 + ${n16(h, 0)} % 400)::text || ' ' || ${pick(STREETS, h, 2)} || ' ' || ${pick(STREET_KINDS, h, 4)}`;
    case 'city':
      return `${pick(CITY_START, h, 0)} || ${pick(CITY_END, h, 2)}`;
    case 'postal_code':
      return digits(h, 0, 5);
    case 'birth_date':
      // 1940-01-01 + up to ~63 years: adults of every age, no real birthday kept.
      return `(date '1940-01-01' + ${n16(h, 0)} % 23000)::text`;
    case 'tax_id':
      return `'XX' || ${digits(h, 0, 9)}`;
    case 'ip':
      // 198.18.0.0/15 is reserved for benchmarking (RFC 2544): never a customer's address.
      return `'198.' || (18 + get_byte(${h}, 0) % 2)::text || '.' || get_byte(${h}, 1)::text || '.' || get_byte(${h}, 2)::text`;
    case 'iban':
      return `'XX' || lpad((${n16(h, 0)} % 100)::text, 2, '0') || 'MASK' || ${digits(h, 2, 9)} || ${digits(h, 6, 5)}`;
    case 'text':
      return `'masked ' || ${hex(h, 0, 12)}`;
  }
}

export interface ColumnShape {
  /** `quote_ident`ed column name. */
  ident: string;
  /** format_type(): the type to cast the masked text back to. */
  type: string;
  /** varchar(n) / char(n): masked text is cut to n characters. */
  maxLength: number | null;
  /** inet/cidr: the original is read as host(). */
  network: boolean;
}

/** The text of a value as the rules and the scan read it: host() for inet, so 10.0.0.1 is not 10.0.0.1/32. */
export const textOf = (ident: string, network: boolean) => (network ? `host(${ident})` : `${ident}::text`);

/** The SET expression of one column under one rule (undefined for keep). */
export function maskExpression(rule: ColumnRule, c: ColumnShape): string | undefined {
  const v = textOf(c.ident, c.network);
  const fit = (e: string) => (c.maxLength !== null ? `left(${e}, ${c.maxLength})` : e);
  const cast = (e: string) => `(${e})::${c.type}`;
  const h = `pg_temp.dbops_h(${v})`;
  switch (rule.rule) {
    case 'keep':
      return undefined;
    case 'null':
      return 'NULL';
    case 'hash':
      return cast(fit(`left(encode(${h}, 'hex'), ${rule.length})`));
    case 'partial': {
      const kept = rule.keep_start + rule.keep_end;
      const m = quoteLiteral(rule.mask_char);
      const masked = `left(${v}, ${rule.keep_start}) || repeat(${m}, length(${v}) - ${kept}) || right(${v}, ${rule.keep_end})`;
      return cast(`CASE WHEN length(${v}) <= ${kept} THEN repeat(${m}, length(${v})) ELSE ${masked} END`);
    }
    case 'fake':
      // One hash per value: a LATERAL would be cheaper still, but UPDATE … SET cannot share it between columns.
      return cast(fit(fake(rule.as, h)));
  }
}
