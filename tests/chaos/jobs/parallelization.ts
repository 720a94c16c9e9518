/**
 * A chaos job with ParallelizationFactor P on its keyed stages that read a shuffle (key groups: concurrent
 * batches of one shard, lib/runtime/keyed/key-groups.ts). The harness draws P per seed and, when P > 1,
 * runs a job file of its own that wraps the kind's job with {@link withKeyedParallelization}: a file per P,
 * because a job file is loaded once per process and runs of several seeds share one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { JobDefinition, OperatorNode } from '../../../lib/api/graph';
import type { JobKind } from './settings';

const KEYED_KINDS: ReadonlySet<OperatorNode['kind']> = new Set(['window', 'process', 'coProcess', 'intervalJoin', 'windowJoin']);

/**
 * The job with `parallelizationFactor: p` in the settings of every keyed operator. Only for jobs whose keyed
 * stages all read a shuffle: a keyed stage on a source stream (the sliding job's) is refused above 1.
 */
export function withKeyedParallelization(job: JobDefinition, p: number): JobDefinition {
  return { ...job, nodes: job.nodes.map((n) => (KEYED_KINDS.has(n.kind) ? { ...n, settings: { ...n.settings, parallelizationFactor: p } } : n)) };
}

/** The kinds whose keyed stages read a shuffle; the sliding job keys its source stream itself. */
export const takesKeyedParallelization = (kind: JobKind): boolean => kind !== 'sliding';

/** The job file a run uses: `jobFile` itself with P = 1, else a wrapper of it written to `dir`. */
export function withKeyedParallelizationFile(root: string, jobFile: string, p: number, dir: string): string {
  if (p <= 1) return jobFile;
  const file = path.join(dir, `${path.basename(jobFile, '.ts')}-p${p}.ts`);
  const importOf = (f: string): string => JSON.stringify(f.replace(/\.ts$/, ''));
  fs.writeFileSync(file, `import job from ${importOf(jobFile)};\nimport { withKeyedParallelization } from ${importOf(path.join(root, 'tests/chaos/jobs/parallelization.ts'))};\nexport default withKeyedParallelization(job, ${p});\n`);
  return file;
}
