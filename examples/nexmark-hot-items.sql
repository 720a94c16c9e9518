-- Nexmark-style "hot items": auctions with at least 3 bids in a 10-second window sliding every 2 seconds
-- (Nexmark Q5 counts bids per auction over a sliding window; its "the hottest one" step would need a
-- second job keyed by window, so this keeps every auction above a threshold instead).
--   npx shardflow dev examples/nexmark-hot-items.sql --no-demo
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

CREATE TABLE hot_items WITH ('connector' = 'dynamodb', 'table-name' = 'nexmark-hot-items');

INSERT INTO hot_items
SELECT
  auction,
  HOP_END(dateTime, INTERVAL '2' SECOND, INTERVAL '10' SECOND) AS window_end,
  COUNT(*)                 AS bids,
  COUNT(DISTINCT bidder)   AS bidders,
  MAX(price)               AS top_price
FROM bids
GROUP BY auction, HOP(dateTime, INTERVAL '2' SECOND, INTERVAL '10' SECOND)
HAVING COUNT(*) >= 3;
