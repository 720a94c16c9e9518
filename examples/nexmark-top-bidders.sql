-- The 3 most active bidders of each channel, kept up to date as bids come: a GROUP BY without a window
-- (continuous, updating) ranked by a Top-N. The DynamoDB table holds one item per (channel, rank),
-- overwritten as the ranking changes (`shardflow plan` says: updating, unique key (channel, rn)).
--   npx shardflow dev examples/nexmark-top-bidders.sql --no-demo
--   node bin/run-ts.js examples/nexmark-bids.ts --count 5000 > /tmp/bids.jsonl
--   npx shardflow push bids --file /tmp/bids.jsonl
--   npx shardflow tail nexmark-top-bidders
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

CREATE TABLE top_bidders WITH ('connector' = 'dynamodb', 'table-name' = 'nexmark-top-bidders');

-- A bidder's count is forgotten after an hour (event time) without a bid.
SET 'table.exec.state.ttl' = '1 h';

CREATE VIEW bidder_counts AS
SELECT channel, bidder, COUNT(*) AS bids, MAX(price) AS top_price
FROM bids
WHERE channel <> 'test'
GROUP BY channel, bidder;

INSERT INTO top_bidders
SELECT channel, bidder, bids, top_price, rn
FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY channel ORDER BY bids DESC, top_price DESC, bidder) AS rn FROM bidder_counts)
WHERE rn <= 3;
