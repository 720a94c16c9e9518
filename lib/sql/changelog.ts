/**
 * Changelog semantics, as Flink's planner has them: a query's output is append-only (every row an insert,
 * never changed) or updating (rows are inserted, updated and deleted by a unique key). A windowed
 * aggregation is append-only; a GROUP BY without a window, a Top-N or a deduplication is updating, and so is
 * an outer join (+I, -D: a row sent with NULLs is deleted when its match comes), without a unique key.
 *
 * How a sink honours it: a DynamoDB sink **upserts** by the unique key (the item's `key` is the key's
 * values, so an update overwrites the row; a deletion leaves a tombstone, the row with `op = '-D'`); a
 * Kinesis or print sink receives the whole **retract** changelog, each record with its change kind in `op`
 * (Flink's RowKind short strings `+I`, `-U`, `+U`, `-D`), partitioned by the unique key so that a key's
 * changes stay in order on one shard.
 */
import type { JobDefinition } from '../api/graph';
import type { SinkSpec } from '../api/sink';

/** Flink's RowKind, by its short string: insert, update before, update after, delete. */
export type RowKind = '+I' | '-U' | '+U' | '-D';

/** The field of an updating query's records that holds the change kind. */
export const CHANGE_KIND_FIELD = 'op';

/** What a compiled query writes. */
export interface Changelog {
  readonly mode: 'append-only' | 'updating';
  /** The change kinds the query can produce (a DynamoDB sink never receives `-U`). */
  readonly kinds: readonly RowKind[];
  /** What identifies a row, as the query wrote it (GROUP BY keys, window bounds, PARTITION BY keys, the rank); empty: nothing. */
  readonly uniqueKey: readonly string[];
  /** The sink's kind of consumer: 'upsert' (DynamoDB) or 'retract' (Kinesis, print). */
  readonly sink: 'upsert' | 'retract';
}

const changelogs = new WeakMap<JobDefinition, Changelog>();

/** The job with its changelog remembered, for {@link changelogOf}. */
export function withChangelog(job: JobDefinition, changelog: Changelog): JobDefinition {
  changelogs.set(job, changelog);
  return job;
}

/** The changelog of a job compiled from SQL or the Table API; undefined for a DataStream job. */
export const changelogOf = (job: JobDefinition): Changelog | undefined => changelogs.get(job);

/** One line for `shardflow plan`: the mode, its change kinds, the unique key and what the sink does with it. */
export function describeChangelog(c: Changelog): string {
  const key = c.uniqueKey.length > 0 ? `unique key (${c.uniqueKey.join(', ')})` : 'no unique key';
  if (c.mode === 'append-only') return `changelog: append-only [+I], ${key}`;
  const kinds = c.sink === 'upsert' ? c.kinds.filter((k) => k !== '-U') : c.kinds;
  const written = c.sink === 'upsert' ? 'the DynamoDB sink upserts by it (a deletion leaves the row with op = -D)' : "each record's op field is its change kind";
  return `changelog: updating [${kinds.join(', ')}], ${key}: ${written}`;
}

/** An updating query's sink: a DynamoDB table keyed by each record's unique key (its `key`); other sinks as they are. */
export function upsertSink(sink: SinkSpec): SinkSpec {
  return sink.kind === 'dynamodb' ? { ...sink, options: { ...sink.options, key: (r) => String(r.key) } } : sink;
}

/**
 * What a row going from `before` to `after` (null: absent) sends downstream: nothing when it did not
 * change; `-U` is left out for an upsert sink, which needs only the new row.
 */
export function rowChanges<R>(before: R | null, after: R | null, same: (a: R, b: R) => boolean, upsert: boolean): { op: RowKind; row: R }[] {
  if (before === null) return after === null ? [] : [{ op: '+I', row: after }];
  if (after === null) return [{ op: '-D', row: before }];
  if (same(before, after)) return [];
  return upsert ? [{ op: '+U', row: after }] : [{ op: '-U', row: before }, { op: '+U', row: after }];
}
