/** `npm run bundle [-- JOB]`: the function bundles of a job (default: the clicks example), with their sizes. */
import * as path from 'node:path';
import { bundleFunctions } from '../infra/bundle';

async function main(): Promise<void> {
  const job = process.argv[2] ?? 'examples/click-counts.ts';
  const out = path.join('.build', path.basename(job).replace(/\.[^.]+$/, ''));
  const started = Date.now();
  const b = await bundleFunctions(job, out);
  const kb = (n: number): string => `${(n / 1024).toFixed(0)} KiB`;
  console.log(`bundled ${job} in ${Date.now() - started} ms → ${out}/`);
  console.log(`  operator.js   ${kb(b.bytes.operator)}`);
  console.log(`  watermark.js  ${kb(b.bytes.watermark)}`);
}

main().catch((e) => {
  console.error(`build: ${e instanceof Error ? e.message : e}`);
  process.exitCode = 1;
});
