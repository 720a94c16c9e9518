import type { Duration } from '../time/duration';

/** Picks a record's key: a function, or the name of a field. */
export type KeySelector<T> = ((record: T) => string | number) | (keyof T & string);

/** Options of {@link kinesisSource}. */
export interface KinesisSourceOptions<T> {
  /** The record's event time in epoch ms. */
  eventTime: (record: T) => number;
  /** How far out of order events may arrive (bounded out-of-orderness). Default 0. */
  outOfOrderness?: Duration;
  /** A shard with no records for this long (processing time) stops holding the watermark back. Default '1m'. */
  idleAfter?: Duration;
  /** Declare that producers already partition the stream by this key: a keyBy with the same selector needs no shuffle. */
  partitionedBy?: KeySelector<T>;
  /** Shards of the stream (the source stage's parallelism) when shardflow creates it. Default 1. */
  shards?: number;
}

/** A source as the job graph holds it. */
export interface SourceSpec<T = unknown> {
  readonly kind: 'kinesis';
  readonly stream: string;
  readonly options: KinesisSourceOptions<T>;
}

/**
 * A Kinesis stream of JSON records.
 * @example kinesisSource<Click>('clicks', { eventTime: c => c.ts, outOfOrderness: '2s', idleAfter: '10s' })
 */
export function kinesisSource<T>(stream: string, options: KinesisSourceOptions<T>): SourceSpec<T> {
  return { kind: 'kinesis', stream, options };
}

/** The key of a record as a string (keys are strings in state and sinks). */
export function selectKey<T>(selector: KeySelector<T>, record: T): string {
  const key = typeof selector === 'function' ? selector(record) : (record as Record<string, unknown>)[selector];
  if (typeof key === 'string') return key;
  if (typeof key === 'number' && Number.isFinite(key)) return String(key);
  throw new TypeError(`the key is ${key === undefined ? 'missing' : `not a string or number (${JSON.stringify(key)})`}`);
}
