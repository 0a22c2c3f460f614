import { z } from 'zod';
import { connection, json, scale } from '../flags.ts';
import { defineCommand } from '../../cli/contract.ts';

export const SeedInputs = z.object({
  ...connection,
  ...json,
  scale: scale.default(1),
  seed: z.coerce.number().int().nonnegative().default(42).describe('random seed; the same seed and scale give the same data'),
});

export const spec = defineCommand({
  path: ['seed'],
  summary: 'load AstroFinance reference data (Prisma Client) and reproducible synthetic volume',
  examples: ['dbops seed', 'dbops seed --scale 0.1 --seed 7', 'dbops seed --database-url "$DATABASE_URL" --scale 2'],
  inputs: SeedInputs,
});
