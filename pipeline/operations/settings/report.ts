import { z } from 'zod';

/** The data of reports/settings-check.json, validated when `dbops report` reads it back. */
const Check = z.object({
  name: z.string(),
  value: z.string(),
  source: z.string(),
  writer: z.enum(['settings', 'pitr']),
  advice: z.object({ name: z.string(), value: z.string(), rule: z.string() }).optional(),
  status: z.enum(['ok', 'drift', 'pending-restart', 'unknown', 'invalid']),
  server: z.string().nullable(),
  restart: z.boolean(),
  problem: z.string().optional(),
  fix: z.string().optional(),
});

export const SettingsCheckData = z.object({
  database: z.string(),
  environment: z.string(),
  advised: z.boolean(),
  checks: z.array(Check),
  counts: z.record(z.string(), z.number()),
  notes: z.array(z.string()),
});
export type SettingsCheckData = z.output<typeof SettingsCheckData>;

export const SETTINGS_REPORT_DATA = { 'settings-check': SettingsCheckData } as const;
