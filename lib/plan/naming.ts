import type { SinkSpec } from '../api/sink';
import { attachesToExisting } from '../api/source';
import { mapStageOutputs, type Plan, type Stage } from './plan';

/**
 * The suffix a deployment stage gives the job's names (infra/serverless-config.ts): `-prod` on stage
 * `prod`; none on LocalStack's `local` stage, nor for `shardflow dev` (no stage).
 */
export const stageSuffix = (stage: string | undefined): string => (stage === undefined || stage === 'local' ? '' : `-${stage}`);

/**
 * The plan with every stream and table name given a suffix (`clicks` → `clicks-prod`), so several
 * deployment stages of one job can share an AWS account. Sink names (how outputs are routed) stay, and so
 * does a source stream that exists without the job.
 * Locally the suffix is empty: names are exactly the job's.
 */
export function withNameSuffix(plan: Plan, suffix: string): Plan {
  if (!suffix) return plan;
  const n = (name: string): string => `${name}${suffix}`;
  const sink = (s: SinkSpec): SinkSpec => (s.kind === 'dynamodb' ? { ...s, table: n(s.table) } : s.kind === 'kinesis' ? { ...s, stream: n(s.stream) } : s);
  // A stream that exists without the job keeps its name on every deployment stage.
  const stage = (s: Stage): Stage => ({
    ...mapStageOutputs(s, (o) => (o.kind === 'shuffle' ? { ...o, stream: n(o.stream) } : { ...o, sink: sink(o.sink) })),
    input: s.input.kind === 'source' && attachesToExisting(s.input.source) ? s.input : { ...s.input, stream: n(s.input.stream) },
    keyed: s.keyed?.kind === 'window' && s.keyed.lateSink ? { ...s.keyed, lateSink: sink(s.keyed.lateSink) } : s.keyed,
  });
  return {
    ...plan,
    stages: plan.stages.map(stage),
    streams: plan.streams.map((s) => (s.existing ? s : { ...s, name: n(s.name) })),
    tables: plan.tables.map((t) => ({ ...t, name: n(t.name) })),
    sinks: plan.sinks.map(sink),
    stateTable: n(plan.stateTable),
    deadLetterTable: n(plan.deadLetterTable),
  };
}
