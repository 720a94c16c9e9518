-- Nexmark Q7-style "highest bid": the highest price bid in each 10-second tumbling window, over all
-- auctions (the result's key is 'all'), written with Flink's window table-valued function.
--   npx shardflow dev examples/nexmark-highest-bid.sql --no-demo
--   node bin/run-ts.js examples/nexmark-bids.ts --count 5000 > /tmp/bids.jsonl
--   npx shardflow push bids --file /tmp/bids.jsonl
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

CREATE TABLE highest_bids WITH ('connector' = 'dynamodb', 'table-name' = 'nexmark-highest-bids');

INSERT INTO highest_bids
SELECT window_start, window_end, MAX(price) AS price, COUNT(*) AS bids, AVG(price) AS avg_price
FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
WHERE channel <> 'test'
GROUP BY window_start, window_end;
