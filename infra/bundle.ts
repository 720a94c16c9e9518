import * as fs from 'node:fs';
import * as path from 'node:path';
import { build } from 'esbuild';

const ROOT = path.resolve(__dirname, '..');

/** The function bundles of one job, as deployed to Lambda and run by the local runtime. */
export interface FunctionBundles {
  readonly dir: string;
  readonly operator: string;
  readonly watermark: string;
  readonly bytes: { readonly operator: number; readonly watermark: number };
}

/**
 * Bundles functions/operator.ts and functions/watermark.ts with the job compiled in (`shardflow-job`
 * is aliased to the job file, `shardflow` to this library): one self-contained file per function,
 * AWS SDK included so the deployed version is the tested one.
 */
export async function bundleFunctions(jobFile: string, outDir: string, options: { minify?: boolean } = {}): Promise<FunctionBundles> {
  const job = path.resolve(jobFile);
  if (!fs.existsSync(job)) throw new Error(`${jobFile}: no such job file`);
  fs.mkdirSync(outDir, { recursive: true });
  const entries = { operator: 'functions/operator.ts', watermark: 'functions/watermark.ts' } as const;
  await build({
    entryPoints: Object.fromEntries(Object.entries(entries).map(([name, file]) => [name, path.join(ROOT, file)])),
    outdir: outDir,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minify: options.minify ?? true,
    sourcemap: 'linked',
    legalComments: 'none',
    logLevel: 'error',
    alias: {
      'shardflow-job': job,
      shardflow: path.join(ROOT, 'lib/index.ts'),
      'shardflow/testing': path.join(ROOT, 'lib/testing/index.ts'),
    },
  });
  const operator = path.join(outDir, 'operator.js');
  const watermark = path.join(outDir, 'watermark.js');
  return { dir: outDir, operator, watermark, bytes: { operator: fs.statSync(operator).size, watermark: fs.statSync(watermark).size } };
}
