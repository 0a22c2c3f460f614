/**
 * Comparing a setting as postgresql.conf writes it (`64MB`, `500ms`, `on`) with what pg_settings reports
 * (a number in the setting's own unit, `8kB` blocks or `s`, and `on`/`off`). Pure. PostgreSQL has no function
 * that parses a value without setting it, so the units are converted here, the way guc.c does: memory units are
 * powers of 1024, a bare number is in the setting's unit, and integers are rounded to that unit.
 */

export type VarType = 'bool' | 'enum' | 'integer' | 'real' | 'string';

/** One setting as the server reports it. `known: false`: absent from pg_settings (a module's setting whose module is not loaded). */
export interface ServerSetting {
  name: string;
  known: boolean;
  /** pg_settings.setting (in `unit`), or the placeholder's text when unknown. */
  setting: string;
  /** current_setting(): how SHOW prints it, with its unit (`128MB`). */
  shown: string;
  unit: string | null;
  vartype: VarType;
  /** postmaster: takes effect only at a restart. */
  context: string;
  pendingRestart: boolean;
  sourcefile: string | null;
  sourceline: number | null;
}

const MEMORY: Record<string, number> = { B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };
const TIME_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 };
const VALUE = /^\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*([a-zA-Z]+)?\s*$/;
const TRUE = new Set(['on', 'true', 'yes', '1', 't', 'y']);
const FALSE = new Set(['off', 'false', 'no', '0', 'f', 'n']);

/** Whether a boolean setting's value is on, however PostgreSQL spells it (on, true, yes, 1, t, y). */
export const settingIsOn = (v: string | null | undefined): boolean => v !== null && v !== undefined && TRUE.has(v.trim().toLowerCase());

/** The size of one unit of a setting: `8kB` → 8192 bytes, `s` → 1000 ms; the kind says which scale. */
function unitScale(unit: string | null): { kind: 'memory' | 'time'; size: number } | undefined {
  if (!unit) return undefined;
  const m = /^(\d+)?\s*([a-zA-Z]+)$/.exec(unit);
  if (!m) return undefined;
  const n = m[1] ? Number(m[1]) : 1;
  if (m[2]! in MEMORY) return { kind: 'memory', size: n * MEMORY[m[2]!]! };
  if (m[2]! in TIME_MS) return { kind: 'time', size: n * TIME_MS[m[2]!]! };
  return undefined;
}

/** A wanted value in the setting's terms: a number in its unit, or normalized text; undefined when it cannot be one. */
export function normalize(value: string, s: Pick<ServerSetting, 'vartype' | 'unit'>): number | string | undefined {
  const text = value.trim();
  switch (s.vartype) {
    case 'bool': {
      const v = text.toLowerCase();
      return TRUE.has(v) ? 'on' : FALSE.has(v) ? 'off' : undefined;
    }
    case 'enum':
      return text.toLowerCase();
    case 'string':
      return text;
    default: {
      const m = VALUE.exec(text);
      if (!m) return undefined;
      const n = Number(m[1]);
      const scale = unitScale(s.unit);
      let inUnit = n;
      if (m[2]) {
        if (!scale) return undefined;
        const table = scale.kind === 'memory' ? MEMORY : TIME_MS;
        const factor = table[m[2]];
        if (factor === undefined) return undefined;
        // -1 and 0 are usually "off"/"automatic" and carry no unit in practice; scaled like any value anyway.
        inUnit = (n * factor) / scale.size;
      }
      return s.vartype === 'integer' ? Math.round(inUnit) : inUnit;
    }
  }
}

/** Whether the server's value is the wanted one; undefined when the wanted text is not a valid value of that type. */
export function sameValue(wanted: string, s: ServerSetting): boolean | undefined {
  if (!s.known) return wanted.trim() === s.setting.trim();
  const w = normalize(wanted, s);
  if (w === undefined) return undefined;
  const have = normalize(s.setting, { vartype: s.vartype, unit: null });
  if (typeof w === 'number' && typeof have === 'number') return Math.abs(w - have) <= 1e-9 * Math.max(1, Math.abs(w));
  return w === have;
}

/** `a, "b",c` → [a, b, c]: the list a GUC_LIST setting (shared_preload_libraries) holds. */
export const listOf = (text: string): string[] =>
  text
    .split(',')
    .map((x) => x.trim().replace(/^"(.*)"$/, '$1'))
    .filter((x) => x.length > 0);

/** Bytes as postgresql.conf writes them: the largest unit that keeps the value whole (kB at least, rounded down). */
export function memoryText(bytes: number): string {
  for (const unit of ['TB', 'GB', 'MB'] as const) if (bytes >= MEMORY[unit]! && bytes % MEMORY[unit]! === 0) return `${bytes / MEMORY[unit]!}${unit}`;
  return `${Math.floor(bytes / 1024)}kB`;
}
