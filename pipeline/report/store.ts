import type { z } from 'zod';
import { parseEnvelope, readEnvelopes, type LoadedReport } from '../core/envelope.ts';
import type { ReportEnvelope } from '../core/result.ts';
import { REPORT_DATA } from './schema.ts';

export type { LoadedReport };

/** Parses and validates one report file: the envelope, then the step's data schema when the step is known. */
export function parseReport(file: string, text: string, expectedStep?: string): ReportEnvelope {
  return parseEnvelope(file, text, expectedStep, schemaOf);
}

/** Reads every `<step>.json` of the given steps that exists in `dir`, in the order given, each validated. */
export function readReports(dir: string, steps: readonly string[]): Promise<LoadedReport[]> {
  return readEnvelopes(dir, steps, schemaOf);
}

const schemaOf = (step: string): z.ZodType | undefined => (REPORT_DATA as Record<string, z.ZodType | undefined>)[step];
