/**
 * Reference data: currencies, organizations, users and memberships, charts of accounts, a year of FX
 * rates and customers. Built as plain rows by a pure function of (seed, scale), written through the
 * generated Prisma Client, and handed to the bulk SQL as small lookup tables.
 */
import type { PrismaClient } from '../generated/prisma/client.ts';
import {
  CHART,
  COMPANY_NOUNS,
  COMPANY_SUFFIXES,
  COMPANY_WORDS,
  CURRENCIES,
  EPOCH,
  FIRST_NAMES,
  fxBankCode,
  LAST_NAMES,
  ORGANIZATIONS,
  type AccountPool,
  type AccountSpec,
} from './catalog.ts';
import { createRandom, type Random } from './random.ts';

/** Customers per unit of --scale, across all organizations. */
export const CUSTOMERS_PER_SCALE = 2_000;
const USERS = 30;

type Role = 'OWNER' | 'ADMIN' | 'ACCOUNTANT' | 'APPROVER' | 'VIEWER';
const ROLE_ORDER: Role[] = ['OWNER', 'ADMIN', 'ACCOUNTANT', 'ACCOUNTANT', 'ACCOUNTANT', 'APPROVER', 'APPROVER'];

export interface ReferenceRows {
  currencies: Array<{ code: string; name: string; symbol: string | null; minorUnits: number; isActive: boolean }>;
  organizations: Array<{ id: string; slug: string; name: string; baseCurrencyCode: string; fiscalYearStartMonth: number; createdAt: Date; updatedAt: Date }>;
  users: Array<{
    id: string;
    email: string;
    displayName: string;
    passwordHash: string | null;
    isActive: boolean;
    lastLoginAt: Date | null;
    createdAt: Date;
    updatedAt: Date;
  }>;
  memberships: Array<{ id: string; organizationId: string; userId: string; role: Role; createdAt: Date; updatedAt: Date }>;
  accounts: Array<{
    id: string;
    organizationId: string;
    code: string;
    name: string;
    type: AccountSpec['type'];
    parentId: string | null;
    currencyCode: string | null;
    isPostable: boolean;
    isArchived: boolean;
    description: string | null;
    createdAt: Date;
    updatedAt: Date;
  }>;
  exchangeRates: Array<{
    id: bigint;
    organizationId: string;
    baseCurrencyCode: string;
    quoteCurrencyCode: string;
    rateDate: Date;
    rate: string;
    source: string;
    createdAt: Date;
  }>;
  customers: Array<{
    id: string;
    organizationId: string;
    code: string;
    name: string;
    email: string | null;
    taxId: string | null;
    currencyCode: string;
    createdAt: Date;
    updatedAt: Date;
  }>;
}

/** The lookup tables of the bulk SQL (volume.ts), as JSON rows. */
export interface BulkInputs {
  orgs: Array<{ org_no: number; id: string; base: string; minor: number; per_usd: number; tax_rate: string; n_cust: number }>;
  currencies: Array<{ code: string; minor: number; per_usd: number }>;
  customers: Array<{ org_no: number; idx: number; id: string; currency: string }>;
  accounts: Array<{ org_no: number; code: string; id: string }>;
  banks: Array<{ org_no: number; currency: string; id: string }>;
  pools: Array<{ org_no: number; pool: string; ids: string[] }>;
  members: Array<{ org_no: number; role: 'author' | 'approver' | 'any'; ids: string[] }>;
  users: Array<{ idx: number; id: string; ip: string }>;
  /** Volume share of each organization, in org_no order. */
  weights: number[];
}

const DAY_MS = 86_400_000;
const epochMs = Date.parse(`${EPOCH}T00:00:00Z`);
const day = (n: number) => new Date(epochMs + n * DAY_MS);
const at = (base: Date, seconds: number) => new Date(base.getTime() + Math.floor(seconds) * 1000);
const ascii = (s: string) => s.normalize('NFD').replace(/[^\x20-\x7e]/g, '');
const slugify = (s: string) =>
  ascii(s)
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');

/**
 * Daily rates per currency against USD for the whole year: a random walk of working-day moves,
 * carried over weekends. Returns level[code][day].
 */
function fxLevels(rnd: Random): Map<string, number[]> {
  const levels = new Map<string, number[]>();
  for (const c of CURRENCIES) {
    const series = [c.perUsd];
    for (let d = 1; d < 365; d++) {
      const weekday = day(d).getUTCDay();
      const prev = series[d - 1]!;
      // Uniform shock with unit variance: basic arithmetic only, so every platform computes the same doubles.
      const shock = (rnd.unit('fx.walk', c.code, d) - 0.5) * 3.4641016151377544;
      series.push(weekday === 0 || weekday === 6 ? prev : prev * (1 + c.vol * shock));
    }
    levels.set(c.code, series);
  }
  return levels;
}

export function buildReference(seed: number, scale: number): { rows: ReferenceRows; bulk: BulkInputs } {
  const rnd = createRandom(seed);
  const currencyOf = new Map(CURRENCIES.map((c) => [c.code, c]));
  const rows: ReferenceRows = { currencies: [], organizations: [], users: [], memberships: [], accounts: [], exchangeRates: [], customers: [] };
  const bulk: BulkInputs = { orgs: [], currencies: [], customers: [], accounts: [], banks: [], pools: [], members: [], users: [], weights: [] };

  for (const c of CURRENCIES) {
    rows.currencies.push({ code: c.code, name: c.name, symbol: c.symbol, minorUnits: c.minorUnits, isActive: c.isActive ?? true });
    bulk.currencies.push({ code: c.code, minor: c.minorUnits, per_usd: c.perUsd });
  }

  // Users: unique names, a few SSO-only (no password hash) and two deactivated.
  const seen = new Set<string>();
  for (let i = 0; i < USERS; i++) {
    let first = '';
    let last = '';
    for (let attempt = 0; !first || seen.has(`${first} ${last}`); attempt++) {
      first = rnd.pick('user.first', FIRST_NAMES, i, attempt);
      last = rnd.pick('user.last', LAST_NAMES, i, attempt);
    }
    seen.add(`${first} ${last}`);
    const createdAt = at(day(-400), rnd.unit('user.created', i) * 360 * 86_400);
    const isActive = rnd.unit('user.active', i) >= 0.07;
    const lastLoginAt = isActive ? at(day(330), rnd.unit('user.login', i) * 34 * 86_400) : null;
    const sso = rnd.unit('user.sso', i) < 0.15;
    rows.users.push({
      id: rnd.uuid('user', i),
      email: `${slugify(first)}.${slugify(last)}@astrofinance.example`,
      displayName: `${first} ${last}`,
      passwordHash: sso
        ? null
        : `$argon2id$v=19$m=65536,t=3,p=4$${Buffer.from(rnd.hex('user.salt', 32, i), 'hex').toString('base64url')}$${Buffer.from(rnd.hex('user.hash', 64, i), 'hex').toString('base64url')}`,
      isActive,
      lastLoginAt,
      createdAt,
      updatedAt: lastLoginAt ?? createdAt,
    });
    bulk.users.push({ idx: i, id: rnd.uuid('user', i), ip: `198.51.100.${10 + i}` });
  }

  const levels = fxLevels(rnd);
  const totalWeight = ORGANIZATIONS.reduce((a, o) => a + o.weight, 0);
  let rateId = 0n;
  ORGANIZATIONS.forEach((spec, o) => {
    const orgNo = o + 1;
    const orgId = rnd.uuid('organization', orgNo);
    const createdAt = at(day(-730), rnd.unit('org.created', orgNo) * 300 * 86_400);
    const base = currencyOf.get(spec.base)!;
    rows.organizations.push({
      id: orgId,
      slug: spec.slug,
      name: spec.name,
      baseCurrencyCode: spec.base,
      fiscalYearStartMonth: spec.fiscalYearStartMonth,
      createdAt,
      updatedAt: createdAt,
    });
    bulk.weights.push(spec.weight);

    // Members: a seeded shuffle of the users, then roles by position (one owner, one admin, …).
    const order = rows.users.map((u, i) => ({ u, i, k: rnd.unit('member.order', orgNo, i) })).sort((a, b) => a.k - b.k);
    const members = order.slice(0, 7 + rnd.int('member.count', 4, orgNo));
    const byRole = { author: [] as string[], approver: [] as string[], any: [] as string[] };
    members.forEach(({ u, i }, position) => {
      const role = ROLE_ORDER[position] ?? 'VIEWER';
      rows.memberships.push({
        id: rnd.uuid('membership', orgNo * 1000 + i),
        organizationId: orgId,
        userId: u.id,
        role,
        createdAt: at(createdAt, (position + 1) * 86_400),
        updatedAt: at(createdAt, (position + 1) * 86_400),
      });
      byRole.any.push(u.id);
      if (role === 'OWNER' || role === 'ADMIN' || role === 'ACCOUNTANT') byRole.author.push(u.id);
      if (role === 'OWNER' || role === 'ADMIN' || role === 'APPROVER') byRole.approver.push(u.id);
    });
    for (const [role, ids] of Object.entries(byRole)) bulk.members.push({ org_no: orgNo, role: role as 'author' | 'approver' | 'any', ids });

    // Chart of accounts, parents first (createMany inserts in order; the parent FK is checked per statement).
    const idOf = new Map<string, string>();
    const pools = new Map<string, string[]>();
    const addAccount = (a: AccountSpec, currencyCode: string | null, extraPools: string[] = []) => {
      const id = rnd.uuid('account', orgNo * 10_000 + Number(a.code));
      idOf.set(a.code, id);
      rows.accounts.push({
        id,
        organizationId: orgId,
        code: a.code,
        name: a.name,
        type: a.type,
        parentId: a.parent ? idOf.get(a.parent)! : null,
        currencyCode,
        isPostable: !a.header,
        isArchived: a.archived ?? false,
        description: a.description ?? null,
        createdAt,
        updatedAt: createdAt,
      });
      bulk.accounts.push({ org_no: orgNo, code: a.code, id });
      for (const pool of [...(a.pools ?? []), ...extraPools]) pools.set(pool, [...(pools.get(pool) ?? []), id]);
    };
    for (const a of CHART) {
      addAccount(a, null);
      if (a.code === '1130') {
        spec.foreign.forEach((code, i) => {
          addAccount(
            {
              code: fxBankCode(i),
              name: `Bank account ${code}`,
              type: 'ASSET',
              parent: '1100',
              description: `Held in ${currencyOf.get(code)!.name}; revalued monthly.`,
            },
            code,
            ['fx_cr'],
          );
          bulk.banks.push({ org_no: orgNo, currency: code, id: idOf.get(fxBankCode(i))! });
        });
      }
    }
    bulk.banks.push({ org_no: orgNo, currency: spec.base, id: idOf.get('1110')! });
    for (const [pool, ids] of pools) bulk.pools.push({ org_no: orgNo, pool: pool as AccountPool | 'fx_cr', ids });

    // One rate series per foreign currency: 1 base = rate quote, every calendar day of the year.
    for (const quote of spec.foreign) {
      for (let d = 0; d < 365; d++) {
        const weekday = day(d).getUTCDay();
        const rate = levels.get(quote)![d]! / levels.get(spec.base)![d]!;
        rows.exchangeRates.push({
          id: ++rateId,
          organizationId: orgId,
          baseCurrencyCode: spec.base,
          quoteCurrencyCode: quote,
          rateDate: day(d),
          rate: rate.toFixed(10),
          source: weekday === 0 || weekday === 6 ? 'ecb-carried-forward' : 'ecb',
          createdAt: at(day(d), 16.5 * 3600),
        });
      }
    }

    // Customers: mostly domestic (base currency), the rest invoiced in one of the foreign currencies.
    const nCust = Math.max(3, Math.round(CUSTOMERS_PER_SCALE * scale * (spec.weight / totalWeight)));
    for (let c = 0; c < nCust; c++) {
      const domestic = rnd.unit('customer.domestic', orgNo, c) < 0.78;
      const currency = domestic ? spec.base : rnd.pick('customer.currency', spec.foreign, orgNo, c);
      const name = `${rnd.pick('customer.word', COMPANY_WORDS, orgNo, c)} ${rnd.pick('customer.noun', COMPANY_NOUNS, orgNo, c)} ${rnd.pick('customer.suffix', COMPANY_SUFFIXES[currency] ?? ['Ltd'], orgNo, c)}`;
      const created = at(day(-700), rnd.unit('customer.created', orgNo, c) * 690 * 86_400);
      const id = rnd.uuid('customer', orgNo * 1_000_000 + c);
      rows.customers.push({
        id,
        organizationId: orgId,
        code: `C${String(c + 1).padStart(5, '0')}`,
        name,
        email: rnd.unit('customer.email', orgNo, c) < 0.85 ? `accounts.payable@${slugify(name)}-${c + 1}.example` : null,
        taxId: domestic && rnd.unit('customer.tax', orgNo, c) < 0.9 ? spec.taxIdPattern(1 + rnd.int('customer.taxid', 99_999, orgNo, c)) : null,
        currencyCode: currency,
        createdAt: created,
        updatedAt: created,
      });
      bulk.customers.push({ org_no: orgNo, idx: c, id, currency });
    }
    bulk.orgs.push({ org_no: orgNo, id: orgId, base: spec.base, minor: base.minorUnits, per_usd: base.perUsd, tax_rate: spec.taxRate, n_cust: nCust });
  });
  return { rows, bulk };
}

export type ReferenceCounts = Record<'Currency' | 'Organization' | 'User' | 'Membership' | 'Account' | 'ExchangeRate' | 'Customer', number>;

/** Writes the reference rows in one Prisma transaction (all or nothing); currencies already present are kept. */
export async function writeReference(prisma: PrismaClient, rows: ReferenceRows): Promise<ReferenceCounts> {
  return prisma.$transaction(
    async (tx) => ({
      Currency: (await tx.currency.createMany({ data: rows.currencies, skipDuplicates: true })).count,
      Organization: (await tx.organization.createMany({ data: rows.organizations })).count,
      User: (await tx.user.createMany({ data: rows.users })).count,
      Membership: (await tx.membership.createMany({ data: rows.memberships })).count,
      Account: (await tx.account.createMany({ data: rows.accounts })).count,
      ExchangeRate: (await tx.exchangeRate.createMany({ data: rows.exchangeRates })).count,
      Customer: (await tx.customer.createMany({ data: rows.customers })).count,
    }),
    { maxWait: 30_000, timeout: 600_000 },
  );
}
