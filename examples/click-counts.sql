-- The seed's "clicks per user per 5 seconds" as Flink SQL: the same stages, state and guarantees as
-- examples/click-counts.ts.  Run it:  npx shardflow dev examples/click-counts.sql
SET 'pipeline.name' = 'click-counts-sql';

CREATE TABLE clicks (
  userId STRING,
  clicks INT,
  ts     TIMESTAMP(3),               -- epoch ms or ISO-8601 in the JSON records
  WATERMARK FOR ts AS ts - INTERVAL '2' SECOND
) WITH (
  'connector' = 'kinesis',
  'stream' = 'clicks',
  'scan.watermark.idle-timeout' = '10 s'
);

CREATE TABLE click_counts (
  userId       STRING,
  window_start TIMESTAMP(3),         -- carried as the result's windowStart
  clicks       BIGINT
) WITH (
  'connector' = 'dynamodb',
  'table-name' = 'click-counts-sql'
);

INSERT INTO click_counts
SELECT userId, TUMBLE_START(ts, INTERVAL '5' SECOND), SUM(clicks)
FROM clicks
GROUP BY userId, TUMBLE(ts, INTERVAL '5' SECOND);
