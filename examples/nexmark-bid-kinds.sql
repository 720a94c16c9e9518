-- Nexmark q14 with its user function written in TypeScript (examples/count-char.ts): bids over 1,000 euros,
-- their time of day, and how many 'c's their URL has.
--   npx shardflow dev examples/nexmark-bid-kinds.sql --no-demo
--   node bin/run-ts.js examples/nexmark-bids.ts --count 5000 > /tmp/bids.jsonl
--   npx shardflow push bids --file /tmp/bids.jsonl
CREATE FUNCTION count_char AS './count-char.ts';

CREATE TABLE bids (
  auction  BIGINT,
  bidder   BIGINT,
  price    BIGINT,
  channel  STRING,
  url      STRING,
  dateTime TIMESTAMP(3),
  extra    STRING,
  WATERMARK FOR dateTime AS dateTime - INTERVAL '1' SECOND
) WITH ('connector' = 'kinesis', 'stream' = 'bids', 'scan.watermark.idle-timeout' = '5 s');

CREATE TABLE bid_kinds WITH ('connector' = 'kinesis', 'stream' = 'nexmark-bid-kinds');

INSERT INTO bid_kinds
SELECT
  auction,
  bidder,
  0.908 * price AS price,
  CASE
    WHEN HOUR(dateTime) >= 8 AND HOUR(dateTime) <= 18 THEN 'dayTime'
    WHEN HOUR(dateTime) <= 6 OR HOUR(dateTime) >= 20 THEN 'nightTime'
    ELSE 'otherTime'
  END AS bidTimeType,
  dateTime,
  count_char(url, 'c') AS c_counts
FROM bids
WHERE 0.908 * price > 1000;
