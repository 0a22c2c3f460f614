import type { z } from 'zod';
import type { StepContext } from '../../cli/contract.ts';
import type { StepResult } from '../../core/result.ts';
import { renderSeed, seedDatabase, type SeedData } from '../../seed/index.ts';
import type { SeedInputs } from './spec.ts';

/** `dbops seed` on --database-url, DATABASE_URL or the embedded cluster; the seed itself is seed/'s. */
export async function run(input: z.output<typeof SeedInputs>, ctx: StepContext): Promise<StepResult<SeedData>> {
  return seedDatabase(await ctx.database(), input, ctx);
}

export const render = renderSeed;
