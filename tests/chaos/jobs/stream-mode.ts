/**
 * A chaos job in on-demand mode: the same operators, every stream the job creates on-demand
 * (`job(name, { streamMode: 'on-demand' })`), its sources without a shard count (an on-demand stream starts
 * at 4 shards and Kinesis sets them from then on). The harness runs a share of its runs so, from a job file
 * it writes next to the run's data ({@link writeOnDemandJobFile}).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { JobDefinition, OperatorNode } from '../../../lib/api/graph';
import type { JobKind } from './settings';

/**
 * Whether a kind runs on-demand when its seed draws it: not `sliding`, whose keyed stage reads the source
 * stream (partitionedBy the key) and so gets no ticks — each shard's watermark follows its own records only. An
 * on-demand source starts at 4 shards, more than the run's few users fill, and a shard without records keeps
 * no watermark: the run's "fired up to" (the lowest over the shards), which decides which records are late,
 * would never move. Its provisioned shards each get records.
 */
export const takesOnDemand = (kind: JobKind): boolean => kind !== 'sliding';

/** The job, with `streamMode: 'on-demand'` and its sources' `shards` dropped. */
export function onDemand(definition: JobDefinition): JobDefinition {
  const withoutShards = (node: OperatorNode): OperatorNode => {
    if (node.kind !== 'source') return node;
    const { shards: _dropped, ...options } = node.source.options;
    return { ...node, source: { ...node.source, options } };
  };
  return { kind: 'shardflow-job', name: definition.name, nodes: definition.nodes.map(withoutShards), options: { ...definition.options, streamMode: 'on-demand' } };
}

/**
 * Writes `<dir>/<kind>-on-demand.ts`, a job file whose default export is the kind's job made on-demand;
 * returns its path. A file of its own (not an environment variable the kind's file reads): two runs share
 * the harness process and its module cache, and the worker bundles are built from the file.
 */
export function writeOnDemandJobFile(kindJobFile: string, dir: string): string {
  const file = path.join(dir, `${path.basename(kindJobFile, '.ts')}-on-demand.ts`);
  const from = (f: string): string => JSON.stringify(f.replace(/\.ts$/, ''));
  fs.writeFileSync(
    file,
    [
      `import { onDemand } from ${from(__filename)};`,
      `import chaosJob from ${from(kindJobFile)};`,
      `export default onDemand(chaosJob);`,
      '',
    ].join('\n'),
  );
  return file;
}
