/**
 * Fixed reference material the seed draws from. Everything random is picked from these lists by the
 * seeded hash (random.ts), so the lists themselves are part of the reproducibility contract: changing
 * them changes the data every seed produces.
 */

/** The year all synthetic activity happens in; every timestamp is derived from it, never from now(). */
export const YEAR = 2025;
export const EPOCH = `${YEAR}-01-01`;
export const YEAR_END = `${YEAR}-12-31`;

export interface CurrencySpec {
  code: string;
  name: string;
  symbol: string | null;
  minorUnits: number;
  /** Units per USD at the start of the year: sizes prices and starts the FX random walk. */
  perUsd: number;
  /** Daily volatility of the FX random walk. */
  vol: number;
  isActive?: boolean;
}

export const CURRENCIES: CurrencySpec[] = [
  { code: 'USD', name: 'US Dollar', symbol: '$', minorUnits: 2, perUsd: 1, vol: 0 },
  { code: 'EUR', name: 'Euro', symbol: '€', minorUnits: 2, perUsd: 0.9612, vol: 0.0042 },
  { code: 'GBP', name: 'Pound Sterling', symbol: '£', minorUnits: 2, perUsd: 0.7983, vol: 0.0047 },
  { code: 'CHF', name: 'Swiss Franc', symbol: 'CHF', minorUnits: 2, perUsd: 0.9071, vol: 0.0045 },
  { code: 'JPY', name: 'Yen', symbol: '¥', minorUnits: 0, perUsd: 157.2, vol: 0.0061 },
  { code: 'CAD', name: 'Canadian Dollar', symbol: 'CA$', minorUnits: 2, perUsd: 1.4381, vol: 0.0035 },
  { code: 'AUD', name: 'Australian Dollar', symbol: 'A$', minorUnits: 2, perUsd: 1.6152, vol: 0.0058 },
  { code: 'SEK', name: 'Swedish Krona', symbol: 'kr', minorUnits: 2, perUsd: 11.04, vol: 0.0063 },
  { code: 'NOK', name: 'Norwegian Krone', symbol: 'kr', minorUnits: 2, perUsd: 11.36, vol: 0.0066 },
  { code: 'DKK', name: 'Danish Krone', symbol: 'kr.', minorUnits: 2, perUsd: 7.17, vol: 0.0042 },
  { code: 'PLN', name: 'Zloty', symbol: 'zł', minorUnits: 2, perUsd: 4.1, vol: 0.0055 },
  { code: 'CZK', name: 'Czech Koruna', symbol: 'Kč', minorUnits: 2, perUsd: 24.21, vol: 0.005 },
  { code: 'SGD', name: 'Singapore Dollar', symbol: 'S$', minorUnits: 2, perUsd: 1.3625, vol: 0.0028 },
  { code: 'INR', name: 'Indian Rupee', symbol: '₹', minorUnits: 2, perUsd: 85.62, vol: 0.0024 },
  { code: 'KWD', name: 'Kuwaiti Dinar', symbol: 'KD', minorUnits: 3, perUsd: 0.3084, vol: 0.0009 },
  { code: 'BRL', name: 'Brazilian Real', symbol: 'R$', minorUnits: 2, perUsd: 6.18, vol: 0.0089 },
  { code: 'MXN', name: 'Mexican Peso', symbol: 'MX$', minorUnits: 2, perUsd: 20.83, vol: 0.0078 },
  { code: 'CNY', name: 'Yuan Renminbi', symbol: '¥', minorUnits: 2, perUsd: 7.299, vol: 0.0019 },
  { code: 'HKD', name: 'Hong Kong Dollar', symbol: 'HK$', minorUnits: 2, perUsd: 7.768, vol: 0.0004 },
  { code: 'ZAR', name: 'Rand', symbol: 'R', minorUnits: 2, perUsd: 18.87, vol: 0.0083 },
  // Replaced by the euro in 2023: kept, inactive, as real reference tables are.
  { code: 'HRK', name: 'Kuna', symbol: 'kn', minorUnits: 2, perUsd: 7.242, vol: 0, isActive: false },
];

export interface OrganizationSpec {
  slug: string;
  name: string;
  base: string;
  fiscalYearStartMonth: number;
  /** Currencies it invoices in besides its base; one FX bank account and one rate series each. */
  foreign: string[];
  /** Share of the synthetic volume. */
  weight: number;
  /** Standard sales tax / VAT rate on invoice lines. */
  taxRate: string;
  taxIdPattern: (n: number) => string;
  emailDomain: string;
}

const digits = (n: number, width: number) => String(n).padStart(width, '0').slice(-width);

export const ORGANIZATIONS: OrganizationSpec[] = [
  {
    slug: 'astro-holdings',
    name: 'AstroFinance Holdings Inc.',
    base: 'USD',
    fiscalYearStartMonth: 1,
    foreign: ['EUR', 'GBP', 'CAD', 'MXN'],
    weight: 0.34,
    taxRate: '0.0825',
    taxIdPattern: (n) => `${digits(n, 2)}-${digits(n * 7919, 7)}`,
    emailDomain: 'astrofinance.example',
  },
  {
    slug: 'lumen-retail',
    name: 'Lumen Retail GmbH',
    base: 'EUR',
    fiscalYearStartMonth: 1,
    foreign: ['USD', 'GBP', 'PLN', 'CZK'],
    weight: 0.2,
    taxRate: '0.1900',
    taxIdPattern: (n) => `DE${digits(n * 104729, 9)}`,
    emailDomain: 'lumen-retail.example',
  },
  {
    slug: 'nordlys-consulting',
    name: 'Nordlys Consulting AS',
    base: 'NOK',
    fiscalYearStartMonth: 1,
    foreign: ['EUR', 'SEK', 'DKK', 'USD'],
    weight: 0.18,
    taxRate: '0.2500',
    taxIdPattern: (n) => `NO${digits(n * 15485863, 9)}MVA`,
    emailDomain: 'nordlys.example',
  },
  {
    slug: 'kestrel-logistics',
    name: 'Kestrel Logistics Ltd',
    base: 'GBP',
    fiscalYearStartMonth: 4,
    foreign: ['EUR', 'USD', 'JPY', 'SGD'],
    weight: 0.16,
    taxRate: '0.2000',
    taxIdPattern: (n) => `GB${digits(n * 32452843, 9)}`,
    emailDomain: 'kestrel-logistics.example',
  },
  {
    slug: 'helvetia-praezision',
    name: 'Helvetia Präzision AG',
    base: 'CHF',
    fiscalYearStartMonth: 7,
    foreign: ['EUR', 'USD'],
    weight: 0.12,
    taxRate: '0.0810',
    taxIdPattern: (n) => `CHE-${digits(n * 49979687, 9).replace(/(\d{3})(\d{3})(\d{3})/, '$1.$2.$3')} MWST`,
    emailDomain: 'helvetia-praezision.example',
  },
];

/**
 * Pools the bulk generator picks accounts from: `ar`, `tax`, `bank` (the operating account) and the
 * debit/credit pools of each journal source.
 */
export type AccountPool = 'ar' | 'tax' | 'bank' | 'manual_dr' | 'manual_cr' | 'system_dr' | 'system_cr' | 'fx_dr' | 'ob_dr' | 'ob_cr';

export interface AccountSpec {
  code: string;
  name: string;
  type: 'ASSET' | 'LIABILITY' | 'EQUITY' | 'REVENUE' | 'EXPENSE';
  parent?: string;
  header?: boolean;
  archived?: boolean;
  description?: string;
  pools?: AccountPool[];
}

/** A small but complete chart of accounts; `{fx}` accounts are expanded once per foreign currency. */
export const CHART: AccountSpec[] = [
  { code: '1000', name: 'Assets', type: 'ASSET', header: true },
  { code: '1100', name: 'Cash and cash equivalents', type: 'ASSET', parent: '1000', header: true },
  { code: '1110', name: 'Operating bank account', type: 'ASSET', parent: '1100', pools: ['bank', 'manual_cr', 'ob_dr'] },
  { code: '1120', name: 'Payroll bank account', type: 'ASSET', parent: '1100', pools: ['manual_cr'] },
  { code: '1130', name: 'Petty cash', type: 'ASSET', parent: '1100', pools: ['manual_cr'] },
  { code: '1200', name: 'Accounts receivable', type: 'ASSET', parent: '1000', pools: ['ar', 'ob_dr'] },
  { code: '1300', name: 'Prepaid expenses', type: 'ASSET', parent: '1000', pools: ['manual_dr'] },
  { code: '1400', name: 'Inventory', type: 'ASSET', parent: '1000', pools: ['manual_dr', 'ob_dr'] },
  { code: '1500', name: 'Fixed assets', type: 'ASSET', parent: '1000', header: true },
  { code: '1510', name: 'Office equipment', type: 'ASSET', parent: '1500', pools: ['manual_dr', 'ob_dr'] },
  { code: '1520', name: 'Computer equipment', type: 'ASSET', parent: '1500', pools: ['manual_dr', 'ob_dr'] },
  { code: '1530', name: 'Vehicles', type: 'ASSET', parent: '1500', pools: ['ob_dr'] },
  {
    code: '1590',
    name: 'Accumulated depreciation',
    type: 'ASSET',
    parent: '1500',
    description: 'Contra-asset: credited by the monthly depreciation run.',
    pools: ['system_cr', 'ob_cr'],
  },
  { code: '2000', name: 'Liabilities', type: 'LIABILITY', header: true },
  { code: '2100', name: 'Accounts payable', type: 'LIABILITY', parent: '2000', pools: ['manual_cr', 'ob_cr'] },
  { code: '2200', name: 'Sales tax / VAT payable', type: 'LIABILITY', parent: '2000', pools: ['tax'] },
  { code: '2300', name: 'Accrued liabilities', type: 'LIABILITY', parent: '2000', pools: ['manual_cr', 'system_cr'] },
  { code: '2400', name: 'Payroll liabilities', type: 'LIABILITY', parent: '2000', pools: ['manual_cr', 'system_cr'] },
  { code: '2500', name: 'Short-term loans', type: 'LIABILITY', parent: '2000', pools: ['ob_cr'] },
  { code: '2600', name: 'Deferred revenue', type: 'LIABILITY', parent: '2000' },
  { code: '3000', name: 'Equity', type: 'EQUITY', header: true },
  { code: '3100', name: 'Share capital', type: 'EQUITY', parent: '3000', pools: ['ob_cr'] },
  { code: '3200', name: 'Retained earnings', type: 'EQUITY', parent: '3000', pools: ['ob_cr'] },
  { code: '4000', name: 'Revenue', type: 'REVENUE', header: true },
  { code: '4100', name: 'Consulting revenue', type: 'REVENUE', parent: '4000' },
  { code: '4200', name: 'Subscription revenue', type: 'REVENUE', parent: '4000' },
  { code: '4300', name: 'Product sales', type: 'REVENUE', parent: '4000' },
  { code: '4400', name: 'Support and maintenance', type: 'REVENUE', parent: '4000' },
  { code: '4500', name: 'Training services', type: 'REVENUE', parent: '4000' },
  {
    code: '4600',
    name: 'Legacy hardware sales',
    type: 'REVENUE',
    parent: '4000',
    archived: true,
    description: 'Discontinued product line; kept for historical reporting.',
  },
  { code: '4900', name: 'Other income', type: 'REVENUE', parent: '4000' },
  { code: '5000', name: 'Expenses', type: 'EXPENSE', header: true },
  { code: '5100', name: 'Cost of goods sold', type: 'EXPENSE', parent: '5000', pools: ['manual_dr'] },
  { code: '5200', name: 'Salaries and wages', type: 'EXPENSE', parent: '5000', pools: ['manual_dr', 'system_dr'] },
  { code: '5300', name: 'Rent', type: 'EXPENSE', parent: '5000', pools: ['manual_dr', 'system_dr'] },
  { code: '5400', name: 'Utilities', type: 'EXPENSE', parent: '5000', pools: ['manual_dr'] },
  { code: '5500', name: 'Software and hosting', type: 'EXPENSE', parent: '5000', pools: ['manual_dr'] },
  { code: '5600', name: 'Travel', type: 'EXPENSE', parent: '5000', pools: ['manual_dr'] },
  { code: '5700', name: 'Marketing', type: 'EXPENSE', parent: '5000', pools: ['manual_dr'] },
  { code: '5800', name: 'Professional fees', type: 'EXPENSE', parent: '5000', pools: ['manual_dr'] },
  { code: '5900', name: 'Depreciation expense', type: 'EXPENSE', parent: '5000', pools: ['system_dr'] },
  { code: '5950', name: 'Bank fees', type: 'EXPENSE', parent: '5000', pools: ['manual_dr'] },
  { code: '5990', name: 'Foreign exchange losses', type: 'EXPENSE', parent: '5000', pools: ['fx_dr'] },
];

/** Foreign-currency bank accounts: 11xx codes after the fixed cash accounts, one per foreign currency. */
export const fxBankCode = (i: number) => String(1140 + i * 10);

/** What invoices sell; `revenue` is the account code credited, `usd` a list price in USD. */
export const PRODUCTS: Array<{ description: string; revenue: string; usd: number; hourly: boolean; maxQty: number }> = [
  { description: 'Senior consultant (hours)', revenue: '4100', usd: 185, hourly: true, maxQty: 40 },
  { description: 'Consultant (hours)', revenue: '4100', usd: 135, hourly: true, maxQty: 60 },
  { description: 'Project management (hours)', revenue: '4100', usd: 150, hourly: true, maxQty: 20 },
  { description: 'Solution architecture workshop', revenue: '4100', usd: 2400, hourly: false, maxQty: 2 },
  { description: 'Platform subscription, monthly', revenue: '4200', usd: 490, hourly: false, maxQty: 3 },
  { description: 'Platform subscription, annual', revenue: '4200', usd: 4900, hourly: false, maxQty: 1 },
  { description: 'Additional user seats', revenue: '4200', usd: 29, hourly: false, maxQty: 50 },
  { description: 'Hardware appliance', revenue: '4300', usd: 1290, hourly: false, maxQty: 4 },
  { description: 'Barcode scanner', revenue: '4300', usd: 240, hourly: false, maxQty: 12 },
  { description: 'Thermal labels (case of 12 rolls)', revenue: '4300', usd: 48, hourly: false, maxQty: 30 },
  { description: 'Freight and handling', revenue: '4300', usd: 75, hourly: false, maxQty: 1 },
  { description: 'Premium support, monthly', revenue: '4400', usd: 350, hourly: false, maxQty: 1 },
  { description: 'On-site support visit', revenue: '4400', usd: 680, hourly: false, maxQty: 3 },
  { description: 'Extended warranty (12 months)', revenue: '4400', usd: 199, hourly: false, maxQty: 8 },
  { description: 'Onboarding training (per seat)', revenue: '4500', usd: 95, hourly: false, maxQty: 25 },
  { description: 'Advanced reporting course', revenue: '4500', usd: 450, hourly: false, maxQty: 6 },
];

export const MANUAL_DESCRIPTIONS = [
  'Office supplies',
  'Vendor invoice',
  'Travel expense reimbursement',
  'Accrual adjustment',
  'Reclassification between accounts',
  'Prepaid insurance',
  'Cloud hosting invoice',
  'Marketing campaign costs',
  'Legal and audit fees',
  'Bank charges',
  'Inventory purchase',
  'Equipment purchase',
  'Payroll run',
  'Utilities invoice',
  'Correction of posting error',
];

export const FIRST_NAMES = [
  'Ada',
  'Amara',
  'Ben',
  'Camille',
  'Chen',
  'Daniel',
  'Elena',
  'Emeka',
  'Farah',
  'Gustav',
  'Hana',
  'Ingrid',
  'Jonas',
  'Kavya',
  'Lars',
  'Leila',
  'Marco',
  'Mei',
  'Nadia',
  'Noah',
  'Olivia',
  'Omar',
  'Priya',
  'Rafael',
  'Sakura',
  'Sofia',
  'Tomas',
  'Yusuf',
  'Zofia',
  'Erik',
];
export const LAST_NAMES = [
  'Andersen',
  'Bauer',
  'Costa',
  'Dubois',
  'Eriksen',
  'Fischer',
  'García',
  'Haddad',
  'Ito',
  'Jensen',
  'Kowalski',
  'Larsen',
  'Müller',
  'Nakamura',
  'Okafor',
  'Patel',
  'Rossi',
  'Schmidt',
  'Tanaka',
  'Usman',
  'Varga',
  'Wang',
  'Novák',
  'Berg',
  'Lindqvist',
];

export const COMPANY_WORDS = [
  'Blue',
  'Harbor',
  'Summit',
  'Granite',
  'Aurora',
  'Cedar',
  'Vertex',
  'Pioneer',
  'Silver',
  'Maple',
  'Orbit',
  'Atlas',
  'Coral',
  'Falcon',
  'Northwind',
  'Meridian',
  'Quartz',
  'Redwood',
  'Sterling',
  'Tidal',
  'Willow',
  'Zenith',
  'Beacon',
  'Copper',
];
export const COMPANY_NOUNS = [
  'Trading',
  'Systems',
  'Logistics',
  'Foods',
  'Analytics',
  'Dynamics',
  'Labs',
  'Retail',
  'Engineering',
  'Health',
  'Media',
  'Partners',
  'Robotics',
  'Energy',
  'Textiles',
  'Outfitters',
  'Software',
  'Holdings',
];
export const COMPANY_SUFFIXES: Record<string, string[]> = {
  USD: ['Inc.', 'LLC', 'Corp.'],
  EUR: ['GmbH', 'SAS', 'B.V.', 'S.p.A.'],
  GBP: ['Ltd', 'plc'],
  NOK: ['AS', 'ASA'],
  SEK: ['AB'],
  DKK: ['ApS', 'A/S'],
  CHF: ['AG', 'GmbH', 'SA'],
  CAD: ['Inc.', 'Ltd'],
  MXN: ['S.A. de C.V.'],
  PLN: ['Sp. z o.o.'],
  CZK: ['s.r.o.'],
  JPY: ['K.K.'],
  SGD: ['Pte. Ltd.'],
};
