// Types of bundle.js (plain JavaScript, see there) for the TypeScript that calls it.
export declare const CACHE: string;
export interface BundleManifest {
  recipe: number;
  node: string;
  dir: string;
  entry: string;
  builtAt: string;
  inputs: Record<string, [size: number, mtimeMs: number]>;
}
export declare function freshBundle(): BundleManifest | null;
export declare function buildBundle(): Promise<BundleManifest>;
export declare function bundleEntry(env?: NodeJS.ProcessEnv): Promise<string | null>;
