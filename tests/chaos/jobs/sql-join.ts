/**
 * Chaos job in SQL: the join kind's interval join (each click with every impression of its user at
 * [t − 2 s, t + 1 s]) as Flink SQL, compiled by compileSql — two source stages, each side filtered and
 * keyed before the shuffle, a two-input keyed stage, a DynamoDB sink. It has the join kind's sources and
 * producers; its pairs are checked the same way, and it writes no windows.
 * `userId` and `clicks` are NOT NULL and read on both sides, so a record without a user or with clicks that
 * are not a number is dead-lettered in its source stage, as the DataStream job's check does; the flush
 * events (`flush = TRUE`) move the watermark and join nothing.
 */
import { compileSql } from 'shardflow';
import { IDLE_AFTER_MS, JOIN_LOWER_MS, JOIN_UPPER_MS, namesOf, OUT_OF_ORDERNESS_MS, SOURCE_SHARDS } from './settings';

const n = namesOf('sql-join');
const [clicks, impressions] = n.sources as [string, string];
const seconds = (ms: number): string => `INTERVAL '${ms / 1000}' SECOND`;
const table = (name: string, stream: string): string => `
CREATE TABLE ${name} (
  userId STRING NOT NULL, clicks INT NOT NULL, ts TIMESTAMP(3), id STRING, flush BOOLEAN,
  WATERMARK FOR ts AS ts - ${seconds(OUT_OF_ORDERNESS_MS)}
) WITH ('connector' = 'kinesis', 'stream' = '${stream}', 'shards' = '${SOURCE_SHARDS}');`;

export default compileSql(`
SET 'pipeline.name' = '${n.job}';
SET 'table.exec.source.idle-timeout' = '${IDLE_AFTER_MS / 1000} s';
${table('clicks', clicks)}
${table('impressions', impressions)}
CREATE TABLE pairs WITH ('connector' = 'dynamodb', 'table-name' = '${n.results}');

INSERT INTO pairs
SELECT c.userId, c.id AS clickId, i.id AS impressionId, c.ts AS clickTs, i.ts AS impressionTs, c.clicks,
  CASE WHEN c.ts > i.ts THEN c.ts ELSE i.ts END AS at, i.clicks AS impressionClicks
FROM clicks c JOIN impressions i
  ON c.userId = i.userId AND i.ts BETWEEN c.ts - ${seconds(-JOIN_LOWER_MS)} AND c.ts + ${seconds(JOIN_UPPER_MS)}
WHERE c.flush IS NULL AND i.flush IS NULL;
`);
