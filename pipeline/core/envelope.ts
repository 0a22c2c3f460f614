import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { z } from 'zod';
import { ConfigError, EnvError } from './errors.ts';
import { ReportEnvelope } from './result.ts';

/**
 * Reading `reports/<step>.json` back: the envelope always, the step's data when the caller knows its schema
 * (`dbops report` knows every one; the gate reads the rehearsal's). A file that does not validate is named
 * with its first bad key (exit 2).
 */

export const reportFile = (dir: string, step: string) => join(dir, `${step}.json`);

export interface LoadedReport {
  file: string;
  report: ReportEnvelope;
}

const pathOf = (path: ReadonlyArray<PropertyKey>) =>
  path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), '') || '<root>';

function firstIssue(error: z.ZodError, prefix: string[] = []): string {
  const issue = error.issues[0]!;
  return `${pathOf([...prefix, ...issue.path])}: ${issue.message}`;
}

/** Parses and validates one report file: the envelope, then the step's data schema when the step is known. */
export function parseEnvelope(
  file: string,
  text: string,
  expectedStep?: string,
  dataSchema: (step: string) => z.ZodType | undefined = () => undefined,
): ReportEnvelope {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${file} is not valid JSON: ${(e as Error).message}`, { hint: 'Run the step again to rewrite it, or delete the file.' });
  }
  const hint = 'The file was not written by this version of dbops, or was edited. Run the step again to rewrite it.';
  const envelope = ReportEnvelope.safeParse(json);
  if (!envelope.success) throw new ConfigError(`${file} is not a dbops report: ${firstIssue(envelope.error)}`, { hint });
  const report = envelope.data;
  if (expectedStep && report.step !== expectedStep)
    throw new ConfigError(`${file} is not a dbops report: step: expected "${expectedStep}", found "${report.step}"`, { hint });
  const schema = dataSchema(report.step);
  // A step that threw has no data to validate; its `error` says why.
  if (schema && !(report.error && report.data === null)) {
    const data = schema.safeParse(report.data);
    if (!data.success) throw new ConfigError(`${file} is not a valid ${report.step} report: ${firstIssue(data.error, ['data'])}`, { hint });
    report.data = data.data;
  }
  return report;
}

/** Parses and validates one report file: the envelope, then its data with the schema `dataSchema` gives for its step. */
export async function readEnvelopes(
  dir: string,
  steps: readonly string[],
  dataSchema: (step: string) => z.ZodType | undefined = () => undefined,
): Promise<LoadedReport[]> {
  const loaded: LoadedReport[] = [];
  for (const step of steps) {
    const file = reportFile(dir, step);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      if ((e as NodeJS.ErrnoException).code === 'ENOTDIR')
        throw new ConfigError(`${dir} is a file, not a folder of reports.`, { hint: 'Pass the folder the steps wrote their reports into with --reports-dir.' });
      throw new EnvError(`Could not read ${file}: ${(e as Error).message}`);
    }
    loaded.push({ file, report: parseEnvelope(file, text, step, dataSchema) });
  }
  return loaded;
}
