// The protection/masking domain's public surface. The masking run itself (restore, mask, scan, install)
// is loaded only by `dbops snapshot mask`: the lint and rehearse need only the detector and the attestation.
export * from './detect.ts';
export * from './attest.ts';
import { SnapshotMaskData } from './model.ts';
export { SnapshotMaskData, type MaskRequest } from './model.ts';

export async function maskSnapshot(...args: Parameters<typeof import('./mask.ts').maskSnapshot>): ReturnType<typeof import('./mask.ts').maskSnapshot> {
  const { maskSnapshot: run } = await import('./mask.ts');
  return run(...args);
}
export { renderSnapshotMask } from './render.ts';

/** Step name → schema of its report data, for `dbops report`. */
export const MASKING_REPORT_DATA = { 'snapshot-mask': SnapshotMaskData } as const;
