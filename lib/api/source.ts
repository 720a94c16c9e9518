import type { Duration } from '../time/duration';

/** Picks a record's key: a function, or the name of a field. */
export type KeySelector<T> = ((record: T) => string | number) | (keyof T & string);

/** Options of {@link kinesisSource}. */
export interface KinesisSourceOptions<T> {
  /** The record's event time in epoch ms. */
  eventTime: (record: T) => number;
  /** How far out of order events may arrive (bounded out-of-orderness). Default 0. */
  outOfOrderness?: Duration;
  /**
   * A shard with no records for this long (processing time), and none waiting to be read, stops holding the
   * watermark back; one whose reader stalls keeps holding it. Default '1m'.
   */
  idleAfter?: Duration;
  /** Declare that producers already partition the stream by this key: a keyBy with the same selector needs no shuffle. */
  partitionedBy?: KeySelector<T>;
  /** Shards of the stream (the source stage's parallelism) when shardflow creates it. Default 1. */
  shards?: number;
  /**
   * The stream exists already, made and kept outside this job: a deployment reads it but never creates
   * it, renames it per stage or deletes it on `remove`. Implied when the stream is given by its ARN.
   */
  existing?: boolean;
}

/** A source as the job graph holds it. */
export interface SourceSpec<T = unknown> {
  readonly kind: 'kinesis';
  readonly stream: string;
  readonly options: KinesisSourceOptions<T>;
}

/**
 * A Kinesis stream of JSON records, by name, or by ARN for a stream that exists already (`existing`).
 * @example kinesisSource<Click>('clicks', { eventTime: c => c.ts, outOfOrderness: '2s', idleAfter: '10s' })
 * @example kinesisSource<Order>('arn:aws:kinesis:eu-west-1:123456789012:stream/orders', { eventTime: o => o.ts })
 */
export function kinesisSource<T>(stream: string, options: KinesisSourceOptions<T>): SourceSpec<T> {
  return { kind: 'kinesis', stream, options };
}

/** A Kinesis stream ARN; the stream's name is the last part. */
export const STREAM_ARN = /^arn:aws[a-z-]*:kinesis:[a-z0-9-]+:\d{12}:stream\/([^/]+)$/;

/** The stream's name, from its name or its ARN. */
export const streamNameOf = (stream: string): string => STREAM_ARN.exec(stream)?.[1] ?? stream;

/** Whether the job reads a stream that exists without it (given by ARN, or declared `existing`). */
export const attachesToExisting = (source: SourceSpec): boolean => source.options.existing === true || STREAM_ARN.test(source.stream);

/** The key of a record as a string (keys are strings in state and sinks). */
export function selectKey<T>(selector: KeySelector<T>, record: T): string {
  const key = typeof selector === 'function' ? selector(record) : (record as Record<string, unknown>)[selector];
  if (typeof key === 'string') return key;
  if (typeof key === 'number' && Number.isFinite(key)) return String(key);
  throw new TypeError(`the key is ${key === undefined ? 'missing' : `not a string or number (${JSON.stringify(key)})`}`);
}
