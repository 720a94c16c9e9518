/**
 * A chaos job whose keyed stages that read a shuffle keep K key groups per shard at ParallelizationFactor P
 * (concurrent batches of one shard, lib/runtime/keyed/key-groups.ts). The harness draws K per seed and, in
 * a run with a restart, a factor before and after it: the job file is then changed at the restart, as an
 * upgrade would change it. Each is a job file of its own that wraps the kind's job with
 * {@link withKeyGroups}: a file per (K, P), because a job file is loaded once per process and runs of
 * several seeds share one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { JobDefinition, OperatorNode } from '../../../lib/api/graph';
import type { JobKind } from './settings';

const KEYED_KINDS: ReadonlySet<OperatorNode['kind']> = new Set(['window', 'process', 'coProcess', 'intervalJoin', 'windowJoin']);

/** Key groups and the factor of a run's keyed stages. */
export interface KeyedParallelism {
  readonly keyGroups: number;
  readonly parallelizationFactor: number;
}

/**
 * The job with `keyGroups` and `parallelizationFactor` in the settings of every keyed operator. Only for
 * jobs whose keyed stages all read a shuffle: a keyed stage on a source stream (the sliding job's) is refused.
 */
export function withKeyGroups(job: JobDefinition, settings: KeyedParallelism): JobDefinition {
  return { ...job, nodes: job.nodes.map((n) => (KEYED_KINDS.has(n.kind) ? { ...n, settings: { ...n.settings, ...settings } } : n)) };
}

/** The kinds whose keyed stages read a shuffle; the sliding job keys its source stream itself. */
export const takesKeyGroups = (kind: JobKind): boolean => kind !== 'sliding';

/** The job file a run uses: `jobFile` itself with one key group, else a wrapper of it written to `dir`. */
export function withKeyGroupsFile(root: string, jobFile: string, settings: KeyedParallelism, dir: string): string {
  if (settings.keyGroups <= 1) return jobFile;
  const file = path.join(dir, `${path.basename(jobFile, '.ts')}-k${settings.keyGroups}p${settings.parallelizationFactor}.ts`);
  const importOf = (f: string): string => JSON.stringify(f.replace(/\.ts$/, ''));
  fs.writeFileSync(file, `import job from ${importOf(jobFile)};\nimport { withKeyGroups } from ${importOf(path.join(root, 'tests/chaos/jobs/parallelization.ts'))};\nexport default withKeyGroups(job, ${JSON.stringify(settings)});\n`);
  return file;
}
