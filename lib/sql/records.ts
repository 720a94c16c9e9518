/**
 * How a Kinesis table's JSON records are read: one source per stream in a job, the event time of its
 * WATERMARK column, and the columns a query uses as their declared types (projection pushdown).
 */
import type { DataStream, JobBuilder } from '../api/builder';
import { kinesisSource, type KinesisSourceOptions } from '../api/source';
import type { SourceTable } from './query';
import { decodeValue, RowError, timestampMs, type Column, type SqlValue } from './types';

const sources = new WeakMap<JobBuilder, Map<string, { readonly table: string; readonly records: DataStream<unknown> }>>();

/**
 * A table's records in a job. A job reads each Kinesis stream once: every part of a query that reads the
 * table (both sides of a self-join, a side and its aggregating subquery) shares one source, its records
 * fanned out to each.
 */
export function tableRecords(builder: JobBuilder, table: SourceTable): DataStream<unknown> {
  let byStream = sources.get(builder);
  if (!byStream) sources.set(builder, (byStream = new Map()));
  const known = byStream.get(table.stream);
  // Two tables on one stream are refused where the query names them (joins.ts).
  if (known && known.table !== table.name) throw new Error(`unreachable: the tables ${known.table} and ${table.name} both read the stream ${table.stream}`);
  if (known) return known.records;
  const records = builder.source(kinesisSource<unknown>(table.stream, kinesisSourceOptions(table)));
  byStream.set(table.stream, { table: table.name, records });
  return records;
}

/** The source options of a table: its event time and out-of-orderness, idleness and shard count. */
export function kinesisSourceOptions(source: SourceTable): KinesisSourceOptions<unknown> {
  const rowtime = source.rowtime?.column;
  const eventTime = rowtime
    ? (record: unknown): number => {
        if (typeof record !== 'object' || record === null || Array.isArray(record)) throw new RowError('the record is not a JSON object');
        const value = (record as Record<string, unknown>)[rowtime];
        const ms = timestampMs(value);
        if (ms === undefined) {
          throw new RowError(`the event-time column '${rowtime}' is ${value === undefined ? 'missing' : `${JSON.stringify(value)}, not a timestamp (epoch ms or ISO-8601)`}`);
        }
        return ms;
      }
    : // Without a WATERMARK a table has no event time: only queries without windows read it.
      (): number => 0;
  return {
    eventTime,
    outOfOrderness: source.rowtime?.outOfOrdernessMs ?? 0,
    ...(source.idleAfterMs !== undefined && { idleAfter: source.idleAfterMs }),
    ...(source.shards !== undefined && { shards: source.shards }),
  };
}

/** Reads these columns from a JSON record, as their declared types. */
export function readColumns(columns: readonly Column[]): (record: unknown) => Record<string, SqlValue> {
  return (record) => {
    if (typeof record !== 'object' || record === null || Array.isArray(record)) throw new RowError('the record is not a JSON object');
    const fields = record as Record<string, unknown>;
    const row: Record<string, SqlValue> = {};
    for (const c of columns) row[c.name] = decodeValue(c, fields[c.name]);
    return row;
  };
}
